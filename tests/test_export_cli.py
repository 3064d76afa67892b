"""``waterpatrol export inspect``: reads files back for the operator, as text or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mission.errors import ExportError
from mission.export import write_all
from mission.export.cli import app
from tests.test_export_samples import sample_keywater, sample_plan

runner = CliRunner()


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli")
    write_all(sample_plan(), sample_keywater(), path)
    return path


def test_inspect_plan_as_json(out: Path) -> None:
    plan = sample_plan()
    result = runner.invoke(app, ["inspect", str(out / "test-lake-sortie1.plan"), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert len(doc["mission"]) == len(plan.sorties[0].items)
    assert len(doc["fence"]) == len(plan.fence) and len(doc["rally"]) == len(plan.rally)
    assert doc["mission"][1]["command_name"] == "NAV_TAKEOFF"
    assert any(p is None for item in doc["mission"] for p in item["params"])  # NaN -> null
    assert doc["fence"][0]["mission_type"] == "fence"


def test_inspect_waypoints_as_text(out: Path) -> None:
    result = runner.invoke(app, ["inspect", str(out / "test-lake-rally.waypoints")])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == f"rally: {len(sample_plan().rally)} items"
    assert "NAV_RALLY_POINT" in result.output


def test_inspect_refuses_other_files(tmp_path: Path) -> None:
    path = tmp_path / "mission.txt.bak"
    path.write_text("x")
    result = runner.invoke(app, ["inspect", str(path)])
    assert isinstance(result.exception, ExportError)
    assert "expected a .plan or .waypoints file" in str(result.exception)
