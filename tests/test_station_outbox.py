"""The SQLite outbox on its own: durability, routing, per-incident ordering, operator retry."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time

import pytest

from station.errors import StoreError
from station.outbox import DELIVERED, DISABLED, FAILED, PENDING, Outbox, Outcome
from tests.station_samples import SAMPLE, sample_alert


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "var" / "outbox.sqlite") as ob:
        yield ob


def test_emit_is_durable_in_wal_mode_across_processes(tmp_path) -> None:
    path = tmp_path / "outbox.sqlite"
    script = (
        "import sys; from station.outbox import Outbox; from station.model import Alert;"
        f"a = Alert(incident_id='inc-9', **{SAMPLE!r});"
        "Outbox(sys.argv[1]).emit(a); print(a.id); sys.stdout.flush();"
        "import os; os._exit(0)"  # no clean close: the commit alone must have made it durable
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    alert_id = out.stdout.strip()
    with Outbox(path) as ob:
        assert ob.get(alert_id).alert.incident_id == "inc-9"
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_emit_is_idempotent_but_refuses_a_changed_sample_alert(outbox) -> None:
    a = sample_alert()
    outbox.emit(a)
    outbox.emit(a)
    assert len(outbox.entries()) == 1
    import dataclasses

    changed = dataclasses.replace(a, people=4, text_en="", text_zh="")
    with pytest.raises(StoreError, match="other content"):
        outbox.emit(changed)


def test_a_new_endpoint_adopts_alerts_nobody_has_taken(outbox) -> None:
    early = [sample_alert(f"inc-{i}") for i in range(3)]
    for a in early:
        outbox.emit(a)  # emitted before any worker ever ran
    outbox.register_endpoint("dispatch", "https://d.example/hook")
    assert outbox.route("dispatch") == 3
    assert outbox.route("dispatch") == 0  # the cursor moved
    outbox.emit(sample_alert("inc-9"))
    assert outbox.route("dispatch") == 1
    # a second endpoint registered now takes only what comes next
    outbox.register_endpoint("backup", "https://b.example/hook")
    assert outbox.route("backup") == 0
    outbox.emit(sample_alert("inc-10"))
    assert outbox.route("backup") == 1
    assert outbox.route("dispatch") == 1
    assert {e.state for e in outbox.entries()} == {PENDING}


def test_due_returns_one_head_per_incident_in_order(outbox) -> None:
    outbox.register_endpoint("d", "https://d.example/hook")
    a1 = sample_alert("inc-a")
    a2 = a1.follow_up(people=2)
    b1 = sample_alert("inc-b")
    a3 = a2.follow_up("closed")
    for a in (a1, b1, a2, a3):
        outbox.emit(a)
    outbox.route("d")
    now = time.time()
    assert [d.alert_id for d in outbox.due("d", now, 10)] == [a1.id, b1.id]
    # a1 fails transiently: a2 and a3 must wait behind it, b1 goes on
    heads = {d.alert_id: d for d in outbox.due("d", now, 10)}
    outbox.record(
        "d",
        [
            Outcome(heads[a1.id].seq, PENDING, now, now + 60, 503, "HTTP 503"),
            Outcome(heads[b1.id].seq, DELIVERED, now, now, 200),
        ],
    )
    assert outbox.due("d", now, 10) == []
    assert outbox.next_due_at("d") == pytest.approx(now + 60)
    later = outbox.due("d", now + 61, 10)
    assert [d.alert_id for d in later] == [a1.id]
    assert later[0].attempts == 1 and later[0].first_attempt_at == pytest.approx(now)
    outbox.record("d", [Outcome(later[0].seq, DELIVERED, now + 61, now + 61, 200)])
    assert [d.alert_id for d in outbox.due("d", now + 61, 10)] == [a2.id]


def test_retry_requeues_failed_and_disabled_and_reenables(outbox) -> None:
    outbox.register_endpoint("d", "https://d.example/hook")
    a, b = sample_alert("inc-a"), sample_alert("inc-b")
    outbox.emit(a)
    outbox.emit(b)
    outbox.route("d")
    now = time.time()
    da, db = outbox.due("d", now, 10)
    outbox.record(
        "d",
        [
            Outcome(da.seq, FAILED, now, now, 400, "HTTP 400: bad"),
            Outcome(db.seq, DISABLED, now, now, 410, "HTTP 410"),
        ],
        disable_reason="HTTP 410",
    )
    assert outbox.get(a.id).state == FAILED
    assert outbox.get(a.id).deliveries[0].last_error == "HTTP 400: bad"
    assert outbox.endpoint("d").disabled_reason == "HTTP 410"
    assert [e.alert.id for e in outbox.entries(state=FAILED)] == [a.id]
    with pytest.raises(StoreError, match="ambiguous"):
        outbox.retry(alert_id=a.id[:2])
    assert outbox.retry(alert_id=a.id) == 1
    assert outbox.get(a.id).state == PENDING
    assert outbox.endpoint("d").disabled_at is None
    assert outbox.retry() == 1
    assert outbox.counts()[PENDING] == 2
    assert outbox.get(b.id).deliveries[0].attempts == 0


def test_routed_alerts_go_only_where_they_were_sent(outbox) -> None:
    outbox.register_endpoint("d", "https://d.example/hook")
    t = sample_alert("test-1", is_test=True)
    outbox.emit(t, route=["test:x"])
    assert outbox.route("d") == 0
    assert [d.alert_id for d in outbox.due("test:x", time.time(), 5)] == [t.id]
    assert outbox.get(t.id).route == ["test:x"]


def test_lookups_and_bad_files_say_what_to_fix(outbox, tmp_path) -> None:
    with pytest.raises(StoreError, match="alerts list"):
        outbox.get("01NOPE")
    a = sample_alert()
    outbox.emit(a)
    assert outbox.get(a.id[:12]).alert == a  # a unique prefix is enough
    with pytest.raises(StoreError, match="state 'lost'"):
        outbox.entries(state="lost")
    with pytest.raises(StoreError, match="not registered"):
        outbox.route("nowhere")
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=r"junk\.sqlite"):
        Outbox(junk)
