"""QGroundControl .plan export: round trips, the structure QGC checks, and corrupt files."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from mission.errors import ExportError
from mission.export import read_plan
from mission.export.qgc_plan import write_plan
from mission.items import Cmd, Frame, MissionType, same_item
from tests.test_export_samples import FENCE_EXCLUSION_M, FENCE_INCLUSION_M, sample_plan


@pytest.fixture
def plan_path(tmp_path: Path) -> Path:
    plan = sample_plan()
    return write_plan(tmp_path / "lake.plan", plan.sorties[0], plan.fence, plan.rally, 7.5)


def _assert_same(got, want) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert same_item(a, b), f"item {i}: {a} != {b}"


def test_round_trip_gives_the_same_items(tmp_path: Path) -> None:
    plan = sample_plan()
    for sortie in plan.sorties:
        path = write_plan(tmp_path / f"s{sortie.index}.plan", sortie, plan.fence, plan.rally, 7.5)
        back = read_plan(path)
        _assert_same(back.mission, sortie.items)
        _assert_same(back.fence, plan.fence)
        _assert_same(back.rally, plan.rally)
        assert back.hover_speed_m_s == 7.5
        assert all(it.mission_type == MissionType.FENCE for it in back.fence)
        assert all(it.mission_type == MissionType.RALLY for it in back.rally)


def test_structure_matches_what_qgroundcontrol_loads(plan_path: Path) -> None:
    sortie = sample_plan().sorties[0]
    doc = json.loads(plan_path.read_text())
    assert (doc["fileType"], doc["version"], doc["groundStation"]) == ("Plan", 1, "waterpatrol")
    mission = doc["mission"]
    assert (mission["version"], mission["firmwareType"], mission["vehicleType"]) == (2, 3, 2)
    home = sortie.items[0]
    assert mission["plannedHomePosition"] == [home.lat, home.lon, home.z]
    # plannedHomePosition is item 0: the items array holds the rest.
    items = mission["items"]
    assert len(items) == len(sortie.items) - 1
    for seq, (obj, item) in enumerate(zip(items, sortie.items[1:], strict=True), start=1):
        assert obj["type"] == "SimpleItem"
        assert obj["doJumpId"] == seq
        assert (obj["command"], obj["frame"]) == (item.command, item.frame)
        assert obj["autoContinue"] is True
        assert len(obj["params"]) == 7
        if item.has_position:
            assert obj["params"][4:6] == [item.lat, item.lon]
            assert obj["Altitude"] == item.z == obj["params"][6]
            assert obj["AltitudeMode"] == 1  # relative to home
            assert obj["AMSLAltAboveTerrain"] is None
        else:
            assert "AltitudeMode" not in obj


def test_fence_polygons_keep_flags_and_vertex_order(plan_path: Path) -> None:
    plan = sample_plan()
    fence = json.loads(plan_path.read_text())["geoFence"]
    assert fence["version"] == 2 and fence["circles"] == []
    polys = fence["polygons"]
    assert [p["inclusion"] for p in polys] == [True, False]
    assert [len(p["polygon"]) for p in polys] == [len(FENCE_INCLUSION_M), len(FENCE_EXCLUSION_M)]
    assert all(p["version"] == 1 for p in polys)
    vertices = [v for p in polys for v in p["polygon"]]
    assert vertices == [[it.lat, it.lon] for it in plan.fence]
    rally = json.loads(plan_path.read_text())["rallyPoints"]
    assert rally["version"] == 2
    assert rally["points"] == [[r.lat, r.lon, r.z] for r in plan.rally]


def test_nan_param_is_null_in_the_file_and_nan_when_read(plan_path: Path) -> None:
    sortie = sample_plan().sorties[0]
    nan_seq = next(i for i, it in enumerate(sortie.items) if math.isnan(it.param4))
    obj = json.loads(plan_path.read_text())["mission"]["items"][nan_seq - 1]
    assert obj["params"][3] is None
    assert "NaN" not in plan_path.read_text()
    assert math.isnan(read_plan(plan_path).mission[nan_seq].param4)


def test_reads_a_file_as_qgroundcontrol_saves_it(tmp_path: Path) -> None:
    # Keys and values as QGroundControl writes them (sorted keys, its own
    # groundStation, globalPlanAltitudeMode, an empty legacy version-1 rally).
    doc = {
        "fileType": "Plan",
        "geoFence": {
            "circles": [
                {
                    "circle": {"center": [29.251, 115.801], "radius": 150.5},
                    "inclusion": True,
                    "version": 1,
                }
            ],
            "polygons": [],
            "version": 2,
        },
        "groundStation": "QGroundControl",
        "mission": {
            "cruiseSpeed": 15,
            "firmwareType": 3,
            "globalPlanAltitudeMode": 1,
            "hoverSpeed": 5,
            "items": [
                {
                    "AMSLAltAboveTerrain": None,
                    "Altitude": 30,
                    "AltitudeMode": 1,
                    "autoContinue": True,
                    "command": 22,
                    "doJumpId": 1,
                    "frame": 3,
                    "params": [0, 0, 0, None, 29.2501, 115.8001, 30],
                    "type": "SimpleItem",
                },
                {
                    "autoContinue": True,
                    "command": 20,
                    "doJumpId": 2,
                    "frame": 2,
                    "params": [0, 0, 0, 0, 0, 0, 0],
                    "type": "SimpleItem",
                },
            ],
            "plannedHomePosition": [29.25, 115.8, 21.5],
            "vehicleType": 2,
            "version": 2,
        },
        "rallyPoints": {"points": [], "version": 1},
        "version": 1,
    }
    path = tmp_path / "qgc.plan"
    path.write_text(json.dumps(doc, indent=4, sort_keys=True))
    got = read_plan(path)
    assert [it.command for it in got.mission] == [Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF, 20]
    assert got.mission[0].frame == Frame.GLOBAL and got.mission[0].z == 21.5
    assert (got.mission[1].x, got.mission[1].y, got.mission[1].z) == (292501000, 1158001000, 30)
    assert math.isnan(got.mission[1].param4)
    assert got.rally == ()
    (circle,) = got.fence
    assert circle.command == Cmd.NAV_FENCE_CIRCLE_INCLUSION and circle.param1 == 150.5


def _corrupt(tmp_path: Path, plan_path: Path, edit) -> Path:
    doc = json.loads(plan_path.read_text())
    edit(doc)
    bad = tmp_path / "bad.plan"
    bad.write_text(json.dumps(doc))
    return bad


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(fileType="Mission"), "fileType"),
        (lambda d: d.update(version=2), "version is 2, expected 1"),
        (lambda d: d["mission"].pop("plannedHomePosition"), "mission.plannedHomePosition"),
        (
            lambda d: d["mission"]["items"][2]["params"].pop(),
            "mission.items[2]: params must hold 7",
        ),
        (lambda d: d["mission"]["items"][0].update(type="ComplexItem"), 'only "SimpleItem"'),
        (lambda d: d["mission"]["items"][4]["params"].__setitem__(4, 129.3), "out of range"),
        (lambda d: d["mission"]["items"][1].update(command="16"), "command must be an integer"),
        (lambda d: d["geoFence"]["polygons"][0].update(polygon=[[29.2, 115.8]] * 2), ">= 3"),
        (lambda d: d["geoFence"]["polygons"][0].pop("inclusion"), "inclusion must be true"),
        (lambda d: d["rallyPoints"]["points"][0].pop(), "rallyPoints.points[0] must hold 3"),
        (lambda d: d["rallyPoints"].update(version=1), "rallyPoints.version is 1"),
        (lambda d: d.update(mission=[]), "mission must be a JSON object"),
    ],
)
def test_corrupt_plan_is_an_export_error_naming_file_and_field(
    tmp_path: Path, plan_path: Path, edit, message: str
) -> None:
    bad = _corrupt(tmp_path, plan_path, edit)
    with pytest.raises(ExportError) as err:
        read_plan(bad)
    assert str(bad) in str(err.value)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"fileType": "Plan", "version": 1, "mission": {', "not valid JSON (line 1"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", "not a text file"),
        (b'{"fileType": "Plan", "version": NaN}', "NaN is not valid JSON"),
        (b"[1, 2]", "the file must be a JSON object"),
        (b"", "not valid JSON"),
    ],
)
def test_unreadable_plan_files(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "x.plan"
    bad.write_bytes(content)
    with pytest.raises(ExportError, match=r"x\.plan") as err:
        read_plan(bad)
    assert message in str(err.value)


def test_fence_vertex_count_follows_the_polygon(tmp_path: Path, plan_path: Path) -> None:
    # A polygon edited in QGC (one vertex fewer) reads back with param1 = its new count.
    bad = _corrupt(tmp_path, plan_path, lambda d: d["geoFence"]["polygons"][1]["polygon"].pop(0))
    exclusion = [it for it in read_plan(bad).fence if it.command == 5002]
    assert len(exclusion) == len(FENCE_EXCLUSION_M) - 1
    assert {it.param1 for it in exclusion} == {len(FENCE_EXCLUSION_M) - 1}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="no such file"):
        read_plan(tmp_path / "nope.plan")


def test_bad_fence_vertex_count_is_refused_on_write(tmp_path: Path) -> None:
    plan = sample_plan()
    fence = (replace(plan.fence[0], param1=5.0), *plan.fence[1:])
    with pytest.raises(ExportError, match=r"bad\.plan: fence item 0: .*param1=5") as err:
        write_plan(tmp_path / "bad.plan", plan.sorties[0], fence, plan.rally, 7.5)
    assert not (tmp_path / "bad.plan").exists()
    assert "NAV_FENCE_POLYGON_VERTEX_INCLUSION" in str(err.value)


def test_fence_item_in_a_sortie_is_refused(tmp_path: Path) -> None:
    plan = sample_plan()
    sortie = replace(plan.sorties[0], items=(*plan.sorties[0].items, plan.fence[0]))
    with pytest.raises(ExportError, match="belongs in the fence"):
        write_plan(tmp_path / "x.plan", sortie, plan.fence, plan.rally, 7.5)
