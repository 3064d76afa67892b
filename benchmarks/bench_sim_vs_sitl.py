"""The simulated vehicle against ArduPilot SITL: the same sample-water missions flown on both.

    python -m benchmarks.bench_sim_vs_sitl [--water gqc-pond gqc-lake:2 ...]

Each water (``stem`` or ``stem:sortie``) is flown on the simulated vehicle and on
ArduCopter SITL (ARDUPILOT_SITL / ARDUPILOT_SITL_DEFAULTS, run it inside
``unshare --net``); both are recorded on their own clocks (time_boot_ms). Prints, per
water and vehicle: duration armed to disarmed, battery mAh used, mean speed on the straight
parts of long legs, per-corner closest approach and speed, and the mission event order
(MISSION_CURRENT seq changes, MISSION_ITEM_REACHED, mode changes, disarm); then the
agreement: duration difference (%), mean/max track deviation (m, at equal path distance),
straight-leg speed difference, worst corner offset/speed difference, worst lag of an item
reached, whether the event orders agree, and mAh difference (%). Also SITL's battery
current per flight phase (sitl/sim/battery.py's constants come from these).
"""

from __future__ import annotations

import argparse
import math
import os
import sys

os.environ.setdefault("MAVLINK20", "1")

from sitl.sim.agreement import FlightSummary, compare
from sitl.sim.flight_record import Recording, fly_sample_water

DEFAULT_WATERS = ["gqc-pond", "gqc-lake:2"]


def current_by_phase(rec: Recording) -> dict[str, float]:
    """Mean battery current per flight phase, phases told by the nearest fix's velocity."""
    sums: dict[str, list[float]] = {}
    fixes = rec.fixes
    j = 0
    for t, amps, _ in rec.battery:
        while j + 1 < len(fixes) and fixes[j + 1].t_s <= t:
            j += 1
        if not fixes:
            break
        f = fixes[j]
        speed, climb = math.hypot(f.vn, f.ve), -f.vd
        if f.alt_m < 0.3 and abs(climb) < 0.1:
            phase = "ground"
        elif climb > 0.5:
            phase = "climb"
        elif climb < -0.3:
            phase = "descent"
        elif speed > 1.0:
            phase = f"level {round(speed):>2d} m/s"
        else:
            phase = "hover"
        sums.setdefault(phase, []).append(amps)
    return {k: sum(v) / len(v) for k, v in sorted(sums.items())}


def _summary(name: str, s: FlightSummary) -> None:
    print(
        f"  {name:9s} {s.duration_s:7.1f} s  {s.mah_used:6.0f} mAh  "
        f"straight {s.straight_speed_m_s:5.2f} m/s  path {len(s.path)} m"
    )
    corners = " ".join(f"{c.seq}:{c.offset_m:.1f}m/{c.speed_m_s:.1f}" for c in s.corners)
    print(f"            corners (seq:closest/speed) {corners}")
    print("            events " + " ".join(f"{k[:3]}{v}" for k, v in s.events))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.bench_sim_vs_sitl")
    ap.add_argument("--water", nargs="+", default=DEFAULT_WATERS, help="stem or stem:sortie")
    args = ap.parse_args(argv)
    from sitl.ardupilot import find_binary
    from sitl.errors import SitlNotFoundError

    try:
        find_binary()
    except SitlNotFoundError as exc:
        print(f"needs ArduPilot SITL: {exc}", file=sys.stderr)
        return 2
    for water in args.water:
        stem, _, sortie = water.partition(":")
        _, sim, items = fly_sample_water("sim", stem, int(sortie) if sortie else None)
        _, sitl, _ = fly_sample_water("ardupilot", stem, int(sortie) if sortie else None)
        ag = compare(sim, sitl, items)
        print(f"{water}")
        _summary("sim", ag.sim)
        _summary("sitl", ag.sitl)
        print(
            f"  agreement: duration {ag.duration_pct:+.1f} %, track mean {ag.mean_dev_m:.2f} m "
            f"max {ag.max_dev_m:.2f} m, straight speed {ag.straight_speed_diff_m_s:+.2f} m/s, "
            f"corner offset <= {ag.corner_offset_diff_m:.2f} m speed <= "
            f"{ag.corner_speed_diff_m_s:.2f} m/s, item reached lag <= {ag.reached_lag_s:.1f} s, "
            f"event order {'same' if ag.same_events else 'DIFFERS'}, mAh {ag.mah_pct:+.1f} %"
        )
        phases = current_by_phase(sitl)
        print("  SITL current: " + ", ".join(f"{k} {v:.1f} A" for k, v in phases.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
