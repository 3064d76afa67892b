"""QGC WPL 110 export: round trips, the line format, pymavlink reading it, and corrupt files."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mission.errors import ExportError
from mission.export import read_waypoints
from mission.export.waypoints import write_waypoints
from mission.items import Frame, MissionType, same_item
from tests.test_export_samples import sample_plan


def _assert_same(got, want) -> None:
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert same_item(a, b), f"item {i}: {a} != {b}"
        assert a.autocontinue == b.autocontinue


def test_mission_fence_and_rally_round_trip(tmp_path: Path) -> None:
    plan = sample_plan()
    for name, items in [
        ("s1", plan.sorties[0].items),
        ("s2", plan.sorties[1].items),
        ("fence", plan.fence),
        ("rally", plan.rally),
    ]:
        back = read_waypoints(write_waypoints(tmp_path / f"{name}.waypoints", items))
        _assert_same(back, items)
    assert {it.mission_type for it in read_waypoints(tmp_path / "fence.waypoints")} == {
        MissionType.FENCE
    }
    assert {it.mission_type for it in read_waypoints(tmp_path / "rally.waypoints")} == {
        MissionType.RALLY
    }


def test_line_format(tmp_path: Path) -> None:
    sortie = sample_plan().sorties[0]
    lines = write_waypoints(tmp_path / "m.waypoints", sortie.items).read_text().splitlines()
    assert lines[0] == "QGC WPL 110"
    rows = [line.split("\t") for line in lines[1:]]
    assert len(rows) == len(sortie.items)
    assert all(len(r) == 12 for r in rows)
    assert [int(r[0]) for r in rows] == list(range(len(rows)))
    assert [int(r[1]) for r in rows] == [1] + [0] * (len(rows) - 1)  # home is current
    home = sortie.items[0]
    assert rows[0][2:4] == [str(Frame.GLOBAL.value), "16"]
    assert (float(rows[0][8]), float(rows[0][9]), float(rows[0][10])) == (
        home.lat,
        home.lon,
        home.z,
    )
    assert any(r[7] == "NaN" for r in rows)


def test_fence_file_has_no_home_line(tmp_path: Path) -> None:
    plan = sample_plan()
    lines = write_waypoints(tmp_path / "f.waypoints", plan.fence).read_text().splitlines()
    first = lines[1].split("\t")
    assert first[1] == "0" and int(first[3]) == plan.fence[0].command
    assert len(lines) == len(plan.fence) + 1


def test_pymavlink_loads_the_mission_file(tmp_path: Path) -> None:
    # pymavlink's loaders are what MAVProxy's `wp load`, `fence load`, `rally load` use.
    from pymavlink import mavwp

    plan = sample_plan()
    sortie = plan.sorties[0]
    loader = mavwp.MAVWPLoader()
    assert loader.load(str(write_waypoints(tmp_path / "m.waypoints", sortie.items))) == len(
        sortie.items
    )
    for i, item in enumerate(sortie.items):
        wp = loader.wp(i)
        assert (wp.seq, wp.command, wp.frame) == (i, item.command, item.frame)
        if item.has_position or i == 0:
            assert round(wp.x * 1e7) == item.x and round(wp.y * 1e7) == item.y


def test_pymavlink_loads_fence_and_rally_files(tmp_path: Path) -> None:
    from pymavlink import mavutil, mavwp

    if not mavutil.mavlink20():
        pytest.skip("fence/rally loaders need MAVLINK20=1 set before pymavlink is imported")
    plan = sample_plan()
    fence = mavwp.MissionItemProtocol_Fence()
    fence.load(str(write_waypoints(tmp_path / "f.waypoints", plan.fence)))
    assert [fence.item(i).command for i in range(fence.count())] == [
        it.command for it in plan.fence
    ]
    rally = mavwp.MissionItemProtocol_Rally()
    rally.load(str(write_waypoints(tmp_path / "r.waypoints", plan.rally)))
    assert rally.count() == len(plan.rally)


def test_reads_mission_planner_style_files(tmp_path: Path) -> None:
    path = tmp_path / "mp.waypoints"
    path.write_text(
        "QGC WPL 110\r\n"
        "0\t1\t0\t16\t0\t0\t0\t0\t29.250000\t115.800000\t21.500000\t1\r\n"
        "# a comment, as MAVProxy writes\r\n"
        "1 0 3 22 0.00000000 0.00000000 0.00000000 0.00000000 29.2501 115.8001 30.0 1\r\n"
        "\r\n"
        "2\t0\t3\t16\t0\t0\t0\t0\t29.25123456\t115.80123456\t40\t1\r\n"
        "3\t0\t2\t20\t0\t0\t0\t0\t0\t0\t0\t1\r\n"
    )
    items = read_waypoints(path)
    assert [it.command for it in items] == [16, 22, 16, 20]
    assert (items[2].x, items[2].y, items[2].z) == (292512346, 1158012346, 40.0)
    assert items[0].frame == Frame.GLOBAL and items[0].z == 21.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("QGC WPL 120\n0\t1\t0\t16\t0\t0\t0\t0\t0\t0\t0\t1\n", "'QGC WPL 120' is not supported"),
        ("waypoints\n", "line 1 must be 'QGC WPL 110'"),
        ("", "line 1 must be"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t29.2\t115.8\t1\n", "line 2: expected 12"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t29.2\t115.8\tten\t1\n", "line 2: param7 must be"),
        ("QGC WPL 110\n0\t1\tx\t16\t0\t0\t0\t0\t29.2\t115.8\t10\t1\n", "frame must be an integer"),
        (
            "QGC WPL 110\n1\t1\t0\t16\t0\t0\t0\t0\t29.2\t115.8\t10\t1\n",
            "index 1 is out of sequence",
        ),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t129.2\t115.8\t10\t1\n", "out of range"),
        ("QGC WPL 110\n0\t1\t0\t16\t0\t0\t0\t0\t29.2\t115.8\tinf\t1\n", "finite number"),
    ],
)
def test_corrupt_waypoints_are_export_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.waypoints"
    path.write_text(text)
    with pytest.raises(ExportError) as err:
        read_waypoints(path)
    assert str(path) in str(err.value)
    assert message in str(err.value)


def test_binary_and_missing_files(tmp_path: Path) -> None:
    binary = tmp_path / "b.waypoints"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ExportError, match=r"b\.waypoints: not a text file"):
        read_waypoints(binary)
    with pytest.raises(ExportError, match="no such file"):
        read_waypoints(tmp_path / "none.waypoints")


def test_one_file_holds_one_list(tmp_path: Path) -> None:
    plan = sample_plan()
    with pytest.raises(ExportError, match=r"mix\.waypoints: one \.waypoints file holds one list"):
        write_waypoints(tmp_path / "mix.waypoints", (*plan.sorties[0].items, *plan.fence))


def test_nan_survives_the_text(tmp_path: Path) -> None:
    sortie = sample_plan().sorties[0]
    back = read_waypoints(write_waypoints(tmp_path / "m.waypoints", sortie.items))
    assert [math.isnan(a.param4) for a in back] == [math.isnan(b.param4) for b in sortie.items]
