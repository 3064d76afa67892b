"""A key water described in figures (metric area, camera footprint...) for the CLI and reports."""

from __future__ import annotations

from typing import Any

import shapely

from geofences.model import KeyWater
from geofences.projection import LocalProjection


def describe(kw: KeyWater) -> dict[str, Any]:
    """Plain data (JSON-ready) about ``kw``, lengths in metres measured in its UTM zone."""
    centre = kw.water.centroid
    proj = LocalProjection.around(centre.y, centre.x)
    water_m = proj.geom_to_m(kw.water)
    launch_m = shapely.Point(proj.to_xy(kw.launch.lon, kw.launch.lat))
    cam = kw.patrol.camera
    alt = kw.patrol.altitude_m
    width_m, height_m = cam.footprint_m(alt)
    lon_min, lat_min, lon_max, lat_max = kw.water.bounds
    return {
        "id": kw.id,
        "name": kw.name,
        "source": kw.source,
        "sample": kw.sample,
        "priority": kw.priority,
        "utm_epsg": proj.epsg,
        "area_km2": round(water_m.area / 1e6, 4),
        "shoreline_km": round(water_m.length / 1e3, 3),
        "water_parts": len(kw.water.geoms),
        "islands": sum(len(p.interiors) for p in kw.water.geoms),
        "bounds": {"lat_min": lat_min, "lon_min": lon_min, "lat_max": lat_max, "lon_max": lon_max},
        "launch": {"lat": kw.launch.lat, "lon": kw.launch.lon, "alt_amsl_m": kw.launch.alt_amsl_m},
        "launch_to_water_m": round(float(shapely.distance(launch_m, water_m)), 1),
        "no_fly": [z.name for z in kw.no_fly],
        "hotspots": [h.name for h in kw.hotspots],
        "pattern": kw.patrol.pattern,
        "altitude_m": alt,
        "speed_m_s": kw.patrol.speed_m_s,
        "camera": cam.name,
        "footprint_m": [round(width_m, 1), round(height_m, 1)],
        "line_spacing_m": round(cam.line_spacing_m(alt, kw.patrol.side_overlap), 1),
        "gsd_cm": round(cam.gsd_m(alt) * 100, 2),
        "person_px": round(cam.person_height_px(alt), 1),
        "usable_flight_min": round(kw.vehicle.usable_s / 60.0, 1),
    }
