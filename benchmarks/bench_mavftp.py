"""Mission upload to ArduPilot SITL: MAVLink FTP (mission file) against the mission protocol.

Run with ``python -m benchmarks.bench_mavftp [--items 700] [--runs 3] [--instance 5]``
(needs the SITL binary: ARDUPILOT_SITL, ARDUPILOT_SITL_DEFAULTS; run it in a
private network namespace). A second defaults file sets BRD_SD_MISSION 64 so
700 items fit. Median wall time of ``--runs`` uploads without read-back, and
of the read-back each way, at speed-up 1 and 10. Reference (ARDUPILOT_NOTES.md):
the vehicle's own pace item by item is ~3.9 s at x1 and ~0.45 s at x10 for 700
items; MAVProxy's ``wp ftpload`` takes ~0.34 s at x1.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

os.environ.setdefault("MAVLINK20", "1")
os.environ.setdefault("MAVLINK_DIALECT", "ardupilotmega")

from benchmarks.bench_link import HOME, survey
from mission.items import MissionItem, MissionType

if TYPE_CHECKING:
    from mission.link.connection import Connection


def _median_s(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _wait_for_mission_store(conn: Connection, items: list[MissionItem]) -> None:
    """Start-up: with BRD_SD_MISSION the store says "Only 0 items are supported" for ~2 s."""
    from mission.link import transfer
    from mission.link.errors import MissionRejected

    deadline = time.monotonic() + 20.0
    while True:
        try:
            transfer.upload(conn, items, method="protocol")
            return
        except MissionRejected:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def bench_speedup(speedup: float, n: int, runs: int, instance: int, defaults: str) -> dict:
    from mission.link import mission_ftp, transfer
    from mission.link.connection import connect
    from sitl.ardupilot import ArduPilotSitl

    env = {**os.environ, "ARDUPILOT_SITL_DEFAULTS": defaults}
    sitl = ArduPilotSitl(HOME, speedup=speedup, instance=instance, env=env)
    sitl.start()
    try:
        with connect(sitl.url) as conn:
            items = survey(n)
            _wait_for_mission_store(conn, items[:5])
            assert mission_ftp.offers_ftp(conn), "this SITL does not advertise MAVLink FTP"
            mtype = MissionType.MISSION
            ftp_up = _median_s(
                runs, lambda: transfer.upload(conn, items, method="ftp", verify=False)
            )
            transfer.compare(items, transfer.download(conn, mtype), mtype)
            ftp_read = _median_s(runs, lambda: mission_ftp.download(conn, mtype))
            proto_up = _median_s(
                runs, lambda: transfer.upload(conn, items, method="protocol", verify=False)
            )
            proto_read = _median_s(runs, lambda: transfer.download(conn, mtype))
            transfer.compare(items, mission_ftp.download(conn, mtype), mtype)
    finally:
        sitl.stop()
    return {
        "speedup": speedup,
        "items": n,
        "ftp_upload_s": ftp_up,
        "ftp_read_s": ftp_read,
        "protocol_upload_s": proto_up,
        "protocol_read_s": proto_read,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=700)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--instance", type=int, default=5, help="SITL -I (ports +10 per step)")
    ap.add_argument("--speedups", default="1,10")
    args = ap.parse_args()

    from sitl.ardupilot import find_binary, find_defaults
    from sitl.errors import SitlNotFoundError

    try:
        binary = find_binary()
    except SitlNotFoundError as exc:
        print(f"skipped: {exc}")
        return
    extra = Path(tempfile.mkdtemp(prefix="bench-mavftp-")) / "sd_mission.parm"
    extra.write_text("BRD_SD_MISSION 64\n")  # mission in a file: room for 700 items
    defaults = ",".join(str(p) for p in [*find_defaults(binary), extra])
    print(f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.1f}; median of {args.runs} runs")
    for sp in (float(s) for s in args.speedups.split(",")):
        r = bench_speedup(sp, args.items, args.runs, args.instance, defaults)
        print(
            f"sitl x{sp:g} {r['items']} items: upload ftp {r['ftp_upload_s']:.3f} s, "
            f"protocol {r['protocol_upload_s']:.3f} s "
            f"({r['protocol_upload_s'] / r['ftp_upload_s']:.1f}x); "
            f"read-back ftp {r['ftp_read_s']:.3f} s, protocol {r['protocol_read_s']:.3f} s"
        )


if __name__ == "__main__":
    main()
