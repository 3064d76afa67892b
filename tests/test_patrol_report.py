"""The patrol report (Markdown, JSON, PNG map) and the demo's matching of alerts with the truth."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import geofences
from geofences.projection import LocalProjection
from mission.link.report import FlightReport
from mission.patrol import AlertRecord, IncidentRecord, PatrolResult, VideoStats
from mission.patrol_report import render_map, report_dict, report_markdown, write_report
from mission.planner import plan as make_plan
from sitl.camera import build_scene
from sitl.demo import POSITION_OK_M, next_speedup, pick_speedup, score
from station.inbox import InboxRow

POND = next(p for p in geofences.sample_paths() if p.name == "gqc-pond.geojson")
T0 = 1_748_766_600.0


@pytest.fixture(scope="module")
def pond():
    kw = geofences.load(POND)
    return kw, make_plan(kw, "shoreline")


def _flight(**changes: object) -> FlightReport:
    base = dict(
        completed=True,
        reason="mission complete, landed and disarmed",
        waypoints_total=16,
        waypoints_reached=16,
        max_off_path_m=1.6,
        fence_breaches=0,
        track_outside_fence=0,
        battery_used_pct=9.0,
        battery_used_mah=300.0,
        landing_from_launch_m=0.02,
        track_points=100,
        wall_s=33.0,
    )
    return FlightReport(**{**base, **changes})


def _alert(
    n: int, kind: str, lat: float, lon: float, status: str = "open", **changes: object
) -> AlertRecord:
    base = dict(
        id=f"ALERT{n:02d}",
        incident_id=f"m-1-{n:04d}",
        type=kind,
        severity="high",
        status=status,
        lat=lat,
        lon=lon,
        radius_m=4.0,
        people=1,
        confidence=0.7,
        emitted_at=T0 + 10 * n,
        evidence=None,
        delivery="delivered",
        delivered_at=T0 + 10 * n + 0.2,
    )
    return AlertRecord(**{**base, **changes})


def _result(kw, plan, alerts=(), flights=None, track=None, **changes) -> PatrolResult:
    lat0, lon0, _ = plan.home
    if track is None:
        track = tuple((T0 + i, lat0 + i * 1e-5, lon0, 20.0) for i in range(20))
    incidents = tuple(
        IncidentRecord(
            id=a.incident_id,
            type=a.type,
            severity=a.severity,
            lat=a.lat,
            lon=a.lon,
            uncertainty_m=a.radius_m,
            people=a.people,
            confidence=a.confidence,
            first_seen=a.emitted_at - 1,
            last_seen=a.emitted_at + 5,
            alerts=1,
            reason="in the water",
        )
        for a in alerts
        if a.status == "open"
    )
    base = dict(
        mission_id="m-1",
        key_water_id=kw.id,
        key_water_name=kw.name,
        pattern=plan.pattern,
        altitude_m=plan.altitude_m,
        speed_m_s=kw.patrol.speed_m_s,
        connect="tcp:127.0.0.1:5760",
        source="udp://127.0.0.1:5600",
        started_at=T0,
        ended_at=T0 + 120,
        outcome="completed",
        reason="1 sortie(s) flown and landed",
        plan={"summary": {"path_km": 0.45, "sorties": 1}},
        plan_files=(),
        flights=tuple(flights if flights is not None else [_flight()]),
        flight_ended_at=T0 + 100,
        track=track,
        detections=((T0 + 3, lat0 + 2e-4, lon0),),
        incidents=incidents,
        alerts=tuple(alerts),
        video=VideoStats(200, 5.0, 40, 0, 160.0, (1280, 720), ("video connected: opened",)),
        video_delay_s=0.3,
        time_scale=4.0,
        outbox="out/outbox.sqlite",
    )
    return PatrolResult(**{**base, **changes})


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    proj = LocalProjection.around(lat, lon)
    x, y = proj.to_xy(lon, lat)
    lon2, lat2 = proj.to_lonlat(x + east_m, y + north_m)
    return lat2, lon2


# -- the report ---------------------------------------------------------------------------


def test_the_report_lists_flights_incidents_and_alerts(pond) -> None:
    kw, plan = pond
    alerts = [
        _alert(1, "person_in_water", 29.2519, 115.8005, evidence="out/evidence/m-1-0001.jpg"),
        _alert(2, "person_in_water", 29.2519, 115.8005, status="closed"),
        _alert(3, "gathering", 29.2524, 115.8011, people=5, delivery="pending", delivered_at=None),
    ]
    result = _result(kw, plan, alerts)
    md = report_markdown(result, [("Extra", "text of the extra section")])
    for needle in ("m-1-0001", "m-1-0003", "ALERT02", "evidence/m-1-0001.jpg", "## Extra"):
        assert needle in md
    assert "alerts 2/3 delivered" in md  # one still pending
    assert "| 1 | yes | 16/16 | 1.6 m | 0 | 0 |" in md
    doc = report_dict(result)
    assert json.loads(json.dumps(doc))["all_delivered"] is False
    assert [i["id"] for i in doc["incidents"]] == ["m-1-0001", "m-1-0003"]
    assert doc["fence_ok"] is True and doc["flights"][0]["waypoints_reached"] == 16


def test_a_fence_breach_and_an_early_end_stand_out(pond) -> None:
    kw, plan = pond
    result = _result(
        kw,
        plan,
        flights=[_flight(completed=False, reason="disarmed in RTL", fence_breaches=1)],
        outcome="ended_early",
        reason="disarmed in RTL",
    )
    md = report_markdown(result)
    assert "**ended_early**" in md and "Fence: **LEFT**" in md and "no: disarmed in RTL" in md
    assert not result.fence_ok
    assert "No incidents." in md and "No alerts." in md


def test_write_report_writes_markdown_json_and_a_map(pond, tmp_path: Path) -> None:
    kw, plan = pond
    lat0, lon0, _ = plan.home
    result = _result(kw, plan, [_alert(1, "distress", lat0 + 5e-4, lon0)])
    truth = [(lat0 + 5e-4, lon0, "swimmer-1", "swimmer")]
    files = write_report(
        result, kw, plan, tmp_path / "run", truth=truth, extra={"demo": {"seed": 3}}
    )
    assert set(files) == {"markdown", "json", "map"}
    assert json.loads(files["json"].read_text())["demo"] == {"seed": 3}
    assert files["markdown"].read_text().startswith("# Patrol m-1")
    image = cv2.imdecode(np.frombuffer(files["map"].read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape == (1200, 1600, 3)


def test_the_map_draws_the_track_and_the_alerts(pond) -> None:
    kw, plan = pond
    lat0, lon0, _ = plan.home
    quiet = _result(kw, plan, track=())
    busy = _result(kw, plan, [_alert(1, "person_in_water", lat0 + 5e-4, lon0)])

    def pixels(png: bytes) -> np.ndarray:
        return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)

    a, b = pixels(render_map(quiet, kw, plan)), pixels(render_map(busy, kw, plan))
    assert a.shape == b.shape
    red = np.all(np.abs(b.astype(int) - (28, 25, 215)) < 30, axis=2)  # the alert marker (BGR)
    assert red.sum() > 50 and not np.all(np.abs(a.astype(int) - (28, 25, 215)) < 30, axis=2).any()


# -- matching alerts with the ground truth (the demo's score) -----------------------------


def test_the_score_matches_alerts_to_placed_people(pond) -> None:
    kw, plan = pond
    scene = build_scene(kw, 1, swimmers=2, group_size=5, walkers=1)
    s1, s2 = (p for p in scene.people if p.in_water)
    walker = next(p for p in scene.people if p.kind == "land_walker")
    group = [p for p in scene.people if p.kind == "shore_group"]
    glat = sum(p.lat for p in group) / len(group)
    glon = sum(p.lon for p in group) / len(group)
    alerts = [
        _alert(1, "person_in_water", *_offset(s1.lat, s1.lon, 3.0, 4.0)),  # 5 m off
        _alert(2, "distress", *_offset(s2.lat, s2.lon, 0.0, -12.0)),  # 12 m off: too far
        _alert(3, "gathering", glat, glon, people=5),
        _alert(4, "person_in_water", walker.lat, walker.lon),  # on land: wrong
        _alert(5, "person_in_water", s1.lat, s1.lon, status="closed"),
    ]
    result = _result(kw, plan, alerts)
    seen = {s1.id: T0 + 5.0, s2.id: T0 + 15.0, group[0].id: T0 + 25.0}
    stored = [
        InboxRow(i, a.id, a.emitted_at + 0.5, "application/json", a.id, a.incident_id, a.type,
                 a.status, "", False, 1)
        for i, a in enumerate(alerts)
    ]  # fmt: skip
    sc = score(scene, result, seen, stored)
    by_id = {p.id: p for p in sc.people}
    assert by_id[s1.id].error_m == pytest.approx(5.0, abs=0.05)
    assert by_id[s1.id].time_to_alert_s == pytest.approx(10.5 - 5.0)
    assert by_id[s2.id].alert_type == "distress"
    assert by_id[s2.id].error_m == pytest.approx(12.0, abs=0.05)
    assert sc.gathering_incidents == ("m-1-0003",) and sc.gathering_error_m < 0.01
    assert sc.land_person_in_water == (f"m-1-0004 near {walker.id}",)
    assert len(sc.false_alerts) == 1
    assert sc.alerts_stored == 5 and sc.duplicates_stored == 0 and sc.all_before_end
    failures = sc.failures()
    assert any(s2.id in f and f"{POSITION_OK_M:g} m" in f for f in failures)
    assert any("on land" in f for f in failures)
    assert len(failures) == 2


def test_the_score_finds_missed_swimmers_lost_and_duplicated_alerts(pond) -> None:
    kw, plan = pond
    scene = build_scene(kw, 2, swimmers=2, group_size=5, walkers=0)
    s1 = next(p for p in scene.people if p.in_water)
    alerts = [_alert(1, "person_in_water", s1.lat, s1.lon, emitted_at=T0 + 200)]
    result = _result(kw, plan, alerts)
    late = InboxRow(1, "ALERT01", T0 + 201, "application/json", "ALERT01", "m-1-0001",
                    "person_in_water", "open", "", False, 2)  # fmt: skip
    stranger = InboxRow(2, "OTHER", T0 + 1, "application/json", "OTHER", "x", "gathering",
                        "open", "", False, 1)  # fmt: skip
    sc = score(scene, result, {}, [late, stranger])
    assert not sc.all_before_end  # stored after the flight ended (T0 + 100)
    assert sc.duplicates_stored == 1 and sc.receipts_over_one == 1
    missed = [p for p in sc.people if p.in_water and not p.alerted]
    assert len(missed) == 1
    text = " ".join(sc.failures())
    assert "never alerted" in text and "gathering was alerted 0 times" in text


def test_speedup_follows_the_footprint() -> None:
    # 5 fps, 15.4 m along track, 10 m/s, 5 frames: 1.54x
    assert pick_speedup(5.0, 15.4, 10.0, 5) == pytest.approx(1.54)
    assert pick_speedup(100.0, 15.4, 1.0, 5) == 8.0  # clamped
    assert pick_speedup(0.1, 15.4, 10.0, 5) == 1.0
    # a group 7 m long limits it: 4 frames over (15.4 - 7) m
    assert pick_speedup(5.0, 15.4, 10.0, 5, 7.0) == pytest.approx(5.0 * 8.4 / 4 / 10.0)


def test_the_speedup_follows_the_pipeline_rate_in_steps_within_bounds() -> None:
    def speed_for(fps: float) -> float:
        return fps / 2.0

    assert next_speedup(2.0, 4.2, speed_for, (1.0, 4.0)) is None  # 2.1: within the step
    assert next_speedup(2.0, 2.0, speed_for, (1.0, 4.0)) == 1.0  # slower pipeline
    assert next_speedup(2.0, 1.0, speed_for, (1.0, 4.0)) == 1.0  # never below the bound
    assert next_speedup(2.0, 20.0, speed_for, (1.0, 4.0)) == pytest.approx(2.3)  # up: one step
    assert next_speedup(3.9, 20.0, speed_for, (1.0, 4.0)) is None  # within a step of the bound
    assert next_speedup(3.0, 20.0, speed_for, (1.0, 4.0)) == pytest.approx(3.45)
    assert next_speedup(2.0, 0.0, speed_for, (1.0, 4.0)) is None  # no frames yet
