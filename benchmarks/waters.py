"""Generated key waters for the planner benchmark: one of each kind the planner must handle.

Each function builds a ``KeyWater`` in metres around Gongqingcheng and converts it to
lon/lat as a loaded file would be. Deterministic for a given seed.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.ops import nearest_points

from geofences.model import KeyWater, Launch, PatrolSettings, VehicleSettings
from geofences.projection import LocalProjection

LAT0, LON0 = 29.30, 115.90
LONG_ENDURANCE_MIN = 600.0  # endurance that never binds: path length alone is measured


def _proj() -> tuple[LocalProjection, float, float]:
    proj = LocalProjection.around(LAT0, LON0)
    cx, cy = proj.to_xy(LON0, LAT0)
    return proj, cx, cy


def _launch_off(proj: LocalProjection, water: Polygon, towards: Point, off_m: float) -> Launch:
    """A launch ``off_m`` outside the shore point of ``water`` nearest to ``towards``."""
    shore = nearest_points(water.exterior, towards)[0]
    d = max(towards.distance(shore), 1e-9)
    x = shore.x + (towards.x - shore.x) / d * off_m
    y = shore.y + (towards.y - shore.y) / d * off_m
    lon, lat = proj.to_lonlat(x, y)
    return Launch(lat, lon, 20.0)


def _key_water(
    kid: str,
    name: str,
    proj: LocalProjection,
    parts: list[Polygon],
    launches: list[Launch],
    endurance_min: float,
    pattern: str = "survey",
    speed_m_s: float = 8.0,
    altitude_m: float = 40.0,
) -> KeyWater:
    return KeyWater(
        id=kid,
        name=name,
        water=proj.geom_to_lonlat(MultiPolygon(parts)),
        launch=launches[0],
        extra_launches=tuple(launches[1:]),
        patrol=PatrolSettings(pattern=pattern, altitude_m=altitude_m, speed_m_s=speed_m_s),
        vehicle=VehicleSettings(endurance_min=endurance_min),
    )


def round_pond(radius_m: float = 90.0, endurance_min: float = LONG_ENDURANCE_MIN) -> KeyWater:
    """A small round pond, launch 20 m off its east bank."""
    proj, cx, cy = _proj()
    pond = Point(cx, cy).buffer(radius_m, quad_segs=16)
    launch = _launch_off(proj, pond, Point(cx + 10 * radius_m, cy), 20.0)
    return _key_water("pond", "Round pond", proj, [pond], [launch], endurance_min)


def island_lake(
    area_km2: float = 1.45, islands: int = 4, seed: int = 3, endurance_min: float = 20.0
) -> KeyWater:
    """A lobed lake with islands and a pier (a thin spit of land), launch on its east bank."""
    rnd = random.Random(seed)
    proj, cx, cy = _proj()
    n = 72
    shell = Polygon(
        [
            (
                math.cos(a) * (1 + 0.2 * math.sin(3 * a + 0.5)) * 1.4,
                math.sin(a) * (1 + 0.2 * math.sin(3 * a + 0.5)),
            )
            for a in (math.tau * i / n for i in range(n))
        ]
    )
    scale = math.sqrt(area_km2 * 1e6 / shell.area)
    shell = Polygon([(cx + x * scale, cy + y * scale) for x, y in shell.exterior.coords])
    minx, miny, maxx, maxy = shell.bounds
    pier = LineString([(cx, miny - 10), (cx, miny + 0.2 * (maxy - miny))]).buffer(4.0)
    body = shell.difference(pier)
    holes: list[Polygon] = []
    inner = body.buffer(-80)
    for _ in range(islands * 50):
        if len(holes) == islands:
            break
        p = Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy))
        isl = p.buffer(rnd.uniform(25, 70), quad_segs=5)
        if inner.contains(isl) and all(isl.distance(h) > 80 for h in holes):
            holes.append(isl)
    assert isinstance(body, Polygon)
    lake = Polygon(body.exterior.coords, [h.exterior.coords for h in holes])
    launch = _launch_off(proj, lake, Point(maxx + 1000, cy), 25.0)
    kw = _key_water("island-lake", "Lake with islands", proj, [lake], [launch], endurance_min)
    return kw


def meandering_river(
    length_m: float = 3000.0, lanes: int = 3, endurance_min: float = 20.0
) -> KeyWater:
    """A river of ``lanes`` line spacings' width winding over ``length_m``, launch at one end."""
    proj, cx, cy = _proj()
    spacing = PatrolSettings().camera.line_spacing_m(40.0, 0.2)
    width = lanes * spacing * 0.85
    steps = 200
    wave = length_m / 3.5
    pts = []
    for i in range(steps + 1):
        s = length_m * i / steps
        pts.append((cx + s, cy + 0.05 * length_m * math.sin(math.tau * s / wave)))
    centre = LineString(pts)
    # Scale the centreline to the asked length.
    k = length_m / centre.length
    centre = LineString([(cx + (x - cx) * k, cy + (y - cy) * k) for x, y in pts])
    river = centre.buffer(width / 2.0, cap_style="flat", quad_segs=4)
    assert isinstance(river, Polygon)
    start = Point(centre.coords[0])
    launch = _launch_off(proj, river, Point(start.x - 500, start.y), 20.0)
    return _key_water(
        "river", "Meandering river", proj, [river], [launch], endurance_min, pattern="corridor"
    )


def two_ponds(gap_m: float = 300.0, radius_m: float = 80.0) -> KeyWater:
    """A water of two ponds ``gap_m`` apart (a MultiPolygon), launch beside the western one."""
    proj, cx, cy = _proj()
    west = Point(cx, cy).buffer(radius_m, quad_segs=12)
    east = Point(cx + 2 * radius_m + gap_m, cy).buffer(radius_m * 0.8, quad_segs=12)
    launch = _launch_off(proj, west, Point(cx - 1000, cy), 20.0)
    return _key_water(
        "two-ponds", "Two ponds", proj, [west, east], [launch], endurance_min=LONG_ENDURANCE_MIN
    )


def big_lake(
    area_km2: float = 120.0,
    islands: int = 60,
    seed: int = 7,
    endurance_min: float = 25.0,
    launches: int = 1,
) -> KeyWater:
    """A wobbly lake of ``area_km2`` with ``islands`` islands; launches spread along the shore
    (the first on the east bank)."""
    rnd = random.Random(seed)
    proj, cx, cy = _proj()
    n = 200
    radii = [
        1 + 0.25 * math.sin(3 * a) + 0.08 * math.sin(11 * a)
        for a in (math.tau * i / n for i in range(n))
    ]
    shell = Polygon(
        [
            (math.cos(math.tau * i / n) * r, math.sin(math.tau * i / n) * r)
            for i, r in enumerate(radii)
        ]
    )
    scale = math.sqrt(area_km2 * 1e6 / shell.area)
    shell = Polygon([(cx + x * scale, cy + y * scale) for x, y in shell.exterior.coords])
    holes: list[Polygon] = []
    inner = shell.buffer(-300)
    minx, miny, maxx, maxy = inner.bounds
    while len(holes) < islands:
        p = Point(rnd.uniform(minx, maxx), rnd.uniform(miny, maxy))
        isl = p.buffer(rnd.uniform(40, 250), quad_segs=6)
        if inner.contains(isl) and all(isl.distance(h) > 150 for h in holes):
            holes.append(isl)
    water = Polygon(shell.exterior.coords, [h.exterior.coords for h in holes])
    reach = 10 * math.sqrt(area_km2 * 1e6)
    out = [
        _launch_off(
            proj,
            water,
            Point(
                cx + reach * math.cos(math.tau * k / launches),
                cy + reach * math.sin(math.tau * k / launches),
            ),
            30.0,
        )
        for k in range(launches)
    ]
    return _key_water(
        f"lake-{area_km2:g}km2-{launches}l",
        f"Synthetic {area_km2:g} km2 lake",
        proj,
        [water],
        out,
        endurance_min,
        speed_m_s=12.0,
        altitude_m=60.0,
    )


def with_endurance(kw: KeyWater, endurance_min: float) -> KeyWater:
    return replace(kw, vehicle=replace(kw.vehicle, endurance_min=endurance_min))
