"""``waterpatrol waters``: check files and list samples, as text and JSON."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import geofences
from geofences.cli import app
from geofences.loader import SAMPLES_DIR

runner = CliRunner()


def test_check_prints_a_summary_of_a_good_file() -> None:
    result = runner.invoke(app, ["check", str(SAMPLES_DIR / "gqc-lake.yaml")])
    assert result.exit_code == 0, result.output
    assert "gqc-lake.yaml: ok (SAMPLE geometry" in result.output
    assert "2 island(s)" in result.output
    assert "east bay power line" in result.output


def test_check_json_has_metric_figures() -> None:
    result = runner.invoke(app, ["check", "--json", str(SAMPLES_DIR / "gqc-reservoir.yaml")])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)
    assert entry["ok"] is True
    assert 0.4 <= entry["area_km2"] <= 0.6
    assert entry["pattern"] == "shoreline"
    assert entry["utm_epsg"] == 32650
    assert 0 < entry["launch_to_water_m"] <= 100
    cam = geofences.PRESETS["dji-m30t-wide"]
    assert entry["gsd_cm"] == round(cam.gsd_m(35.0) * 100, 2)


def test_check_reports_a_bad_file_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("launch: {lat: 29.2, lon: 115.8}\n")
    result = runner.invoke(
        app, ["check", "--json", str(SAMPLES_DIR / "gqc-pond.geojson"), str(bad)]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, geofences.GeofenceError)
    assert "1 of 2" in str(result.exception)
    good, failed = json.loads(result.output)
    assert good["ok"] and not failed["ok"]
    assert failed["source"] == str(bad)
    assert failed["field"] == ""
    assert "'water'" in failed["problem"]


def test_check_counts_several_bad_files(tmp_path: Path) -> None:
    paths = [tmp_path / "a.yaml", tmp_path / "b.yaml"]
    for p in paths:
        p.write_text("id: x\n")
    result = runner.invoke(app, ["check", *map(str, paths)])
    assert result.exit_code == 1
    assert isinstance(result.exception, geofences.GeofenceError)
    assert "2 of 2" in str(result.exception)
    assert result.output.count("missing required keys 'launch' and 'water'") == 2
    assert f"{paths[1]}: missing required keys" in result.output


def test_samples_lists_every_sample() -> None:
    result = runner.invoke(app, ["samples", "--json"])
    assert result.exit_code == 0, result.output
    ids = sorted(d["id"] for d in json.loads(result.output))
    assert ids == sorted(p.stem for p in geofences.sample_paths())


def test_importing_the_error_family_stays_light() -> None:
    # The root CLI imports every package's errors for --help; that must not load the geometry stack.
    import subprocess
    import sys

    code = (
        "import sys, geofences, geofences.errors, geofences.cli\n"
        "heavy = {'shapely', 'pyproj', 'jsonschema', 'numpy'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "assert geofences.GeofenceError is geofences.errors.GeofenceError\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
