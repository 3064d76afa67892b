"""The station commands: alerts list/show/retry/export/test/deliver and station serve/alerts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from station.cap import CAP_NS
from station.cli import alerts_app, station_app
from station.errors import ConfigError, DeliveryError, SecretError
from station.model import Alert
from station.outbox import FAILED, Outbox, Outcome
from station.receiver import Receiver
from station.signing import generate_secret, parse_secret
from tests.station_samples import SAMPLE

ROOT = Path(__file__).resolve().parents[1]
SECRET = generate_secret()
runner = CliRunner()


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("WATERPATROL_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("WATERPATROL_HOME", str(tmp_path / "home"))


@pytest.fixture
def filled(tmp_path):
    """An outbox with one failed and one pending alert; returns (db, failed, pending)."""
    db = tmp_path / "outbox.sqlite"
    with Outbox(db) as ob:
        ob.register_endpoint("dispatch", "https://d.example/hook")
        bad = Alert(incident_id="inc-1", **SAMPLE)  # type: ignore[arg-type]
        ok = Alert(incident_id="inc-2", **{**SAMPLE, "type": "gathering", "people": 8})  # type: ignore[arg-type]
        ob.emit(bad)
        ob.emit(ok)
        ob.route("dispatch")
        d = ob.due("dispatch", time.time(), 10)[0]
        now = time.time()
        ob.record("dispatch", [Outcome(d.seq, FAILED, now, now, 400, "HTTP 400: nope")])
    return db, bad, ok


def invoke(app, *args: str):
    return runner.invoke(app, list(args), catch_exceptions=True)


def test_list_show_and_filters(filled) -> None:
    db, bad, ok = filled
    res = invoke(alerts_app, "list", "--db", str(db))
    assert res.exit_code == 0, res.output
    assert bad.id in res.output and ok.id in res.output and "HTTP 400: nope" in res.output
    res = invoke(alerts_app, "list", "--db", str(db), "--state", "failed", "--json")
    data = json.loads(res.output)
    assert [e["alert"]["id"] for e in data] == [bad.id]
    assert data[0]["deliveries"][0]["last_status"] == 400
    unique = next(i for i, (x, y) in enumerate(zip(bad.id, ok.id, strict=True)) if x != y) + 1
    res = invoke(alerts_app, "show", bad.id[:unique], "--db", str(db), "--json")
    assert json.loads(res.output)["alert"]["incident_id"] == "inc-1"
    res = invoke(alerts_app, "show", bad.id, "--db", str(db))
    assert "failed" in res.output and "HTTP 400: nope" in res.output
    res = invoke(alerts_app, "show", "ZZZZ", "--db", str(db))
    assert res.exit_code != 0 and "no alert 'ZZZZ'" in str(res.exception)


def test_retry_requeues(filled) -> None:
    db, bad, _ = filled
    res = invoke(alerts_app, "retry", "--db", str(db), "--json")
    assert json.loads(res.output) == {"requeued": 1}
    with Outbox(db) as ob:
        assert ob.get(bad.id).state == "pending"


def test_export_json_and_cap(filled, tmp_path) -> None:
    db, bad, _ = filled
    res = invoke(alerts_app, "export", bad.id, "--db", str(db))
    assert Alert.from_dict(json.loads(res.output)) == bad
    out = tmp_path / "alert.xml"
    res = invoke(alerts_app, "export", bad.id, "--cap", "--out", str(out), "--db", str(db))
    assert res.exit_code == 0, res.output
    root = ET.parse(out).getroot()
    assert root.tag == f"{{{CAP_NS}}}alert"
    assert root.findtext(f"{{{CAP_NS}}}identifier") == bad.id


def test_alerts_test_exits_0_only_when_acknowledged(tmp_path) -> None:
    db = tmp_path / "outbox.sqlite"
    with Receiver(tmp_path / "station.sqlite", [parse_secret(SECRET)]) as r:
        res = invoke(alerts_app, "test", "--dispatch", r.url, "--db", str(db), "--json")
        assert res.exit_code == 0, res.output
        result = json.loads(res.output)
        assert (result["state"], result["http_status"]) == ("delivered", 200)
        [row] = r.inbox.rows()
        assert row.is_test and row.alert_id == result["alert_id"]
        res = invoke(alerts_app, "test", "--dispatch", r.url, "--format", "cap", "--db", str(db))
        assert res.exit_code == 0 and res.output.startswith("ok:")
        assert r.inbox.rows()[0].content_type == "application/cap+xml"
    # the real outbox path was used, and the test alert went nowhere else
    with Outbox(db) as ob:
        entries = ob.entries()
        assert len(entries) == 2 and all(
            e.alert.is_test and e.state == "delivered" for e in entries
        )
        assert ob.endpoints() == []


def test_alerts_test_fails_on_a_refusal_or_no_answer(tmp_path, monkeypatch) -> None:
    db = tmp_path / "outbox.sqlite"
    monkeypatch.setenv("WRONG", generate_secret())
    with Receiver(tmp_path / "station.sqlite", [parse_secret(SECRET)]) as r:
        res = invoke(
            alerts_app, "test", "--dispatch", r.url, "--secret-env", "WRONG", "--db", str(db)
        )
        assert res.exit_code != 0
        assert isinstance(res.exception, DeliveryError) and "HTTP 401" in str(res.exception)
    res = invoke(
        alerts_app,
        "test",
        "--dispatch",
        "http://127.0.0.1:9/alerts",
        "--timeout",
        "1",
        "--db",
        str(db),
    )
    assert isinstance(res.exception, DeliveryError) and "ConnectError" in str(res.exception)
    with Outbox(db) as ob:
        assert {e.state for e in ob.entries()} == {"failed"}  # nothing left pending forever


def test_operator_mistakes_are_station_errors(tmp_path, monkeypatch) -> None:
    res = invoke(alerts_app, "deliver", "--db", str(tmp_path / "o.sqlite"))
    assert isinstance(res.exception, ConfigError) and "--dispatch" in str(res.exception)
    res = invoke(
        alerts_app, "deliver", "--dispatch", "localhost:80", "--db", str(tmp_path / "o.sqlite")
    )
    assert isinstance(res.exception, ConfigError) and str(res.exception).startswith(
        "--dispatch: url"
    )
    monkeypatch.delenv("WATERPATROL_WEBHOOK_SECRET")
    res = invoke(station_app, "serve", "--port", "0", "--db", str(tmp_path / "s.sqlite"))
    assert isinstance(res.exception, SecretError)
    res = invoke(station_app, "alerts", "--db", str(tmp_path / "absent.sqlite"))
    assert "station serve" in str(res.exception)


def test_help_texts() -> None:
    for app, cmds in (
        (alerts_app, ["list", "show", "retry", "export", "test", "deliver"]),
        (station_app, ["serve", "alerts"]),
    ):
        for cmd in cmds:
            res = invoke(app, cmd, "--help")
            assert res.exit_code == 0 and "Usage" in res.output, cmd


def test_serve_and_deliver_as_processes(tmp_path) -> None:
    """The real commands in their own processes: serve, test, deliver, list, and a clean stop."""
    env = {**os.environ, "WATERPATROL_WEBHOOK_SECRET": SECRET, "WATERPATROL_HOME": str(tmp_path)}
    cmd = [sys.executable, "-m", "station"]
    serve = subprocess.Popen(
        [*cmd, "station", "serve", "--port", "0"],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    deliver = None
    try:
        line = serve.stderr.readline()
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+/alerts)", line)
        assert match, line
        url = match.group(1)
        out = subprocess.run(
            [*cmd, "alerts", "test", "--dispatch", url],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0 and out.stdout.startswith("ok:"), out.stderr
        bad = subprocess.run(
            [*cmd, "alerts", "show", "nope"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert bad.returncode == 1 and bad.stderr.startswith("error: no alert 'nope'")
        assert len(bad.stderr.strip().splitlines()) == 1
        deliver = subprocess.Popen(
            [*cmd, "alerts", "deliver", "--dispatch", url],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        with Outbox(tmp_path / "outbox.sqlite") as ob:
            a = Alert(incident_id="inc-proc", **SAMPLE)  # type: ignore[arg-type]
            ob.emit(a)
            deadline = time.monotonic() + 30
            while ob.get(a.id).state != "delivered":
                assert time.monotonic() < deadline and deliver.poll() is None
                time.sleep(0.05)
        listed = subprocess.run(
            [*cmd, "station", "alerts", "--json"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert a.id in {r["alert_id"] for r in json.loads(listed.stdout)}
    finally:
        for proc in (deliver, serve):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
    assert deliver.wait(timeout=20) == 0
    assert serve.wait(timeout=20) == 0
