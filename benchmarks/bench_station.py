"""Alerts per second through outbox + delivery to the local station receiver, and the latency
from ``Outbox.emit`` to the row stored at the receiver (p50 / p99).

    python -m benchmarks.bench_station [--n 2000] [--rate 200] [--incidents 50] [--in-process]

Phase 1 (throughput): emit ``--n`` alerts as fast as possible over ``--incidents`` incidents
(each an open alert then updates) with the delivery worker running; rate = alerts stored per
second from the first emit to the last store. Phase 2 (healthy latency): emit at ``--rate``
alerts/s. The receiver runs as its own process (``station serve``) unless ``--in-process``.
Targets (issue 5): >= 500 alerts/s, p99 < 50 ms when healthy. Every emit and every store at
the receiver is fsynced, so the disk's commit latency (printed) bounds the figures;
``--dir /dev/shm`` shows the software's own ceiling.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from station import Alert, Delivery, Endpoint, Outbox, Receiver, generate_secret, parse_secret
from tests.station_samples import sample_alert


def make_alerts(n: int, incidents: int, tag: str) -> list[Alert]:
    heads: dict[int, Alert] = {}
    out = []
    for i in range(n):
        k = i % incidents
        prev = heads.get(k)
        a = prev.follow_up(people=i % 9) if prev else sample_alert(f"{tag}-{k}", mission_id="bench")
        heads[k] = a
        out.append(a)
    return out


def stored_at(db: Path, ids: set[str], timeout_s: float) -> dict[str, float]:
    """Poll the receiver's database until every id is stored; returns id -> store time."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    deadline = time.monotonic() + timeout_s
    found: dict[str, float] = {}
    while True:
        rows = conn.execute("SELECT webhook_id, received_at FROM received").fetchall()
        found = {i: t for i, t in rows if i in ids}
        if len(found) == len(ids) or time.monotonic() > deadline:
            conn.close()
            return found
        time.sleep(0.02)


def fsync_commit_ms(path: Path, n: int = 100) -> float:
    """What one durable (synchronous=FULL) SQLite commit costs on this disk right now."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t(x)")
    t0 = time.perf_counter()
    for i in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", (i,))
        db.execute("COMMIT")
    db.close()
    return (time.perf_counter() - t0) / n * 1000


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def run_phase(outbox: Outbox, inbox_db: Path, alerts: list[Alert], rate: float | None) -> dict:
    emitted: dict[str, float] = {}
    emit_ms: list[float] = []
    start = time.time()
    for i, a in enumerate(alerts):
        if rate:
            target = start + i / rate
            delay = target - time.time()
            if delay > 0:
                time.sleep(delay)
        t0 = time.perf_counter()
        emitted[a.id] = time.time()
        outbox.emit(a)
        emit_ms.append((time.perf_counter() - t0) * 1000)
    found = stored_at(inbox_db, set(emitted), timeout_s=120)
    missing = len(emitted) - len(found)
    lat_ms = [(found[i] - emitted[i]) * 1000 for i in found]
    span = max(found.values()) - start
    return {
        "n": len(alerts),
        "missing": missing,
        "alerts_per_s": len(found) / span,
        "lat_p50_ms": pct(lat_ms, 50),
        "lat_p99_ms": pct(lat_ms, 99),
        "lat_max_ms": max(lat_ms),
        "emit_p50_ms": pct(emit_ms, 50),
        "emit_p99_ms": pct(emit_ms, 99),
    }


def start_receiver(tmp: Path, secret: str, in_process: bool):
    db = tmp / "station.sqlite"
    if in_process:
        r = Receiver(db, [parse_secret(secret)]).start()
        return r.url, db, r.close
    env = {**os.environ, "WATERPATROL_WEBHOOK_SECRET": secret}
    cmd = [sys.executable, "-m", "station", "station", "serve", "--port", "0", "--db", str(db)]
    proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()
    match = re.search(r"listening on (\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"receiver did not start: {line}")

    def stop() -> None:
        proc.terminate()
        proc.wait(timeout=20)

    return match.group(1), db, stop


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="alerts in the throughput phase")
    ap.add_argument("--rate", type=float, default=200.0, help="alerts/s in the latency phase")
    ap.add_argument("--latency-n", type=int, default=1000, help="alerts in the latency phase")
    ap.add_argument("--incidents", type=int, default=50)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--in-process", action="store_true", help="receiver in this process")
    ap.add_argument("--dir", help="where the databases go (default: the temp folder)")
    args = ap.parse_args()

    secret = generate_secret()
    os.environ["WATERPATROL_WEBHOOK_SECRET"] = secret
    with tempfile.TemporaryDirectory(prefix="bench_station_", dir=args.dir) as d:
        tmp = Path(d)
        fsync_ms = fsync_commit_ms(tmp / "probe.sqlite")
        url, inbox_db, stop_receiver = start_receiver(tmp, secret, args.in_process)
        try:
            with Outbox(tmp / "outbox.sqlite") as outbox:
                delivery = Delivery(outbox, [Endpoint(url)], concurrency=args.concurrency)
                with delivery:
                    run_phase(outbox, inbox_db, make_alerts(50, 10, "warm"), None)  # warm-up
                    burst = run_phase(
                        outbox, inbox_db, make_alerts(args.n, args.incidents, "t"), None
                    )
                    paced = run_phase(
                        outbox,
                        inbox_db,
                        make_alerts(args.latency_n, args.incidents, "l"),
                        args.rate,
                    )
        finally:
            stop_receiver()

    where = "in this process" if args.in_process else "in its own process"
    print(
        f"station benchmark: receiver {where}, concurrency {args.concurrency}, "
        f"{args.incidents} incidents, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
        f"fsync'd commit {fsync_ms:.2f} ms in {args.dir or tempfile.gettempdir()}"
    )
    for name, r in (("burst", burst), (f"paced {args.rate:g}/s", paced)):
        print(
            f"{name:>12}: {r['n']} alerts, {r['missing']} missing, "
            f"{r['alerts_per_s']:.0f} alerts/s; emit->stored p50 {r['lat_p50_ms']:.1f} ms, "
            f"p99 {r['lat_p99_ms']:.1f} ms, max {r['lat_max_ms']:.1f} ms; "
            f"emit() p50 {r['emit_p50_ms']:.2f} ms, p99 {r['emit_p99_ms']:.2f} ms"
        )
    rate_ok = "met" if burst["alerts_per_s"] >= 500 else "NOT met"
    p99_ok = "met" if paced["lat_p99_ms"] < 50 else "NOT met"
    print(f"targets: >= 500 alerts/s (burst: {rate_ok}), p99 < 50 ms healthy (paced: {p99_ok})")


if __name__ == "__main__":
    main()
