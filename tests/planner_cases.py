"""Synthetic key waters for planner tests: concave lakes with islands and no-fly zones."""

from __future__ import annotations

import math
import random
from dataclasses import replace

from shapely.geometry import MultiPolygon, Point, Polygon
from shapely.ops import nearest_points

from geofences.model import KeyWater, Launch, NoFlyZone, PatrolSettings, VehicleSettings
from geofences.projection import LocalProjection

LAT0, LON0 = 29.25, 115.80  # Gongqingcheng


def synthetic_water(
    seed: int,
    radius_m: float = 500.0,
    lobes: int = 3,
    islands: int = 2,
    nofly: bool = True,
    endurance_min: float = 20.0,
    n: int = 40,
) -> KeyWater:
    """A star-shaped (concave) lake, islands well inside it, a no-fly strip across one side."""
    rnd = random.Random(seed)
    proj = LocalProjection.around(LAT0, LON0)
    cx, cy = proj.to_xy(LON0, LAT0)
    amp = rnd.uniform(0.15, 0.4)
    phase = rnd.uniform(0, math.tau)
    shell = [
        (
            cx + radius_m * (1 + amp * math.sin(lobes * a + phase)) * math.cos(a),
            cy + radius_m * (1 + amp * math.sin(lobes * a + phase)) * math.sin(a) * 0.8,
        )
        for a in (math.tau * i / n for i in range(n))
    ]
    outline = Polygon(shell)
    holes: list[Polygon] = []
    for _ in range(islands * 10):
        if len(holes) == islands:
            break
        r = rnd.uniform(20, 70)
        p = Point(cx + rnd.uniform(-0.6, 0.6) * radius_m, cy + rnd.uniform(-0.5, 0.5) * radius_m)
        island = p.buffer(r, quad_segs=4)
        if outline.buffer(-80).contains(island) and all(island.distance(h) > 60 for h in holes):
            holes.append(island)
    poly = Polygon(shell, [list(h.exterior.coords) for h in holes])
    assert poly.is_valid
    zones: tuple[NoFlyZone, ...] = ()
    if nofly:
        x = cx + rnd.uniform(-0.3, 0.3) * radius_m
        strip = Polygon(
            [
                (x - 30, cy - 2 * radius_m),
                (x + 30, cy - 2 * radius_m),
                (x + 30, cy - 0.3 * radius_m),
                (x - 30, cy - 0.3 * radius_m),
            ]
        )
        zones = (NoFlyZone("power line", proj.geom_to_lonlat(strip)),)
    # The launch on the east bank, 30 m from the water.
    far = Point(cx + 3 * radius_m, cy)
    shore = nearest_points(poly.exterior, far)[0]
    d = far.distance(shore)
    lx, ly = shore.x + (far.x - shore.x) / d * 30, shore.y + (far.y - shore.y) / d * 30
    lon, lat = proj.to_lonlat(lx, ly)
    return KeyWater(
        id=f"synthetic-{seed}",
        name=f"Synthetic lake {seed}",
        water=proj.geom_to_lonlat(MultiPolygon([poly])),
        launch=Launch(lat, lon, 20.0),
        no_fly=zones,
        patrol=PatrolSettings(altitude_m=40.0, speed_m_s=8.0),
        vehicle=VehicleSettings(endurance_min=endurance_min),
    )


def with_patrol(kw: KeyWater, **changes: object) -> KeyWater:
    return replace(kw, patrol=replace(kw.patrol, **changes))
