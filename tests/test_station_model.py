"""The alert model: validation, follow-up chains, JSON round trip and the JSON Schema."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from station.errors import AlertError
from station.model import (
    SCHEMA_PATH,
    Alert,
    AlertStatus,
    Evidence,
    Severity,
    new_alert_id,
    validate_alert_dict,
)

BASE = dict(
    incident_id="inc-7",
    type="person_in_water",
    lat=29.2466,
    lon=115.7843,
    radius_m=8.0,
    people=1,
    observed_at="2025-06-01T08:30:00.123456Z",
    vehicle_id="uav-1",
    mission_id="m-2025-06-01",
    water_id="xihu",
    water_name="西湖 West Lake",
    confidence=0.91,
)


def make(**changes: object) -> Alert:
    return Alert(**{**BASE, **changes})  # type: ignore[arg-type]


def schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_plain_values_become_typed_and_defaults_fill_in() -> None:
    a = make()
    assert a.severity is Severity.HIGH  # the default for person_in_water
    assert a.status is AlertStatus.OPEN
    assert a.observed_at == datetime(2025, 6, 1, 8, 30, 0, 123000, tzinfo=UTC)
    assert "西湖" in a.text_zh and "1人" in a.text_zh
    assert "West Lake" in a.text_en and "1 person" in a.text_en
    assert make(type="gathering").severity is Severity.MEDIUM
    assert make(type="distress").severity is Severity.CRITICAL


def test_times_in_other_offsets_are_converted_to_utc() -> None:
    beijing = timezone(timedelta(hours=8))
    a = make(observed_at=datetime(2025, 6, 1, 16, 30, tzinfo=beijing))
    assert a.observed_at == datetime(2025, 6, 1, 8, 30, tzinfo=UTC)
    assert a.to_dict()["observed_at"] == "2025-06-01T08:30:00.000Z"


@pytest.mark.parametrize(
    ("field", "value", "expect"),
    [
        ("type", "drowning", "type"),
        ("lat", 91.0, "lat"),
        ("lon", float("nan"), "lon"),
        ("radius_m", -1.0, "radius_m"),
        ("people", 1.5, "people"),
        ("people", True, "people"),
        ("confidence", 1.2, "confidence"),
        ("incident_id", "has space", "incident_id"),
        ("vehicle_id", "a,b", "vehicle_id"),
        ("observed_at", "yesterday", "observed_at"),
        ("observed_at", datetime(2025, 6, 1, 8, 30), "observed_at"),  # naive
        ("water_name", " ", "water_name"),
        ("severity", "catastrophic", "severity"),
        ("text_en", "x" * 501, "text_en"),
    ],
)
def test_bad_values_name_the_field(field: str, value: object, expect: str) -> None:
    with pytest.raises(AlertError, match=rf"^{expect}:"):
        make(**{field: value})


def test_an_unknown_position_is_all_three_none() -> None:
    a = make(lat=None, lon=None, radius_m=None)
    assert "position unknown" in a.text_en and "未知" in a.text_zh
    assert Alert.from_json(a.to_json()) == a
    schema_validator().validate(a.to_dict())
    with pytest.raises(AlertError, match="together"):
        make(lat=None)
    half = {**make().to_dict(), "lon": None}
    with pytest.raises(jsonschema.ValidationError):
        schema_validator().validate(half)


def test_follow_ups_reference_the_open_alert_and_stay_ordered() -> None:
    first = make()
    update = first.follow_up(people=2)
    closed = update.follow_up(AlertStatus.CLOSED)
    assert update.status is AlertStatus.UPDATE and closed.status is AlertStatus.CLOSED
    assert update.first_alert_id == closed.first_alert_id == first.id
    assert update.first_sent_at == closed.first_sent_at == first.sent_at
    assert first.id < update.id < closed.id  # ULIDs sort by creation
    assert "2 people" in update.text_en and update.text_en.startswith("[Update]")
    assert "closed" in closed.text_en
    with pytest.raises(AlertError, match="closed"):
        closed.follow_up()
    with pytest.raises(AlertError, match="incident_id"):
        first.follow_up(incident_id="other")


def test_an_update_without_its_open_alert_is_refused() -> None:
    with pytest.raises(AlertError, match="follow_up"):
        make(status="update")
    with pytest.raises(AlertError, match="first_alert_id"):
        make(first_alert_id=new_alert_id(), first_sent_at="2025-06-01T08:30:00Z")


def test_ids_are_unique_and_sorted_even_within_one_millisecond() -> None:
    ids = [new_alert_id(now=1_750_000_000.0) for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(len(i) == 26 for i in ids)
    assert new_alert_id(now=1_750_000_001.0) > ids[-1]


def test_evidence_from_file_hashes_the_image(tmp_path) -> None:
    img = tmp_path / "evidence.jpg"
    img.write_bytes(b"\xff\xd8" + bytes(range(256)) * 40 + b"\xff\xd9")
    ev = Evidence.from_file(img)
    assert ev.size_bytes == img.stat().st_size
    assert ev.sha256 == hashlib.sha256(img.read_bytes()).hexdigest()
    with pytest.raises(AlertError, match="cannot read"):
        Evidence.from_file(tmp_path / "missing.jpg")
    with pytest.raises(AlertError, match="sha256"):
        Evidence(path="x.jpg", size_bytes=1, sha256="ABC")


def test_json_round_trip_is_exact_and_stable(tmp_path) -> None:
    img = tmp_path / "e.jpg"
    img.write_bytes(b"jpeg")
    a = make(evidence=Evidence.from_file(img)).follow_up(people=3)
    body = a.to_json()
    assert Alert.from_json(body) == a
    assert Alert.from_json(body).to_json() == body  # same bytes: signatures stay valid
    assert json.loads(body)["water_name"] == "西湖 West Lake"  # UTF-8, not \\u escapes
    assert "西湖".encode() in body


def test_from_dict_rejects_unknown_and_missing_fields() -> None:
    data = make().to_dict()
    with pytest.raises(AlertError, match=r"^colour: unknown"):
        Alert.from_dict({**data, "colour": "red"})
    del data["lat"]
    with pytest.raises(AlertError, match="lat"):
        Alert.from_dict(data)
    with pytest.raises(AlertError, match="not valid JSON"):
        Alert.from_json(b"{nope")


def test_every_kind_of_alert_validates_against_the_schema(tmp_path) -> None:
    validator = schema_validator()
    img = tmp_path / "e.jpg"
    img.write_bytes(b"jpeg")
    first = make(evidence=Evidence.from_file(img))
    for a in (
        first,
        first.follow_up(),
        first.follow_up("closed"),
        make(type="gathering", people=9),
    ):
        validator.validate(a.to_dict())
        validate_alert_dict(a.to_dict())


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda d: d.update(lat=95), "lat"),
        (lambda d: d.update(type="fire"), "type"),
        (lambda d: d.update(sent_at="2025-06-01 08:30"), "sent_at"),
        (lambda d: d.update(extra=1), "alert"),
        (lambda d: d.pop("incident_id"), "alert"),
        (lambda d: d.update(first_alert_id="01ABC"), "first_alert_id"),  # open with a reference
        (
            lambda d: d.update(evidence={"path": "x", "size_bytes": -1, "sha256": "0" * 64}),
            "evidence",
        ),
    ],
)
def test_the_schema_refuses_broken_documents(mutate, where: str) -> None:
    data = make().to_dict()
    mutate(data)
    with pytest.raises(jsonschema.ValidationError):
        schema_validator().validate(data)
    with pytest.raises(AlertError, match=rf"^{where}"):
        validate_alert_dict(data)
    with pytest.raises(AlertError):  # the receiver's check (the model) refuses it too
        Alert.from_dict(data)


@settings(max_examples=60, deadline=None)
@given(
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    radius=st.floats(0, 100_000),
    people=st.integers(0, 500),
    conf=st.floats(0, 1),
    name=st.text(min_size=1, max_size=40).filter(str.strip),
)
def test_any_valid_alert_round_trips_and_validates(lat, lon, radius, people, conf, name) -> None:
    a = make(lat=lat, lon=lon, radius_m=radius, people=people, confidence=conf, water_name=name)
    assert Alert.from_json(a.to_json()) == a
    validate_alert_dict(json.loads(a.to_json()))
