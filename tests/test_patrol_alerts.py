"""Incident -> station alert: the mapping of one patrol's incident events, and rule timers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from detection.incidents import Incident
from geofences.model import RuleSettings
from mission.patrol import (
    AlertContext,
    PatrolError,
    PatrolOptions,
    incident_alert,
    new_mission_id,
    scaled_rules,
)
from station.config import Endpoint
from station.model import AlertStatus, Evidence, validate_alert_dict

CTX = AlertContext("gqc-lake-20250601T083000Z-ab12", "drone-7", "gqc-lake", "Gongqingcheng lake")


def _incident(**changes: object) -> Incident:
    base = Incident(
        id="gqc-lake-20250601T083000Z-ab12-0003",
        type="person_in_water",
        severity="high",
        status="open",
        lat=29.2331,
        lon=115.7771,
        uncertainty_m=3.8,
        people=1,
        first_seen=1_748_766_600.25,
        last_seen=1_748_766_601.5,
        confidence=0.71,
        track_ids=(4,),
        evidence_frame=120,
        evidence_t=1_748_766_601.0,
        reason="in the water",
    )
    return dataclasses.replace(base, **changes)


def test_an_open_incident_becomes_an_open_alert_with_its_facts() -> None:
    inc = _incident()
    alert = incident_alert(inc, CTX)
    assert alert.status is AlertStatus.OPEN
    assert alert.incident_id == inc.id  # already carries the mission id: not prefixed twice
    assert (str(alert.type), str(alert.severity)) == ("person_in_water", "high")
    assert (alert.lat, alert.lon, alert.radius_m) == (inc.lat, inc.lon, inc.uncertainty_m)
    assert alert.people == 1 and alert.confidence == pytest.approx(0.71)
    assert alert.observed_at == datetime.fromtimestamp(1_748_766_601.0, UTC)
    assert (alert.vehicle_id, alert.mission_id, alert.water_id) == (
        "drone-7",
        CTX.mission_id,
        "gqc-lake",
    )
    # the texts are the station's: both languages, naming the water
    assert "Gongqingcheng lake" in alert.text_en and "Gongqingcheng lake" in alert.text_zh
    assert "有人落水" in alert.text_zh
    validate_alert_dict(alert.to_dict())


def test_an_incident_id_without_the_mission_gets_it_as_prefix() -> None:
    alert = incident_alert(_incident(id="inc-0001"), CTX)
    assert alert.incident_id == f"{CTX.mission_id}-inc-0001"


def test_the_same_incident_number_in_two_missions_gives_two_station_incidents() -> None:
    first = new_mission_id("gqc-lake")
    second = new_mission_id("gqc-lake")
    assert first != second
    ids = {
        incident_alert(_incident(id="inc-0001"), dataclasses.replace(CTX, mission_id=m)).incident_id
        for m in (first, second)
    }
    assert len(ids) == 2


def test_updates_and_the_close_follow_up_the_open_alert(tmp_path) -> None:
    jpeg = tmp_path / "ev.jpg"
    jpeg.write_bytes(b"\xff\xd8\xff\xd9")
    opened = incident_alert(_incident(), CTX, evidence=Evidence.from_file(jpeg))
    escalated = incident_alert(
        _incident(status="update", type="distress", severity="critical", evidence_t=1_748_766_603),
        CTX,
        opened,
    )
    assert escalated.status is AlertStatus.UPDATE
    assert escalated.id != opened.id
    assert escalated.first_alert_id == opened.id and escalated.first_sent_at == opened.sent_at
    assert str(escalated.type) == "distress" and str(escalated.severity) == "critical"
    assert escalated.evidence == opened.evidence  # kept until a newer image comes
    assert escalated.text_en.startswith("[Update]")
    closed = incident_alert(_incident(status="closed", last_seen=1_748_766_640.0), CTX, escalated)
    assert closed.status is AlertStatus.CLOSED
    assert closed.first_alert_id == opened.id
    assert closed.observed_at == datetime.fromtimestamp(1_748_766_640.0, UTC)
    for a in (escalated, closed):
        validate_alert_dict(a.to_dict())


def test_an_incident_without_a_position_is_sent_without_one() -> None:
    alert = incident_alert(_incident(lat=None, lon=None, uncertainty_m=None), CTX)
    assert (alert.lat, alert.lon, alert.radius_m) == (None, None, None)
    assert "unknown" in alert.text_en
    # half a position is no position
    half = incident_alert(_incident(uncertainty_m=None), CTX)
    assert half.lat is None and half.radius_m is None


def test_a_gathering_keeps_its_head_count_and_confidence_is_kept_in_range() -> None:
    alert = incident_alert(
        _incident(type="gathering", severity="medium", people=6, confidence=1.0000001), CTX
    )
    assert str(alert.type) == "gathering" and alert.people == 6
    assert alert.confidence == 1.0
    assert "6 people" in alert.text_en


def test_rule_timers_are_in_wall_seconds_for_a_faster_vehicle() -> None:
    rules = RuleSettings(gathering_hold_s=5.0, still_seconds=20.0, incident_close_s=30.0)
    fast = scaled_rules(rules, 4.0)
    assert (fast.gathering_hold_s, fast.still_seconds, fast.incident_close_s) == (1.25, 5.0, 7.5)
    assert fast.in_water_frames == rules.in_water_frames  # frames are not time
    assert scaled_rules(rules, 1.0) == rules


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"endpoints": ()}, "--dispatch"),
        ({"video_delay_s": -1.0}, "video delay"),
        ({"time_scale": 0.0}, "time scale"),
        ({"conf": 1.5}, "confidence"),
    ],
)
def test_bad_options_say_what_to_fix(changes: dict, needle: str) -> None:
    base = {
        "connect": "tcp:127.0.0.1:5760",
        "source": "udp://127.0.0.1:5600",
        "endpoints": (Endpoint("http://127.0.0.1:8080/alerts"),),
    }
    with pytest.raises(PatrolError, match=needle):
        PatrolOptions(**{**base, **changes})
