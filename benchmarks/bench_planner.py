"""Planning time, batteries and path length on the sample waters and generated ones.

    python -m benchmarks.bench_planner [--repeat N]

Columns: sorties and the lower bound on them (planning/bounds.py); path / bound:
the path over lanes plus the least commuting the endurance forces; path /
(area / spacing): the path over the ideal sweep (for the shoreline pattern the
bank length), flight home included; cover %: of all of the water (every part);
left km2: water named as unplanned (only with allow_partial).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import geofences
from benchmarks import waters
from geofences.model import KeyWater
from geofences.projection import LocalProjection
from mission.errors import PlanningError
from mission.plan import MissionPlan
from mission.planner import plan


@dataclass(frozen=True)
class Case:
    label: str
    make: Callable[[], KeyWater]
    allow_partial: bool = False


def cases() -> list[Case]:
    out = [Case(p.stem, lambda p=p: geofences.load(p)) for p in geofences.sample_paths()]
    lake = waters.island_lake
    out += [
        Case("pond (no endurance limit)", waters.round_pond),
        Case("island lake (no limit)", lambda: lake(endurance_min=waters.LONG_ENDURANCE_MIN)),
        Case(
            "river (no limit)",
            lambda: waters.meandering_river(endurance_min=waters.LONG_ENDURANCE_MIN),
        ),
        Case("island lake 20 min", lake),
        Case("river 20 min", waters.meandering_river),
        Case("two ponds 300 m apart", waters.two_ponds),
        Case("120 km2 lake 25 min 1 launch", waters.big_lake),
        Case("  same, --allow-partial", waters.big_lake, allow_partial=True),
        Case("120 km2 lake 25 min 4 launches", lambda: waters.big_lake(launches=4)),
        Case(
            "120 km2 lake 60 min 3 launches",
            lambda: waters.big_lake(launches=3, endurance_min=60.0),
        ),
    ]
    return out


def sweep_km(kw: KeyWater, mp: MissionPlan) -> float:
    """The ideal sweep: water area / line spacing (shoreline: the banks)."""
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    water = proj.geom_to_m(kw.water)
    if mp.pattern == "shoreline":
        return (
            sum(p.exterior.length + sum(r.length for r in p.interiors) for p in water.geoms) / 1e3
        )
    return water.area / mp.summary.line_spacing_m / 1000.0


def measure(case: Case, repeat: int) -> tuple[KeyWater, MissionPlan | str, list[float]]:
    kw = case.make()
    times = []
    result: MissionPlan | str = ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        try:
            result = plan(kw, allow_partial=case.allow_partial)
        except PlanningError as err:
            result = str(err)
        times.append((time.perf_counter() - t0) * 1000.0)
    return kw, result, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    print(
        f"{'water':<32}{'pattern':<10}{'km2':>8}{'ms':>7}{'path km':>9}{'sorties':>8}"
        f"{'bound':>6}{'path/bnd':>9}{'path/sweep':>11}{'cover %':>8}{'left km2':>9}"
    )
    for case in cases():
        kw = case.make()
        big = kw.water.area > 0.001  # lon/lat degrees: about 10 km2
        kw, mp, times = measure(case, 1 if big else args.repeat)
        ms = statistics.median(times)
        if isinstance(mp, str):
            print(f"{case.label:<32}{'error':<10}{'':>8}{ms:>7.0f}  {mp[:150]}")
            continue
        s = mp.summary
        ratio = f"{s.bound_ratio:.2f}" if s.bound_ratio else "-"
        left = sum(u.area_km2 for u in s.unplanned)
        print(
            f"{case.label:<32}{mp.pattern:<10}{s.area_km2:>8.2f}{ms:>7.0f}{s.path_km:>9.2f}"
            f"{s.sorties:>8}{s.lower_bound_sorties:>6}{ratio:>9}"
            f"{s.path_km / sweep_km(kw, mp):>11.2f}{s.coverage_pct:>8.2f}{left:>9.3f}"
        )


if __name__ == "__main__":
    main()
