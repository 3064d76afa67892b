"""The station receiver under load: slow clients, a burst of connections, and the latency of
valid alerts meanwhile (p50 / p99), with the server's threads and memory.

    python -m benchmarks.bench_receiver_load [--slow 500] [--valid 500] [--spread 2] [--burst 200]

The receiver runs as its own process (``station serve``). Phase 1 opens ``--slow``
connections that never finish a request (half drip a header byte every 0.5 s, half send
nothing). Phase 2, while they hang on, sends ``--valid`` signed alerts, each on its own new
connection, started evenly over ``--spread`` seconds; latency is from connecting to the
whole reply. Phase 3 opens ``--burst`` connections at once, each sending an alert, and counts
those reset or refused. Afterwards every alert must be stored exactly once. Threads and RSS
of the server process are sampled from /proc throughout. Target (hardening issue): p99 of
the valid alerts < 100 ms with 500 slow clients; threads bounded; no connection reset.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from station.signing import generate_secret, parse_secret, signed_headers
from tests.station_samples import sample_alert

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class LoadResult:
    latencies_s: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    failed: int = 0  # valid alerts without a reply (reset, refused, timed out)
    burst_failed: int = 0
    max_threads: int = 0
    base_threads: int = 0
    max_rss_mb: float = 0.0
    base_rss_mb: float = 0.0
    stored_once: int = 0  # alerts sent whose row is there with receipts == 1
    sent: int = 0
    server_errors: list[str] = field(default_factory=list)  # ERROR lines the server logged

    def percentile(self, q: float) -> float:
        xs = sorted(self.latencies_s)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def _proc_status(pid: int) -> tuple[int, float]:
    text = Path(f"/proc/{pid}/status").read_text()
    threads = int(re.search(r"Threads:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    rss_kb = int(re.search(r"VmRSS:\s+(\d+)", text).group(1))  # type: ignore[union-attr]
    return threads, rss_kb / 1024


def _request(secret: bytes, n: int, tag: str) -> tuple[str, bytes]:
    a = sample_alert(f"{tag}-{n}", mission_id="load")
    body = a.to_json()
    headers = {**signed_headers(secret, a.id, body), "content-type": "application/json"}
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    data = f"POST /alerts HTTP/1.1\r\nhost: station\r\ncontent-length: {len(body)}\r\n{head}\r\n"
    return a.id, data.encode() + body


async def _send(host: str, port: int, data: bytes, timeout_s: float) -> int:
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    try:
        writer.write(data)
        async with asyncio.timeout(timeout_s):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
        return int(head.split(b" ", 2)[1])
    finally:
        writer.close()


async def _slow_client(host: str, port: int, drip: bool, stop: asyncio.Event) -> None:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError:
        return
    try:
        if drip:
            writer.write(b"POST /alerts HTTP/1.1\r\nx-slow: ")
        while not stop.is_set():
            if drip:
                writer.write(b"a")
            await asyncio.sleep(0.5)
    except OSError:
        pass
    finally:
        writer.close()


async def _drive(
    host: str, port: int, secret: bytes, slow: int, valid: int, spread_s: float, burst: int
) -> tuple[LoadResult, list[str]]:
    result = LoadResult()
    ids: list[str] = []
    stop = asyncio.Event()
    slow_tasks = [
        asyncio.create_task(_slow_client(host, port, i % 2 == 0, stop)) for i in range(slow)
    ]
    await asyncio.sleep(1.0)  # let them all connect and start dripping
    requests = [_request(secret, i, "v") for i in range(valid)]

    async def timed(delay: float, data: bytes) -> None:
        await asyncio.sleep(delay)
        started = time.perf_counter()
        try:
            status = await _send(host, port, data, 10.0)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            result.failed += 1
            return
        result.latencies_s.append(time.perf_counter() - started)
        result.statuses[status] = result.statuses.get(status, 0) + 1

    step = spread_s / max(valid, 1)
    await asyncio.gather(*(timed(i * step, data) for i, (_, data) in enumerate(requests)))
    ids += [wid for wid, _ in requests]
    stop.set()
    await asyncio.gather(*slow_tasks)

    bursts = [_request(secret, i, "b") for i in range(burst)]

    async def burst_one(data: bytes) -> None:
        try:
            if await _send(host, port, data, 10.0) != 200:
                result.burst_failed += 1
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            result.burst_failed += 1

    await asyncio.gather(*(burst_one(data) for _, data in bursts))
    ids += [wid for wid, _ in bursts]
    return result, ids


def run_load(
    slow: int = 500, valid: int = 500, spread_s: float = 2.0, burst: int = 200
) -> LoadResult:
    """Start ``station serve`` in its own process, drive it, check the store; see the doc."""
    secret_text = generate_secret()
    env = {**os.environ, "WATERPATROL_WEBHOOK_SECRET": secret_text}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "station.sqlite"
        cmd = [sys.executable, "-m", "station", "station", "serve", "--port", "0", "--db", str(db)]
        log = Path(tmp) / "serve.log"  # a file, not a pipe: a full pipe would stall the server
        with open(log, "w") as err:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stderr=err)
        try:
            match = None
            deadline = time.monotonic() + 30
            while match is None and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
                match = re.search(r"listening on http://([\d.]+):(\d+)/", log.read_text())
            if match is None:
                raise RuntimeError(f"station serve did not start: {log.read_text()}")
            host, port = match.group(1), int(match.group(2))
            result = LoadResult()
            result.base_threads, result.base_rss_mb = _proc_status(proc.pid)
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.wait(0.05):
                    threads, rss = _proc_status(proc.pid)
                    result.max_threads = max(result.max_threads, threads)
                    result.max_rss_mb = max(result.max_rss_mb, rss)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            driven, ids = asyncio.run(
                _drive(host, port, parse_secret(secret_text), slow, valid, spread_s, burst)
            )
            sampling.set()
            sampler.join()
            driven.base_threads, driven.base_rss_mb = result.base_threads, result.base_rss_mb
            driven.max_threads, driven.max_rss_mb = result.max_threads, result.max_rss_mb
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise RuntimeError(
                    f"station serve did not stop: {log.read_text()[-2000:]}"
                ) from None
        driven.sent = len(ids)
        driven.server_errors = [ln for ln in log.read_text().splitlines() if "ERROR" in ln]
        with sqlite3.connect(db) as conn:
            rows = dict(conn.execute("SELECT webhook_id, receipts FROM received").fetchall())
        driven.stored_once = sum(rows.get(wid) == 1 for wid in ids)
        return driven


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=500)
    parser.add_argument("--valid", type=int, default=500)
    parser.add_argument("--spread", type=float, default=2.0, help="seconds to start valid alerts")
    parser.add_argument("--burst", type=int, default=200)
    args = parser.parse_args()
    r = run_load(args.slow, args.valid, args.spread, args.burst)
    ms = [x * 1000 for x in r.latencies_s]
    print(f"slow clients {args.slow}, valid alerts {args.valid} over {args.spread:g} s")
    if ms:
        print(
            f"valid latency ms: p50 {statistics.median(ms):.1f}"
            f"  p99 {r.percentile(0.99) * 1000:.1f}  max {max(ms):.1f}"
            f"  statuses {r.statuses}  no reply {r.failed}"
        )
    print(f"burst of {args.burst} connections: {r.burst_failed} reset, refused or not 200")
    print(f"server threads: {r.base_threads} idle, {r.max_threads} max")
    print(f"server RSS MB: {r.base_rss_mb:.0f} idle, {r.max_rss_mb:.0f} max")
    print(f"stored exactly once: {r.stored_once} of {r.sent}")
    print(f"server errors logged: {len(r.server_errors)}", *r.server_errors[:5], sep="\n")


if __name__ == "__main__":
    main()
