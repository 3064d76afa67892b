"""``waterpatrol patrol`` and ``waterpatrol demo`` as commands, and how a patrol fails:
no video, no dispatch secret, bad options, and the video lost in flight (the vehicle
goes home)."""

from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

import geofences
from detection.sources import StreamPublisher
from mission.patrol import Patrol, PatrolError, PatrolOptions
from mission.patrol_cli import (
    EXIT_EARLY,
    EXIT_INTERRUPTED,
    EXIT_LINK_LOST,
    EXIT_UNDELIVERED,
    exit_code,
    patrol,
    status_text,
)
from sitl.demo import demo
from sitl.endpoints import free_port
from station.config import Endpoint
from station.errors import SecretError
from station.receiver import Receiver
from station.signing import generate_secret, parse_secret
from tests.test_patrol_report import _alert, _result

POND = next(p for p in geofences.sample_paths() if p.name == "gqc-pond.geojson")
SECRET_ENV = "WATERPATROL_TEST_PATROL_SECRET"


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("patrol")(patrol)
    app.command("demo")(demo)
    return app


def test_both_commands_explain_themselves() -> None:
    runner = CliRunner()
    out = runner.invoke(_app(), ["patrol", "--help"], terminal_width=200)
    assert out.exit_code == 0, out.output
    for option in ("--connect", "--source", "--dispatch", "--json", "--out", "--video-delay"):
        assert option in out.output
    out = runner.invoke(_app(), ["demo", "--help"], terminal_width=200)
    assert out.exit_code == 0, out.output
    for option in ("--out", "--speedup", "--seed", "--json"):
        assert option in out.output


def test_a_bad_dispatch_url_is_an_operator_error() -> None:
    out = CliRunner().invoke(
        _app(),
        ["patrol", str(POND), "-c", "tcp:127.0.0.1:1", "--source", "udp://127.0.0.1:1",
         "--dispatch", "ftp://dispatch"],
    )  # fmt: skip
    assert isinstance(out.exception, PatrolError)
    assert "--dispatch" in str(out.exception) and "http" in str(out.exception)


def test_a_missing_secret_stops_the_patrol_before_anything_flies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SECRET_ENV, raising=False)
    out = CliRunner().invoke(
        _app(),
        ["patrol", str(POND), "-c", "tcp:127.0.0.1:1", "--source", "udp://127.0.0.1:1",
         "--dispatch", "http://127.0.0.1:1/alerts", "--secret-env", SECRET_ENV,
         "--out", str(tmp_path), "--outbox", str(tmp_path / "outbox.sqlite")],
    )  # fmt: skip
    assert isinstance(out.exception, SecretError)
    assert SECRET_ENV in str(out.exception)


def test_no_video_is_reported_in_seconds_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, generate_secret())
    options = PatrolOptions(
        connect="tcp:127.0.0.1:1",
        source=f"udp://127.0.0.1:{free_port()}",  # nobody sends there
        endpoints=(Endpoint("http://127.0.0.1:1/alerts", secret_env=SECRET_ENV),),
        out_dir=tmp_path,
        video_timeout_s=2.0,
    )
    t0 = time.monotonic()
    with pytest.raises(PatrolError, match="no video from udp://"):
        Patrol(geofences.load(POND), options).run()
    assert time.monotonic() - t0 < 15.0
    assert (tmp_path / "plan" / "gqc-pond-sortie1.plan").is_file()  # planned before it gave up


def test_exit_codes_follow_the_outcome() -> None:
    kw = geofences.load(POND)
    from mission.planner import plan

    base = _result(kw, plan(kw), [_alert(1, "person_in_water", 29.25, 115.8)])
    assert exit_code(base) == 0
    undelivered = dataclasses.replace(
        base, alerts=(dataclasses.replace(base.alerts[0], delivery="pending"),)
    )
    assert exit_code(undelivered) == EXIT_UNDELIVERED
    for outcome, code in (
        ("ended_early", EXIT_EARLY),
        ("link_lost", EXIT_LINK_LOST),
        ("interrupted", EXIT_INTERRUPTED),
        ("error", 1),
    ):
        assert exit_code(dataclasses.replace(base, outcome=outcome)) == code


def test_the_status_line_shows_what_the_operator_watches(tmp_path: Path) -> None:
    options = PatrolOptions(
        connect="tcp:127.0.0.1:1",
        source="udp://127.0.0.1:1",
        endpoints=(Endpoint("http://127.0.0.1:1/alerts"),),
        out_dir=tmp_path,
    )
    st = Patrol(geofences.load(POND), options).status()
    line = status_text(st)
    for needle in ("sortie 0/0", "waypoint 0 of 0", "battery -", "fps", "open incidents 0"):
        assert needle in line


@pytest.mark.slow
def test_video_lost_in_flight_sends_the_vehicle_home(
    tmp_path: Path, sim_vehicle_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream dies mid-flight: the patrol stops flying blind, RTL, and follows it down."""
    secret = generate_secret()
    monkeypatch.setenv(SECRET_ENV, secret)
    kw = geofences.load(POND)
    ep = sim_vehicle_factory(home=(kw.launch.lat, kw.launch.lon, kw.launch.alt_amsl_m))
    water = np.zeros((360, 640, 3), np.uint8)
    water[:] = (140, 110, 60)
    publisher = StreamPublisher(free_port(), (640, 360), fps=10).start()
    stop_sending = threading.Event()

    def send() -> None:
        while not stop_sending.is_set():
            publisher.send(water)
            time.sleep(0.1)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    with Receiver(tmp_path / "station.sqlite", [parse_secret(secret)]) as receiver:
        options = PatrolOptions(
            connect=ep.url,
            source=publisher.url,
            endpoints=(Endpoint(receiver.url, secret_env=SECRET_ENV),),
            out_dir=tmp_path,
            time_scale=20.0,
            video_give_up_s=3.0,
        )
        runner = Patrol(kw, options)

        def cut_the_video() -> None:
            deadline = time.monotonic() + 120
            while "flying" not in runner.status().stage and time.monotonic() < deadline:
                time.sleep(0.1)
            stop_sending.set()
            sender.join()
            publisher.stop()

        threading.Thread(target=cut_the_video, daemon=True).start()
        try:
            result = runner.run()
        finally:
            stop_sending.set()
            sender.join()
            publisher.stop()
    assert result.outcome == "error"
    assert "detection failed" in result.reason and "RTL" in result.reason
    snap = ep.vehicle.snapshot()
    assert not snap.armed and snap.landed
    assert snap.mode == "RTL"
    assert result.flights == ()  # the sortie never completed
    assert exit_code(result) == 1
