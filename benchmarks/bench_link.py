"""Vehicle-link timings: mission upload/download of 100 and 700 items, and flight wall time.

Run with ``python -m benchmarks.bench_link [--quick] [--sitl]``. Against the
built-in simulated vehicle (mission stored as with BRD_SD_MISSION so 700
items fit), and against ArduPilot SITL too when ``--sitl`` is given and a
binary is found. ARDUPILOT_NOTES.md has the reference: ArduPilot SITL takes
~5.6 ms per item at x1 (700 items in ~3.9 s) and ~0.7 ms at x10; downloads
with 5 requests in flight read 700 items in ~0.8 s at x1.
"""

from __future__ import annotations

import argparse
import math
import os
import time

os.environ.setdefault("MAVLINK20", "1")
os.environ.setdefault("MAVLINK_DIALECT", "ardupilotmega")

from mission.items import Cmd, MissionItem, MissionType, home_item

HOME = (29.2505, 115.7953, 21.0)
SAMPLE = "gqc-pond.geojson"


def survey(n: int) -> list[MissionItem]:
    lat, lon, alt = HOME
    items = [home_item(lat, lon, alt), MissionItem(Cmd.NAV_TAKEOFF, z=30.0)]
    k = 111_320.0 * math.cos(math.radians(lat))
    for i in range(n - 3):
        north, east = (i // 30) * 10.0, (i % 30) * 10.0
        items.append(
            MissionItem.at(Cmd.NAV_WAYPOINT, lat + north / 111_132.0, lon + east / k, 30.0)
        )
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH))
    return items


def bench_transfers(url: str, speedup: float, counts: tuple[int, ...]) -> list[dict]:
    from mission.link import transfer
    from mission.link.connection import open_link
    from mission.link.telemetry import rates_for_speedup

    rows = []
    with open_link(
        url, ready_timeout_s=max(60.0, 600.0 / speedup), rates_hz=rates_for_speedup(speedup)
    ) as conn:
        for n in counts:
            items = survey(n)
            t0 = time.perf_counter()
            stats = transfer.upload(conn, items, MissionType.MISSION, verify=False)
            up = time.perf_counter() - t0
            t0 = time.perf_counter()
            back = transfer.download(conn, MissionType.MISSION)
            down = time.perf_counter() - t0
            transfer.compare(items, back, MissionType.MISSION)
            rows.append(
                {
                    "items": n,
                    "upload_s": up,
                    "download_s": down,
                    "ms_per_item": 1000 * up / n,
                    "resends": stats.resends,
                }
            )
    return rows


def bench_flight(kind: str, speedup: float) -> dict:
    from pathlib import Path

    from sitl.run import fly_key_water

    path = Path(__file__).resolve().parent.parent / "geofences" / "samples" / SAMPLE
    result = fly_key_water(path, kind, speedup)
    flown = sum(r.wall_s for r in result.reports)
    est = sum(1 for _ in result.reports)
    return {
        "sample": SAMPLE,
        "speedup": speedup,
        "total_wall_s": result.wall_s,
        "flight_wall_s": flown,
        "sorties": est,
        "passed": result.passed,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="x10 only, 100 and 700 items, one flight")
    ap.add_argument("--sitl", action="store_true", help="also against ArduPilot SITL when found")
    args = ap.parse_args()

    from sitl.endpoints import simulated

    print(
        f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f} "
        "(figures are wall time on a shared machine)"
    )
    speedups = (10.0,) if args.quick else (1.0, 10.0)
    for sp in speedups:
        with simulated(home=HOME, speedup=sp, params={"BRD_SD_MISSION": 64}) as ep:
            for row in bench_transfers(ep.url, sp, (100, 700)):
                print(
                    f"sim x{sp:g}: {row['items']:4d} items  upload {row['upload_s']:6.2f} s "
                    f"({row['ms_per_item']:.2f} ms/item, {row['resends']} resends)  "
                    f"download {row['download_s']:6.2f} s"
                )
    if args.sitl:
        from sitl.ardupilot import find_binary
        from sitl.endpoints import ardupilot
        from sitl.errors import SitlNotFoundError

        try:
            find_binary()
        except SitlNotFoundError as exc:
            print(f"sitl: skipped ({exc})")
        else:
            with ardupilot(home=HOME, speedup=10.0) as ep:
                for row in bench_transfers(ep.url, 10.0, (100, 600)):
                    print(
                        f"sitl x10: {row['items']:4d} items  upload {row['upload_s']:6.2f} s  "
                        f"download {row['download_s']:6.2f} s"
                    )
    for sp in (50.0,) if args.quick else (20.0, 50.0, 100.0):
        r = bench_flight("sim", sp)
        print(
            f"flight {r['sample']} sim x{sp:g}: flight {r['flight_wall_s']:.1f} s wall, "
            f"total with start-up and upload {r['total_wall_s']:.1f} s, passed {r['passed']}"
        )
    if args.sitl:
        try:
            r = bench_flight("ardupilot", 10.0)
            print(f"flight {r['sample']} sitl x10: flight {r['flight_wall_s']:.1f} s wall")
        except Exception as exc:  # the SITL part is optional: say why it did not run
            print(f"flight sitl: skipped ({exc})")


if __name__ == "__main__":
    main()
