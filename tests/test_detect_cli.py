"""``waterpatrol detect``: options, operator errors, and one real run with the YOLO model."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

import geofences
from detection.cli import _line, app
from detection.errors import DetectionError, SourceError
from detection.incidents import Incident
from detection.pipeline import Status
from detection.sources import SourceEvent
from tests.test_pipeline import WATER_LAT, WATER_LON

LAKE_FILE = Path(geofences.__file__).parent / "samples" / "gqc-lake.yaml"
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_the_options() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for opt in (
        "--telemetry",
        "--area",
        "--model",
        "--tiling",
        "--show",
        "--save",
        "--json",
        "--pose",
    ):
        assert opt in result.output


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        (["nowhere.mp4"], SourceError, "not a file, folder, camera index or stream URL"),
        (["{folder}", "--show", "--save", "out"], DetectionError, "not both"),
        (["{folder}", "--pose", "29.2,115.7"], DetectionError, "LAT,LON,ALT_M"),
        (["{folder}", "--pose", "29.2,115.7,-5"], DetectionError, "must be > 0"),
        (["{folder}", "--pose", "1,2,3", "--telemetry", "x.jsonl"], DetectionError, "not both"),
        (["{folder}", "--telemetry", "missing.jsonl"], DetectionError, "no such telemetry file"),
        (["{folder}", "--camera", "potato"], DetectionError, "choose one of"),
        (["{folder}", "--area", "{folder}/none.yaml"], geofences.GeofenceError, "none.yaml"),
        (["{folder}", "--fps", "0"], DetectionError, "positive"),
    ],
)
def test_operator_errors_are_package_errors(
    tmp_path: Path, args: list[str], error: type, match: str
) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    result = invoke(*[a.replace("{folder}", str(tmp_path)) for a in args])
    assert result.exit_code != 0
    assert isinstance(result.exception, error), result.exception
    assert match in str(result.exception)


def test_show_needs_a_display(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8, 3), np.uint8))
    result = invoke(str(tmp_path), "--show")
    assert isinstance(result.exception, DetectionError)
    assert "display" in str(result.exception)


def test_event_lines_read_well() -> None:
    inc = Incident(
        id="inc-0003",
        type="person_in_water",
        severity="critical",
        status="open",
        lat=29.2331234,
        lon=115.7791234,
        uncertainty_m=4.26,
        people=1,
        first_seen=1.0,
        last_seen=1.0,
        confidence=0.812,
        track_ids=(7,),
        evidence_frame=42,
        evidence_t=1.0,
        reason="in the water near hotspot beach",
    )
    assert _line(inc) == (
        "OPEN    inc-0003 person_in_water critical 29.233123,115.779123 ±4.3 m people=1 "
        "tracks=7 conf=0.81 frame=42 (in the water near hotspot beach)"
    )
    unplaced = Incident(**{**inc.to_dict(), "lat": None, "lon": None, "uncertainty_m": None})
    assert "position unknown" in _line(unplaced)
    st = Status(0.0, 120, 4.96, 25.0, 410, 1, 0.31, 180.4, 3, 2, 1)
    line = _line(st)
    assert line.startswith("status  5.0 fps (source 25.0)  dropped 410  reconnects 1")
    assert "detect 180 ms  latency 0.31 s  people 3 (placed 2)  open 1" in line
    assert "  file  " in _line(Status(0.0, 9, 3.5, 3.5, 0, 0, None, 280.0, 0, 0, 0))
    assert _line(SourceEvent("stalled", "udp://x", "no frame for 3 s", 0.0)) == (
        "source  stalled: no frame for 3 s"
    )


@pytest.mark.slow
def test_real_run_prints_json_lines_and_saves_evidence(tmp_path: Path) -> None:
    from benchmarks.scenes import compose

    frames = tmp_path / "frames"
    frames.mkdir()
    scene = compose(960, 540, heights_px=[120.0], n_lookalikes=3, seed=11)
    for i in range(4):
        cv2.imwrite(str(frames / f"{i:03d}.jpg"), scene.image)
    evidence = tmp_path / "evidence"
    result = invoke(
        str(frames),
        "--area",
        str(LAKE_FILE),
        "--pose",
        f"{WATER_LAT},{WATER_LON},30",
        "--save",
        str(evidence),
        "--json",
        "--fps",
        "2",
    )
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    incidents = [r for r in records if r["event"] == "incident"]
    assert [(r["status"], r["type"]) for r in incidents] == [
        ("open", "person_in_water"),
        ("closed", "person_in_water"),
    ]
    opened = incidents[0]
    assert opened["lat"] == pytest.approx(WATER_LAT, abs=3e-4)  # within ~30 m of the camera
    assert opened["lon"] == pytest.approx(WATER_LON, abs=3e-4)
    assert any(r["event"] == "status" and r["frames"] == 4 for r in records)
    jpgs = sorted(evidence.glob("*.jpg"))
    assert [p.name for p in jpgs] == [f"{opened['id']}-{opened['evidence_frame']:06d}.jpg"]
    image = cv2.imread(str(jpgs[0]))  # a close-up of the person, with a banner
    assert image is not None and min(image.shape[:2]) >= 256
