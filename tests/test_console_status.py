"""Patrols report in: status reports built from a vehicle's telemetry and sent to a real
station receiver about once a second, stored as that drone's track."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from console.store import ConsoleStore
from mission.status_report import start_reporting, telemetry_report
from station.config import Endpoint
from station.errors import AlertError
from station.receiver import Receiver
from station.status import StatusSender, parse_status, status_message, status_url
from tests.console_support import KEY, SECRET


def _snap(**changes):
    base = dict(
        last_heartbeat=100.0,
        custom_mode=3,  # AUTO
        lat=29.23,
        lon=115.77,
        alt_rel_m=40.0,
        heading_deg=271.5,
        groundspeed_m_s=8.0,
        battery_pct=76.0,
    )
    return SimpleNamespace(**{**base, **changes})


def test_a_report_from_telemetry() -> None:
    r = telemetry_report(_snap(), vehicle_id="uav-1", mission_id="m-1", water_id="w", now=101.0)
    assert r is not None
    assert (r["mode"], r["link"], r["lat"], r["heading_deg"], r["battery_pct"]) == (
        "AUTO",
        "ok",
        29.23,
        271.5,
        76.0,
    )
    stale = telemetry_report(_snap(), vehicle_id="u", mission_id="m", water_id="w", now=110.0)
    assert stale is not None and stale["link"] == "degraded"
    no_fix = telemetry_report(
        _snap(lat=None, lon=None), vehicle_id="u", mission_id="m", water_id="w", now=101.0
    )
    assert no_fix is not None and no_fix["lat"] is None
    assert (
        telemetry_report(_snap(last_heartbeat=None), vehicle_id="u", mission_id="m", water_id="w")
        is None
    )


def test_reports_are_checked_field_by_field() -> None:
    good = status_message(vehicle_id="uav-1", mission_id="m", water_id="w", lat=1.0, lon=2.0)
    assert parse_status(good) == good
    for change, name in (
        ({"battery_pct": 120}, "battery_pct"),
        ({"heading_deg": "north"}, "heading_deg"),
        ({"sortie": 1.5}, "sortie"),
        ({"mode": ""}, "mode"),
        ({"sent_at": "yesterday"}, "sent_at"),
    ):
        with pytest.raises(AlertError, match=name):
            parse_status({**good, **change})
    assert status_url("http://h:8088/alerts") == "http://h:8088/status"


def test_a_sender_reports_about_once_a_second(tmp_path, monkeypatch) -> None:
    target = tmp_path / "station.sqlite"
    monkeypatch.setenv("WATERPATROL_WEBHOOK_SECRET", SECRET)
    lat = [29.2300]

    def source():
        lat[0] += 0.0001
        return telemetry_report(
            _snap(lat=lat[0], last_heartbeat=time.monotonic()),
            vehicle_id="uav-9",
            mission_id="m-9",
            water_id="gqc-lake",
        )

    with Receiver(target, [KEY]) as receiver:
        sender = start_reporting([Endpoint(url=receiver.url)], source)
        assert isinstance(sender, StatusSender)
        time.sleep(2.5)
        sender.stop()
    assert sender.failed == 0 and 2 <= sender.sent <= 4
    with ConsoleStore(target) as store:
        [v] = store.vehicles()
    assert v["vehicle_id"] == "uav-9" and v["mode"] == "AUTO"
    assert len(v["track"]) == sender.sent
    assert [p[0] for p in v["track"]] == sorted(p[0] for p in v["track"])  # flown in order


def test_a_sender_without_a_station_drops_reports_and_carries_on(monkeypatch) -> None:
    monkeypatch.setenv("WATERPATROL_WEBHOOK_SECRET", SECRET)
    report = status_message(vehicle_id="u", mission_id="m", water_id="w", lat=1.0, lon=2.0)
    sender = StatusSender(["http://127.0.0.1:9/alerts"], [SECRET], lambda: report, period_s=0.1)
    with sender:
        time.sleep(0.5)
    assert sender.sent == 0 and sender.failed >= 2


def test_the_simulated_vehicle_reports_its_position(sim_vehicle, tmp_path, monkeypatch) -> None:
    from mission.link.connection import open_link
    from mission.status_report import fly_reporter

    monkeypatch.setenv("WATERPATROL_WEBHOOK_SECRET", SECRET)
    target = tmp_path / "station.sqlite"
    conn = open_link(sim_vehicle.url, connect_timeout_s=20, ready_timeout_s=60)
    try:
        with Receiver(target, [KEY]) as receiver:
            sender = fly_reporter(receiver.url, conn, "gqc pond plan")
            assert sender is not None
            time.sleep(1.6)
            sender.stop()
    finally:
        conn.close()
    with ConsoleStore(target) as store:
        [v] = store.vehicles()
    home_lat, home_lon, _ = sim_vehicle.home
    assert v["water_id"] == "gqc-pond-plan" and v["link"] == "ok"
    assert v["lat"] == pytest.approx(home_lat, abs=1e-4)
    assert v["lon"] == pytest.approx(home_lon, abs=1e-4)
