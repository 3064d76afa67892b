"""Crash safety: the delivery process is SIGKILLed in a loop while alerts stream in; afterwards
the receiver holds every alert exactly once, each incident in order, on its newest state."""

from __future__ import annotations

import os
import random
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from station.model import Alert
from station.outbox import DELIVERED, Outbox
from station.receiver import Receiver
from station.signing import generate_secret, parse_secret
from tests.station_samples import SAMPLE

ROOT = Path(__file__).resolve().parents[1]


def start_worker(url: str, db: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "station", "alerts", "deliver", "--dispatch", url, "--db", str(db)]
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


@pytest.mark.slow
def test_sigkill_loop_loses_nothing_and_duplicates_nothing(tmp_path) -> None:
    secret = generate_secret()
    env = {**os.environ, "WATERPATROL_WEBHOOK_SECRET": secret}
    db = tmp_path / "outbox.sqlite"
    rng = random.Random(5)
    emitted: list[Alert] = []
    incidents = 12
    with (
        Receiver(tmp_path / "station.sqlite", [parse_secret(secret)]) as receiver,
        Outbox(db) as outbox,
    ):
        done = threading.Event()

        def emit_stream() -> None:  # ~3 s of alerts over 12 incidents: open, updates, close
            heads: dict[int, Alert] = {}
            for i in range(360):
                k = i % incidents
                prev = heads.get(k)
                if prev is None or prev.status == "closed":
                    a = Alert(incident_id=f"inc-{k}-{i}", **SAMPLE)  # type: ignore[arg-type]
                else:
                    a = prev.follow_up("closed" if rng.random() < 0.1 else "update", people=i % 7)
                heads[k] = a
                outbox.emit(a)
                emitted.append(a)
                time.sleep(0.008)
            done.set()

        producer = threading.Thread(target=emit_stream)
        producer.start()
        kills = 0
        while not done.is_set():
            worker = start_worker(receiver.url, db, env)
            time.sleep(rng.uniform(0.2, 1.0))  # some die while starting, some mid-delivery
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)
            kills += 1
        producer.join(timeout=30)
        assert kills >= 3

        worker = start_worker(receiver.url, db, env)
        try:
            # its start-up line comes once its SIGTERM handler is in place
            ready, _, _ = select.select([worker.stderr], [], [], 30)
            assert ready and b"delivering alerts" in worker.stderr.readline()
            deadline = time.monotonic() + 60
            while {e.state for e in outbox.entries(limit=10_000)} != {DELIVERED}:
                assert worker.poll() is None, worker.stderr.read().decode()
                assert time.monotonic() < deadline, f"not all delivered: {outbox.counts()}"
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=20) == 0  # a clean stop on SIGTERM

        rows = list(reversed(receiver.inbox.rows(10_000)))  # in order of first arrival
        ids = [r.webhook_id for r in rows]
        assert len(ids) == len(set(ids)) == len(emitted)
        assert set(ids) == {a.id for a in emitted}
        for inc in {a.incident_id for a in emitted}:
            mine = [a.id for a in emitted if a.incident_id == inc]
            assert [r.alert_id for r in rows if r.incident_id == inc] == mine
        latest = {}
        for a in emitted:
            latest[a.incident_id] = (a.id, str(a.status))
        assert {i.incident_id: (i.alert_id, i.status) for i in receiver.inbox.incidents()} == latest
        resent = sum(r.receipts for r in rows) - len(rows)
        print(f"{len(emitted)} alerts, {kills} SIGKILLs, {resent} re-sent and collapsed")
