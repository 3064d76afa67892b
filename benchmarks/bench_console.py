"""The station console under a dispatch post's load: alert stored -> shown in every open console
(p50 / p95 / max) with drones reporting status at 1 Hz and consoles following live; the first
load of the console page; the queue's answers with thousands of alerts in the store.

    python -m benchmarks.bench_console [--drones 20] [--consoles 10] [--alerts 60] [--store 5000]
                                       [--pg]

The station (receiver and console, one process: ``station console --receiver-port``) runs as
its own process, on SQLite by default or on a throwaway PostgreSQL server with ``--pg``.
Phase 1: ``--drones`` simulated patrols send signed status reports at 1 Hz and ``--consoles``
logged-in pages follow ``/events``; ``--alerts`` signed alerts are sent 0.25 s apart, and for
each console the time from the receiver's 200 (the alert is stored) to the alert's event on
that console's stream is recorded. Phase 2: the first load of the page on loopback, as the
browser fetches it (page, scripts, styles, queue, map, drones), sequential, median of 10;
with chromium present, also navigation to a live page in headless chromium. Phase 3:
``--store`` alerts in the store, then the queue's first page, a deep page and searches by
water, type, state and time (median and p95 of 20 each).
Targets (issue 14): p95 < 1 s with 20 drones and 10 consoles on 2 cores; first load < 1 s;
the queue responsive with 5,000 alerts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from console.auth import hash_password
from console.store import ConsoleStore
from station.inbox import Inbox
from station.receiver import parse_json_alert
from station.signing import signed_headers
from station.status import status_message
from tests.console_support import KEY, PASSWORD, SECRET, new_database, postgres_cluster
from tests.station_samples import sample_alert

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(values: list[float]) -> str:
    return (
        f"p50 {statistics.median(values) * 1000:.0f} ms, p95 {pct(values, 95) * 1000:.0f} ms,"
        f" max {max(values) * 1000:.0f} ms (n={len(values)})"
    )


async def login(client: httpx.AsyncClient) -> str:
    page = await client.get("/login")
    token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    resp = await client.post(
        "/login", data={"name": "bench", "password": PASSWORD, "csrftoken": token}
    )
    assert resp.status_code == 303, resp.text
    return token


async def follow(console_url: str, seen: dict[str, list[float]], ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=console_url, timeout=None) as c:
        await login(c)
        async with c.stream("GET", "/events") as resp:
            ready.set()
            kind = ""
            async for line in resp.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "alert":
                    incident = json.loads(line[6:])["incident"]["incident_id"]
                    seen.setdefault(incident, []).append(time.monotonic())


async def drone(receiver_url: str, index: int, stop: asyncio.Event, sent: list[int]) -> None:
    url = receiver_url.replace("/alerts", "/status")
    async with httpx.AsyncClient(timeout=10) as c:
        i = 0
        while not stop.is_set():
            doc = status_message(
                vehicle_id=f"uav-{index}",
                mission_id=f"m-{index}",
                water_id="gqc-lake",
                lat=29.22 + index * 0.001,
                lon=115.77 + i * 0.00005,
                heading_deg=90.0,
                battery_pct=max(0.0, 95.0 - i * 0.05),
                mode="AUTO",
                video="ok",
                detector_fps=5.0,
            )
            body = json.dumps(doc).encode()
            headers = signed_headers(KEY, f"st-{uuid.uuid4().hex}", body)
            headers["content-type"] = "application/json"
            resp = await c.post(url, content=body, headers=headers)
            if resp.status_code == 200:
                sent[0] += 1
            i += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)


async def live_phase(
    receiver_url: str, console_url: str, drones: int, consoles: int, alerts: int
) -> dict:
    seen: dict[str, list[float]] = {}
    readies = [asyncio.Event() for _ in range(consoles)]
    followers = [asyncio.create_task(follow(console_url, seen, r)) for r in readies]
    await asyncio.gather(*(r.wait() for r in readies))
    stop, sent = asyncio.Event(), [0]
    flyers = [asyncio.create_task(drone(receiver_url, i, stop, sent)) for i in range(drones)]
    await asyncio.sleep(3.0)  # the drones settle into their 1 Hz rhythm
    stored_at: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as c:
        for n in range(alerts):
            a = sample_alert(f"live-{n}", type=("distress", "person_in_water")[n % 2])
            body = a.to_json()
            headers = {**signed_headers(KEY, a.id, body), "content-type": "application/json"}
            resp = await c.post(receiver_url, content=body, headers=headers)
            assert resp.status_code == 200, resp.text
            stored_at[a.incident_id] = time.monotonic()
            await asyncio.sleep(0.25)
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*flyers)
    for f in followers:
        f.cancel()
    await asyncio.gather(*followers, return_exceptions=True)
    latencies = [t - stored_at[i] for i, times in seen.items() if i in stored_at for t in times]
    missing = alerts * consoles - len(latencies)
    return {"latencies": latencies, "missing": missing, "status_reports": sent[0]}


def first_load(console_url: str, runs: int = 10) -> list[float]:
    paths = [
        "/",
        "/static/console.css",
        "/static/leaflet/leaflet.css",
        "/static/leaflet/leaflet.js",
        "/static/console.js",
        "/api/queue?state=active&page=1",
        "/api/map",
        "/api/vehicles",
    ]
    times = []
    with httpx.Client(base_url=console_url, timeout=30) as c:
        _sync_login(c)
        for _ in range(runs):
            t0 = time.perf_counter()
            for p in paths:
                resp = c.get(p, headers={"cache-control": "no-cache"})
                assert resp.status_code == 200, (p, resp.status_code)
            times.append(time.perf_counter() - t0)
    return times


def _sync_login(c: httpx.Client) -> None:
    page = c.get("/login")
    token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    c.post("/login", data={"name": "bench", "password": PASSWORD, "csrftoken": token})


def browser_load(console_url: str, runs: int = 5) -> list[float] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not os.access("/usr/bin/chromium", os.X_OK):
        return None
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
    args += ["--disable-component-update", "--disable-sync", "--no-first-run"]
    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        page = browser.new_page()
        page.goto(console_url + "/login")
        page.fill("input[name=name]", "bench")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("#live.on")
        for _ in range(runs):
            t0 = time.perf_counter()
            page.goto(console_url + "/")
            page.wait_for_selector("#live.on")
            page.wait_for_selector("#queue tbody tr")
            times.append(time.perf_counter() - t0)
        browser.close()
    return times


def fill_store(target: str | Path, n: int) -> float:
    """``n`` alerts straight into the store (8 writers: the receiver's group commit)."""
    inbox = Inbox(target)
    base = datetime(2025, 6, 1, tzinfo=UTC)
    waters = [("gqc-lake", "共青湖"), ("gqc-river", "博阳河"), ("gqc-pond", "池塘")]
    kinds = ("person_in_water", "distress", "gathering")

    def write(start: int) -> None:
        for i in range(start, n, 8):
            water_id, water_name = waters[i % 3]
            a = sample_alert(
                f"bulk-{i:05d}",
                type=kinds[i % 3],
                water_id=water_id,
                water_name=water_name,
                sent_at=base + timedelta(minutes=i),
                lat=29.22 + (i % 100) * 0.0002,
            )
            body = a.to_json()
            text, meta = parse_json_alert(body)
            inbox.store(a.id, "application/json", body, text, meta)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=write, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    inbox.close()
    return time.perf_counter() - t0


def queue_phase(console_url: str, runs: int = 20) -> dict[str, list[float]]:
    queries = {
        "first page": {},
        "page 50": {"page": 50, "state": ""},
        "water": {"water": "共青"},
        "type": {"type": "gathering"},
        "state closed": {"state": "closed"},
        "time window": {"since": "2025-06-02T00:00:00Z", "until": "2025-06-03T00:00:00Z"},
    }
    out: dict[str, list[float]] = {}
    with httpx.Client(base_url=console_url, timeout=30) as c:
        _sync_login(c)
        for name, params in queries.items():
            times = []
            for _ in range(runs):
                t0 = time.perf_counter()
                resp = c.get("/api/queue", params=params)
                assert resp.status_code == 200, resp.text
                times.append(time.perf_counter() - t0)
            out[f"{name} ({resp.json()['total']} found)"] = times
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--drones", type=int, default=20)
    ap.add_argument("--consoles", type=int, default=10)
    ap.add_argument("--alerts", type=int, default=60)
    ap.add_argument("--store", type=int, default=5000)
    ap.add_argument("--pg", action="store_true", help="a throwaway PostgreSQL store")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-console-")))
        if args.pg:
            target: str | Path = new_database(stack.enter_context(postgres_cluster()))
        else:
            target = tmp / "station.sqlite"
        with ConsoleStore(target) as store:
            store.add_user("bench", "viewer", hash_password(PASSWORD))
        rport, cport = free_port(), free_port()
        exe = shutil.which("waterpatrol") or "waterpatrol"
        env = {**os.environ, "WATERPATROL_WEBHOOK_SECRET": SECRET}
        proc = subprocess.Popen(
            [
                exe,
                "station",
                "console",
                "--port",
                str(cport),
                "--receiver-port",
                str(rport),
                "--db",
                str(target),
            ],
            env=env,
            stderr=stack.enter_context((tmp / "station.log").open("w")),
        )
        stack.callback(proc.wait, 10)
        stack.callback(proc.terminate)
        console_url, receiver_url = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{rport}/alerts"
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(console_url + "/healthz").status_code == 200:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                print((tmp / "station.log").read_text(), file=sys.stderr)
                return 1
            time.sleep(0.2)
        print(f"station store: {'PostgreSQL' if args.pg else 'SQLite'}; {os.cpu_count()} CPUs")

        live = asyncio.run(
            live_phase(receiver_url, console_url, args.drones, args.consoles, args.alerts)
        )
        print(
            f"alert stored -> on each of {args.consoles} consoles, {args.drones} drones at 1 Hz"
            f" ({live['status_reports']} status reports): {ms(live['latencies'])};"
            f" missed {live['missing']}"
        )
        print(f"first load (8 requests, sequential): {ms(first_load(console_url))}")
        browser = browser_load(console_url)
        if browser:
            print(f"first load in headless chromium (to a live page): {ms(browser)}")
        filled = fill_store(target, args.store)
        print(f"stored {args.store} alerts in {filled:.1f} s")
        print(f"first load with {args.store} alerts: {ms(first_load(console_url))}")
        for name, times in queue_phase(console_url).items():
            print(f"queue {name}: {ms(times)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
