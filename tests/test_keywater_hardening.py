"""Key-water files: duplicate keys, ids usable in alerts, margins and speeds that can be flown."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import geofences
from geofences import KeyWaterFileError
from geofences.ids import id_from_file_name, id_rule, is_valid_id
from geofences.loader import UniqueKeyLoader
from mission.planner import plan

SAMPLES = {p.name: p for p in geofences.sample_paths()}
RESERVOIR = SAMPLES["gqc-reservoir.yaml"].read_text(encoding="utf-8")


def with_patrol(tmp_path: Path, name: str, **patrol: float) -> Path:
    """A copy of sample ``name`` with ``patrol`` settings changed."""
    doc = yaml.safe_load(SAMPLES[name].read_text(encoding="utf-8"))
    doc.setdefault("patrol", {}).update(patrol)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def fails(path: Path) -> KeyWaterFileError:
    with pytest.raises(KeyWaterFileError) as info:
        geofences.load(path)
    return info.value


def test_a_second_top_level_key_is_refused_naming_file_key_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "lake.yaml"
    path.write_text(RESERVOIR + "patrol:\n  altitude_m: 100\n", encoding="utf-8")
    first = 1 + RESERVOIR.splitlines().index("patrol:")
    err = fails(path)
    assert err.path == str(path) and err.field == "patrol"
    assert f"lines {first} and {len(RESERVOIR.splitlines()) + 1}" in err.problem


def test_a_nested_duplicate_names_its_dotted_field(tmp_path: Path) -> None:
    path = tmp_path / "lake.yaml"
    text = RESERVOIR.replace("patrol:\n", "patrol:\n  altitude_m: 50\n  altitude_m: 60\n", 1)
    path.write_text(text, encoding="utf-8")
    assert fails(path).field == "patrol.altitude_m"


def test_merge_keys_may_still_be_overridden() -> None:
    doc = yaml.load("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  x: 3\n", Loader=UniqueKeyLoader)
    assert doc["b"] == {"x": 3, "y": 2}


def test_a_duplicate_json_key_is_refused(tmp_path: Path) -> None:
    src = SAMPLES["gqc-pond.geojson"].read_text(encoding="utf-8")
    doc = json.loads(src)
    text = json.dumps(doc)
    path = tmp_path / "pond.geojson"
    path.write_text(text.replace('{"type"', '{"type": "FeatureCollection", "type"', 1))
    err = fails(path)
    assert "'type' is given twice" in err.problem


def test_a_file_name_with_spaces_gives_a_valid_id(tmp_path: Path) -> None:
    path = tmp_path / "my lake (2).yaml"
    path.write_text(RESERVOIR.replace("id: gqc-reservoir\n", ""), encoding="utf-8")
    kw = geofences.load(path)
    assert kw.id == "my-lake-2"


def test_a_file_name_without_usable_letters_needs_an_id(tmp_path: Path) -> None:
    path = tmp_path / "鄱阳湖.yaml"
    path.write_text(RESERVOIR.replace("id: gqc-reservoir\n", ""), encoding="utf-8")
    err = fails(path)
    assert err.field == "id" and "id: " in err.problem


def test_an_explicit_id_longer_than_the_rule_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lake.yaml"
    path.write_text(RESERVOIR.replace("id: gqc-reservoir", "id: " + "a" * 65), encoding="utf-8")
    err = fails(path)
    assert err.field == "id" and "more than 64" in err.problem


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_derived_ids_are_valid_or_refused(stem: str) -> None:
    derived = id_from_file_name(stem)
    assert derived is None or is_valid_id(derived)


@settings(max_examples=100, deadline=None)
@given(st.from_regex(id_rule()[0], fullmatch=True).filter(lambda s: len(s) <= id_rule()[1]))
def test_every_valid_key_water_id_makes_valid_alert_ids(kw_id: str) -> None:
    """The station's rule (station/model.py) accepts every id the key-water rule allows,
    with the mission and incident ids built from it."""
    from mission.patrol import new_mission_id
    from station.model import Alert

    mission_id = new_mission_id(kw_id)
    Alert(
        incident_id=f"{mission_id}-inc-20250101T000000Z-abcd-0001",
        type="person_in_water",
        severity="critical",
        observed_at=datetime(2025, 1, 1, tzinfo=UTC),
        lat=29.2,
        lon=115.7,
        radius_m=5.0,
        people=1,
        confidence=0.9,
        vehicle_id="sim-1",
        mission_id=mission_id,
        water_id=kw_id,
        water_name="lake",
    )


@pytest.mark.parametrize("margin", [0, 1, 2, 4.9])
def test_a_fence_margin_too_narrow_to_fly_is_refused_at_load(tmp_path: Path, margin: float) -> None:
    err = fails(with_patrol(tmp_path, "gqc-reservoir.yaml", fence_margin_m=margin))
    assert err.field == "patrol.fence_margin_m" and "FENCE_MARGIN" in err.problem


def test_the_smallest_allowed_fence_margin_plans(tmp_path: Path) -> None:
    for name in ("gqc-lake.yaml", "gqc-reservoir.yaml", "gqc-river.yaml"):
        assert plan(geofences.load(with_patrol(tmp_path, name, fence_margin_m=5))).sorties


@pytest.mark.parametrize("speed", [0.01, 0.5])
def test_a_crawling_speed_is_refused_at_load(tmp_path: Path, speed: float) -> None:
    err = fails(with_patrol(tmp_path, "gqc-reservoir.yaml", speed_m_s=speed))
    assert err.field == "patrol.speed_m_s" and "1 to 20 m/s" in err.problem


def test_schema_and_model_defaults_stay_inside_the_new_ranges() -> None:
    p = geofences.PatrolSettings()
    kw = geofences.load(SAMPLES["gqc-lake.yaml"])
    assert p.fence_margin_m >= 5 and p.speed_m_s >= 1
    assert dataclasses.replace(kw.patrol).fence_margin_m >= 5
