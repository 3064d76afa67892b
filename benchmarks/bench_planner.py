"""Planning time and path efficiency for the sample waters and a synthetic 100 km2 lake.

    python -m benchmarks.bench_planner [--repeat N]

Efficiency = ideal / planned path length, where ideal = water area / line
spacing (for the shoreline pattern: the bank length) plus one round trip from
the launch to the water's centre per sortie. About 1.0 is a tight plan.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from pathlib import Path

from shapely.geometry import MultiPolygon, Point, Polygon

import geofences
from geofences.model import KeyWater, Launch, PatrolSettings, VehicleSettings
from geofences.projection import LocalProjection
from mission.plan import MissionPlan
from mission.planner import plan

SAMPLES = Path(__file__).resolve().parent.parent / "geofences" / "samples"


def big_lake(area_km2: float = 100.0, islands: int = 50, seed: int = 7) -> KeyWater:
    """A wobbly lake of ``area_km2`` with ``islands`` islands, launch on its east shore."""
    rnd = random.Random(seed)
    lat0, lon0 = 29.30, 115.90
    proj = LocalProjection.around(lat0, lon0)
    cx, cy = proj.to_xy(lon0, lat0)
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
    east = max(shell.exterior.coords, key=lambda c: c[0])
    lon, lat = proj.to_lonlat(east[0] + 30, east[1])
    return KeyWater(
        id="bench-100km2",
        name="Synthetic 100 km2 lake",
        water=proj.geom_to_lonlat(MultiPolygon([water])),
        launch=Launch(lat, lon, 20.0),
        patrol=PatrolSettings(altitude_m=60.0, speed_m_s=12.0),
        vehicle=VehicleSettings(endurance_min=60.0),  # a long-endurance VTOL: 12 km out and back
    )


def ideal_km(kw: KeyWater, mp: MissionPlan) -> float:
    """The path a perfect plan would need: water area / line spacing (shoreline: the banks),
    plus one round trip from the launch to the water's centre per sortie."""
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    water = proj.geom_to_m(kw.water)
    home = Point(proj.to_xy(kw.launch.lon, kw.launch.lat))
    if mp.pattern == "shoreline":
        sweep = sum(p.exterior.length + sum(r.length for r in p.interiors) for p in water.geoms)
    else:
        sweep = water.area / mp.summary.line_spacing_m
    return (sweep + 2 * home.distance(water.centroid) * mp.summary.sorties) / 1000.0


def measure(kw: KeyWater, repeat: int) -> tuple[MissionPlan, list[float]]:
    times = []
    mp = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        mp = plan(kw)
        times.append((time.perf_counter() - t0) * 1000.0)
    assert mp is not None
    return mp, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    cases = [geofences.load(p) for p in geofences.sample_paths()]
    cases.append(big_lake())
    print(
        f"{'water':<28}{'pattern':<10}{'area km2':>9}{'median ms':>11}{'max ms':>8}"
        f"{'path km':>9}{'lanes':>7}{'sorties':>8}{'cover %':>9}{'effic.':>8}"
    )
    for kw in cases:
        repeat = args.repeat if kw.water.area < 0.001 else max(1, args.repeat // 2)
        mp, times = measure(kw, repeat)
        s = mp.summary
        print(
            f"{kw.id:<28}{mp.pattern:<10}{s.area_km2:>9.3f}{statistics.median(times):>11.0f}"
            f"{max(times):>8.0f}{s.path_km:>9.2f}{s.lanes:>7}{s.sorties:>8}"
            f"{s.coverage_pct:>9.2f}{ideal_km(kw, mp) / s.path_km:>8.2f}"
        )


if __name__ == "__main__":
    main()
