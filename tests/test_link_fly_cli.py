"""``waterpatrol fly`` and ``sitl run`` through typer's CliRunner, against the simulated vehicle."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import geofences
from mission.export.qgc_plan import write_plan
from mission.fly_cli import EXIT_EARLY, fly
from mission.link.errors import LinkError
from mission.plan import Sortie
from sitl.endpoints import VehicleEndpoint
from sitl.run import run
from tests.test_flights import _square_job

POND = next(p for p in geofences.sample_paths() if p.name == "gqc-pond.geojson")


def _app(command: object) -> typer.Typer:
    app = typer.Typer()
    app.command()(command)
    return app


def _plan_file(tmp_path: Path, ep: VehicleEndpoint, **square: float) -> Path:
    job = _square_job(ep.home, **square)
    sortie = Sortie(1, job.sorties[0].items, (), 0.0, 60.0)
    return write_plan(tmp_path / "square.plan", sortie, job.fence, (), 8.0)


def test_dry_run_without_a_vehicle_shows_what_would_be_uploaded() -> None:
    result = CliRunner().invoke(_app(fly), [str(POND), "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["dry_run"] and doc["sorties"] == [1]
    assert doc["mission_items"] > 5 and doc["fence_items"] >= 3
    assert doc["fence_params"]["FENCE_ENABLE"] == 1


def test_fly_without_connect_is_an_operator_error() -> None:
    result = CliRunner().invoke(_app(fly), [str(POND)])
    assert isinstance(result.exception, LinkError)
    assert "--connect" in str(result.exception)


def test_unknown_sortie_is_an_operator_error() -> None:
    result = CliRunner().invoke(_app(fly), [str(POND), "--dry-run", "--sortie", "9"])
    assert isinstance(result.exception, LinkError) and "no sortie 9" in str(result.exception)


@pytest.mark.parametrize("sim_vehicle", [{"speedup": 50}], indirect=True)
def test_fly_a_plan_file_to_the_end(tmp_path: Path, sim_vehicle: VehicleEndpoint) -> None:
    plan = _plan_file(tmp_path, sim_vehicle)
    result = CliRunner().invoke(_app(fly), [str(plan), "--connect", sim_vehicle.url, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (report,) = doc["reports"]
    assert report["completed"] and report["waypoints_reached"] == report["waypoints_total"] == 5
    assert doc["exit_code"] == 0
    snap = sim_vehicle.vehicle.snapshot()
    assert snap.params["FENCE_ENABLE"] == 1 and snap.params["FENCE_TYPE"] == 5  # set for a .plan
    assert len(snap.fence) == 4


@pytest.mark.parametrize("sim_vehicle", [{"speedup": 50}], indirect=True)
def test_dry_run_uploads_and_verifies_but_does_not_arm(
    tmp_path: Path, sim_vehicle: VehicleEndpoint
) -> None:
    plan = _plan_file(tmp_path, sim_vehicle)
    result = CliRunner().invoke(_app(fly), [str(plan), "-c", sim_vehicle.url, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "uploaded and verified" in result.output and "not armed" in result.output
    snap = sim_vehicle.vehicle.snapshot()
    assert len(snap.mission) == 7 and not snap.armed and snap.t_sim < 120


@pytest.mark.parametrize("sim_vehicle", [{"speedup": 50}], indirect=True)
def test_fence_breach_flight_exits_3_with_the_report(
    tmp_path: Path, sim_vehicle: VehicleEndpoint
) -> None:
    plan = _plan_file(tmp_path, sim_vehicle, side_m=250.0, fence_m=150.0)
    result = CliRunner().invoke(_app(fly), [str(plan), "--connect", sim_vehicle.url])
    assert result.exit_code == EXIT_EARLY, result.output
    assert "NOT completed" in result.output and "FENCE BREACH" in result.output


@pytest.mark.slow
def test_sitl_run_flies_the_pond_on_the_simulated_vehicle() -> None:
    result = CliRunner().invoke(
        _app(run), [str(POND), "--vehicle", "sim", "--speedup", "100", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (
        doc["passed"] and doc["vehicle"] == "sim" and doc["sorties_planned"] == len(doc["reports"])
    )
    r = doc["reports"][0]
    assert r["fence_breaches"] == 0 and r["landing_from_launch_m"] < 3.0
    assert r["waypoints_reached"] == r["waypoints_total"]
