"""A GeoJSON (RFC 7946) FeatureCollection of a plan over its key water.

Layers are told apart by ``properties.kind``: water, island, no_fly, hotspot,
fence, fence_circle, launch, rally, path (one LineString per sortie) and
waypoint. Positions are [lon, lat] to 1e-7 degree (the MAVLink resolution);
polygon rings are closed, exteriors counter-clockwise and holes clockwise.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import shapely
from shapely.geometry import LineString, Point, Polygon, mapping
from shapely.geometry.polygon import orient

from geofences.model import KeyWater
from mission.errors import ExportError
from mission.export._fence import fence_shapes
from mission.export._io import write_atomic
from mission.export._params import RELATIVE_FRAMES, command_name
from mission.plan import MissionPlan

DECIMALS = 7


def feature_collection(plan: MissionPlan, keywater: KeyWater) -> dict[str, Any]:
    features: list[dict[str, Any]] = []
    water = shapely.MultiPolygon([orient(p, 1.0) for p in keywater.water.geoms])
    features.append(
        _feature(
            water, kind="water", id=keywater.id, name=keywater.name, priority=keywater.priority
        )
    )
    islands = [ring for poly in keywater.water.geoms for ring in poly.interiors]
    for i, ring in enumerate(islands):
        features.append(_feature(orient(Polygon(ring), 1.0), kind="island", index=i))
    for zone in keywater.no_fly:
        features.append(_feature(orient(zone.polygon, 1.0), kind="no_fly", name=zone.name))
    for spot in keywater.hotspots:
        features.append(
            _feature(spot.geometry, kind="hotspot", name=spot.name, radius_m=spot.radius_m)
        )

    polygons, circles = fence_shapes(plan.fence)
    for i, fp in enumerate(polygons):
        ring = Polygon([(lon, lat) for lat, lon in fp.vertices])
        features.append(
            _feature(
                orient(ring, 1.0),
                kind="fence",
                index=i,
                inclusion=fp.inclusion,
                vertices=len(fp.vertices),
            )
        )
    for c in circles:
        features.append(
            _feature(
                Point(c.lon, c.lat), kind="fence_circle", inclusion=c.inclusion, radius_m=c.radius_m
            )
        )

    for i, (lat, lon, alt) in enumerate(plan.launches or (plan.home,)):
        features.append(_feature(Point(lon, lat), kind="launch", index=i, alt_amsl_m=alt))
    for u in plan.summary.unplanned:
        features.append(
            _feature(
                shapely.MultiPolygon([shapely.Polygon(r) for r in u.outlines_lonlat]),
                kind="unplanned",
                part=u.part,
                area_km2=u.area_km2,
                reason=u.reason,
            )
        )
    for i, r in enumerate(plan.rally):
        features.append(_feature(Point(r.lon, r.lat), kind="rally", index=i, alt_rel_m=r.z))

    for sortie in plan.sorties:
        if len(sortie.path_lonlat) < 2:
            raise ExportError(
                f"sortie {sortie.index}: the path has {len(sortie.path_lonlat)} point(s); "
                "a flown path needs at least 2"
            )
        features.append(
            _feature(
                LineString(sortie.path_lonlat),
                kind="path",
                sortie=sortie.index,
                launch=sortie.launch,
                length_m=sortie.length_m,
                est_flight_s=sortie.est_flight_s,
                items=len(sortie.items),
            )
        )
        for seq, item in enumerate(sortie.items):
            if seq == 0 or not item.has_position:
                continue  # item 0 is home, shown as the launch point
            features.append(
                _feature(
                    Point(item.lon, item.lat),
                    kind="waypoint",
                    sortie=sortie.index,
                    seq=seq,
                    command=int(item.command),
                    command_name=command_name(item.command),
                    alt_m=item.z,
                    alt_ref="home" if item.frame in RELATIVE_FRAMES else "amsl",
                )
            )
    return {"type": "FeatureCollection", "features": features}


def write_geojson(path: Path, plan: MissionPlan, keywater: KeyWater) -> Path:
    try:
        doc = feature_collection(plan, keywater)
    except ExportError as exc:
        raise ExportError(f"{path}: {exc}") from exc
    return write_atomic(path, json.dumps(doc, ensure_ascii=False, allow_nan=False) + "\n")


def _feature(geom: shapely.Geometry, **properties: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": _rounded(mapping(geom)), "properties": properties}


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, DECIMALS)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    return value
