"""Every sample water flown whole on a vehicle: waypoints, breaches, landing, planned vs flown.

    python -m benchmarks.bench_sitl_flights [--vehicle ardupilot|sim] [--speedup N] [--json]

Per sortie: waypoints reached of total, fence breaches, landing distance from
launch, the planner's flight time against the time flown by the vehicle's own
clock (simulated seconds on a SITL), and the battery at launch, planned and
used (the harness sizes the pack to the file's endurance; see sitl/battery.py).
The issue's targets: every waypoint, 0 breaches, landing within 1 m, flown
within 10 % of plan, no sortie launched short. SITL wants a private network
namespace: run it under `unshare --net` with loopback up (scripts/dev does).
"""

from __future__ import annotations

import argparse
import json

import geofences
from sitl.run import fly_key_water


def rows(vehicle: str, speedup: float | None) -> list[dict]:
    out = []
    for path in sorted(geofences.sample_paths(), key=lambda p: p.name):
        run = fly_key_water(path, vehicle=vehicle, speedup=speedup)
        for i, r in enumerate(run.reports, start=1):
            dev = None
            if r.planned_s and r.flown_s is not None:
                dev = 100.0 * (r.flown_s - r.planned_s) / r.planned_s
            out.append(
                {
                    "water": run.key_water,
                    "vehicle": run.vehicle,
                    "sortie": f"{i}/{run.sorties_planned}",
                    "reached": f"{r.waypoints_reached}/{r.waypoints_total}",
                    "breaches": r.fence_breaches + r.track_outside_fence,
                    "landing_m": r.landing_from_launch_m,
                    "planned_s": r.planned_s,
                    "flown_s": r.flown_s,
                    "time_dev_pct": dev,
                    "battery_start_pct": r.battery_start_pct,
                    "battery_planned_pct": r.battery_planned_pct,
                    "battery_used_pct": r.battery_used_pct,
                    "wall_s": r.wall_s,
                }
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vehicle", default="ardupilot", choices=("ardupilot", "sim"))
    ap.add_argument("--speedup", type=float, default=None)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    table = rows(args.vehicle, args.speedup)
    if args.json:
        print(json.dumps(table, indent=2))
        return

    def f(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    print(
        "| water | vehicle | sortie | reached | breaches | landing m | planned s | flown s "
        "| dev | battery at launch / planned / used | wall s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in table:
        print(
            f"| {r['water']} | {r['vehicle']} | {r['sortie']} | {r['reached']} | "
            f"{r['breaches']} | {f(r['landing_m'], '.2f')} | {f(r['planned_s'], '.0f')} | "
            f"{f(r['flown_s'], '.0f')} | {f(r['time_dev_pct'], '+.1f')} % | "
            f"{f(r['battery_start_pct'], '.0f')} / {f(r['battery_planned_pct'], '.0f')} / "
            f"{f(r['battery_used_pct'], '.0f')} % | {r['wall_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
