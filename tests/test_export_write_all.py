"""write_all: every file under its stable name, readable back; and the real planner's output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mission.errors import ExportError
from mission.export import output_names, read_plan, read_waypoints, write_all
from mission.export.summary import as_dict
from mission.items import same_item
from tests.test_export_samples import sample_keywater, sample_plan


def _same(got, want) -> bool:
    return len(got) == len(want) and all(same_item(a, b) for a, b in zip(got, want, strict=True))


def test_writes_every_file_under_stable_names(tmp_path: Path) -> None:
    plan = sample_plan()
    written = write_all(plan, sample_keywater(), tmp_path / "out")
    names = [p.name for p in written]
    assert names == [
        "test-lake-sortie1.plan",
        "test-lake-sortie1.waypoints",
        "test-lake-sortie2.plan",
        "test-lake-sortie2.waypoints",
        "test-lake-fence.waypoints",
        "test-lake-rally.waypoints",
        "test-lake.geojson",
        "test-lake.png",
        "test-lake-summary.json",
    ]
    assert names == output_names(plan.key_water_id, len(plan.sorties))
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(names)
    for sortie in plan.sorties:
        back = read_plan(tmp_path / "out" / f"test-lake-sortie{sortie.index}.plan")
        assert _same(back.mission, sortie.items)
        assert _same(back.fence, plan.fence) and _same(back.rally, plan.rally)
        wps = read_waypoints(tmp_path / "out" / f"test-lake-sortie{sortie.index}.waypoints")
        assert _same(wps, sortie.items)
    assert _same(read_waypoints(tmp_path / "out" / "test-lake-fence.waypoints"), plan.fence)
    assert _same(read_waypoints(tmp_path / "out" / "test-lake-rally.waypoints"), plan.rally)
    summary = json.loads((tmp_path / "out" / "test-lake-summary.json").read_text())
    assert summary == json.loads(json.dumps(as_dict(plan)))


def test_files_get_umask_permissions_and_no_temporaries_remain(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)
    os.umask(umask)
    written = write_all(sample_plan(), sample_keywater(), tmp_path)
    assert {p.stat().st_mode & 0o777 for p in written} == {0o666 & ~umask}
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_sorties_left_from_a_longer_plan_are_removed(tmp_path: Path) -> None:
    kw = sample_keywater()
    write_all(sample_plan(3), kw, tmp_path)
    other = tmp_path / "other-lake-sortie3.plan"
    other.write_text("{}")
    write_all(sample_plan(2), kw, tmp_path)
    assert not (tmp_path / "test-lake-sortie3.plan").exists()
    assert not (tmp_path / "test-lake-sortie3.waypoints").exists()
    assert (tmp_path / "test-lake-sortie2.plan").exists()
    assert other.exists()  # another key water's files are left alone


def test_an_id_that_cannot_name_files_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    plan = replace(sample_plan(), key_water_id="../lake")
    with pytest.raises(ExportError, match="cannot name files"):
        write_all(plan, sample_keywater(), tmp_path)


def test_an_output_path_that_is_a_file_is_an_export_error(tmp_path: Path) -> None:
    blocker = tmp_path / "out"
    blocker.write_text("not a folder")
    with pytest.raises(ExportError, match="cannot write the file"):
        write_all(sample_plan(), sample_keywater(), blocker)


def test_the_planners_plan_exports_and_reads_back(tmp_path: Path) -> None:
    geofences = pytest.importorskip("geofences")
    planner = pytest.importorskip("mission.planner")
    samples = Path(geofences.__file__).parent / "samples"
    kw = geofences.load(samples / "gqc-lake.yaml")
    plan = planner.plan(kw)
    written = write_all(plan, kw, tmp_path)
    assert [p.name for p in written] == output_names(kw.id, len(plan.sorties))
    for sortie in plan.sorties:
        back = read_plan(tmp_path / f"{kw.id}-sortie{sortie.index}.plan")
        assert _same(back.mission, sortie.items)
        assert _same(back.fence, plan.fence) and _same(back.rally, plan.rally)
        assert _same(
            read_waypoints(tmp_path / f"{kw.id}-sortie{sortie.index}.waypoints"), sortie.items
        )
