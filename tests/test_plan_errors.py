"""Planning and flying errors in the operator's terms: the file, the place, the fix."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import re
import time
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import yaml

import geofences
from mission import cli
from mission.errors import PlanningError
from mission.export import preview, summary
from mission.fly_cli import _Display, check_launch_distance, report_lines
from mission.link.connection import connect
from mission.link.errors import ConnectFailed, LinkError
from mission.link.telemetry import Telemetry
from mission.planner import plan

SAMPLES = {p.name: p for p in geofences.sample_paths()}


def sample(tmp_path: Path, name: str, file_name: str | None = None, **changes: object) -> Path:
    doc = yaml.safe_load(SAMPLES[name].read_text(encoding="utf-8"))
    for key, value in changes.items():
        section, _, field = key.partition("__")
        doc.setdefault(section, {})[field] = value
    path = tmp_path / (file_name or name)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.run(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_planning_error_names_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = sample(tmp_path, "gqc-lake.yaml", vehicle__endurance_min=1)
    code, _, err = run(capsys, "plan", str(path), "--out", str(tmp_path / "out"))
    assert code == 1 and err.startswith(f"error: {path}: ") and "endurance" in err


def test_no_route_is_told_in_lat_lon_and_metres_from_the_launch() -> None:
    kw = geofences.load(SAMPLES["gqc-reservoir.yaml"])
    narrow = dataclasses.replace(kw, patrol=dataclasses.replace(kw.patrol, fence_margin_m=1.0))
    with pytest.raises(PlanningError) as info:
        plan(narrow)
    text = str(info.value)
    assert text.startswith(f"{kw.source}: ")
    assert "lat 29." in text and "m from the launch" in text and "fence_margin_m" in text
    assert "the way between the launch and the water is too narrow" in text


def test_one_bad_file_does_not_stop_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = sample(tmp_path, "gqc-lake.yaml", "bad.yaml", vehicle__endurance_min=1)
    bad.write_text(bad.read_text() + "id: other\n")  # also a duplicate of nothing: plain bad
    good = SAMPLES["gqc-reservoir.yaml"]
    out = tmp_path / "out"
    code, stdout, err = run(capsys, "plan", str(bad), str(good), "--out", str(out))
    assert code == 1
    assert f"error: {bad}" in err and "1 of 2" in err
    assert (out / "gqc-reservoir-sortie1.plan").is_file()
    assert "gqc-reservoir" in stdout


def test_two_files_with_one_id_are_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = sample(tmp_path, "gqc-lake.yaml", "a.yaml")
    b = sample(tmp_path, "gqc-lake.yaml", "b.yaml")
    out = tmp_path / "out"
    code, _, err = run(capsys, "plan", str(a), str(b), "--out", str(out))
    assert code == 1
    lines = err.strip().splitlines()
    assert any(str(a) in ln and str(b) in ln and "own id" in ln for ln in lines)
    assert not out.exists() or not list(out.iterdir())


def test_shoreline_coverage_is_labelled_as_the_shore_band() -> None:
    kw = geofences.load(SAMPLES["gqc-reservoir.yaml"])
    shore, survey = plan(kw, "shoreline"), plan(kw, "survey")
    assert "% of the shore band" in summary.as_text(shore)
    assert "% of the shore band" in summary.as_line(shore)
    assert summary.as_dict(shore)["summary"]["coverage_of"] == "shore band"
    assert "% of the water" in summary.as_text(survey)
    assert summary.as_dict(survey)["summary"]["coverage_of"] == "water"


def _pixels(png: bytes, colour: str) -> int:
    img = matplotlib.image.imread(io.BytesIO(png))
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255
    return int((np.abs(img[:, :, :3] - rgb).max(axis=2) < 0.04).sum())


def test_map_shows_hotspots_and_a_rally_point_at_the_launch() -> None:
    kw = geofences.load(SAMPLES["gqc-reservoir.yaml"])
    mp = plan(kw)
    assert kw.hotspots
    png = preview.render_png(mp, kw, 800, 600)
    assert _pixels(png, preview.HOTSPOT) > 100
    no_spots = preview.render_png(mp, dataclasses.replace(kw, hotspots=()), 800, 600)
    assert _pixels(no_spots, preview.HOTSPOT) == 0
    # The rally point sits on the launch: it must show as well as one standing alone.
    away = tuple(dataclasses.replace(r, x=r.x + 20000) for r in mp.rally)
    alone = preview.render_png(dataclasses.replace(mp, rally=away), kw, 800, 600)
    assert _pixels(png, preview.RALLY) >= 0.8 * _pixels(alone, preview.RALLY) > 0


def test_fly_one_sortie_shows_its_number_of_the_plan(capsys: pytest.CaptureFixture[str]) -> None:
    display = _Display(False, 3)
    display.stage(2, "uploading")
    assert "sortie 2/3: uploading" in capsys.readouterr().err


def test_fly_sortie_2_reports_sortie_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import mission.fly_cli as fly_cli

    seen = {}

    def fake(job, n_planned, *_a):
        seen.update(indexes=[s.index for s in job.sorties], n=n_planned)
        return 0

    monkeypatch.setattr(fly_cli, "_fly_connected", fake)
    path = sample(tmp_path, "gqc-lake.yaml", vehicle__endurance_min=12)
    n = len(plan(geofences.load(path)).sorties)
    assert n >= 2
    assert cli.run(["fly", str(path), "--connect", "tcp:127.0.0.1:9", "--sortie", "2"]) == 0
    assert seen == {"indexes": [2], "n": n}
    report = type(
        "R",
        (),
        dict(
            completed=True,
            reason="landed",
            waypoints_reached=3,
            waypoints_total=3,
            max_off_path_m=None,
            fence_breaches=0,
            track_outside_fence=0,
            battery_used_pct=None,
            battery_used_mah=None,
            landing_from_launch_m=None,
            wall_s=1.0,
            planned_s=None,
            flown_s=None,
            battery_start_pct=None,
            battery_planned_pct=None,
        ),
    )
    assert report_lines([report], [2])[0].startswith("sortie 2: completed")


def test_a_vehicle_far_from_the_launch_is_refused_before_upload() -> None:
    sortie = type("S", (), {"home": None})  # flies from the plan's launch
    job = type("J", (), {"home": (29.2294, 115.7762), "name": "lake", "sorties": (sortie,)})
    near, far = Telemetry(), Telemetry()
    near.lat, near.lon = 29.2295, 115.7762  # ~11 m north
    far.lat, far.lon = 29.2294 + 2600 / 111_000, 115.7762
    assert check_launch_distance(job, near, 50.0) < 15
    with pytest.raises(LinkError) as info:
        check_launch_distance(job, far, 50.0)
    found = re.search(r"is (\d+) m from the launch point", str(info.value))
    assert found and 2550 < int(found.group(1)) < 2650
    assert "nothing was uploaded" in str(info.value)
    assert math.isfinite(check_launch_distance(job, far, 5000.0))
    # a plan with several launches: the first sortie's own launch is where it must stand
    sortie.home = (far.lat, far.lon)
    assert check_launch_distance(job, far, 50.0) < 1.0
    with pytest.raises(LinkError):
        check_launch_distance(job, near, 50.0)


def test_connect_respects_its_timeout_and_says_what_it_does() -> None:
    said: list[str] = []
    t0 = time.monotonic()
    with pytest.raises(ConnectFailed) as info:
        connect("tcp:127.0.0.1:1", timeout_s=1.0, on_progress=said.append)
    assert time.monotonic() - t0 < 5.0  # the old code retried for 30 s whatever was asked
    assert "attempts" in str(info.value) and any("refused" in s for s in said)


def test_fly_connect_timeout_is_bounded_by_ready_timeout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    pond = str(SAMPLES["gqc-pond.geojson"])
    t0 = time.monotonic()
    code, _, err = run(capsys, "fly", pond, "-c", "tcp:127.0.0.1:1", "--ready-timeout", "1")
    assert code == 1 and time.monotonic() - t0 < 8.0
    assert "connection refused" in err.lower() and "internal error" not in err
    json.dumps(err)
