"""``waterpatrol sitl run FILE``: plan a key water, start a vehicle, fly every sortie, report.

The vehicle is ArduPilot SITL when a binary is found (ARDUPILOT_SITL or
``arducopter`` on PATH), else the built-in simulated vehicle; ``--vehicle``
chooses. The vehicle's pack is sized to the file's endurance and swapped for
a full one before each sortie (sitl/battery.py), as an operator would. Exit
codes: 0 every sortie completed, every waypoint reached, no fence breach; 3 a
sortie fell short of that; 1 an error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

EXIT_FAILED_FLIGHT = 3
DEFAULT_SPEEDUP = {"sim": 50.0, "ardupilot": 10.0}
VEHICLES = ("auto", "sim", "ardupilot")


def choose_vehicle(vehicle: str) -> str:
    """``auto`` -> ``ardupilot`` when a SITL binary is found, else ``sim``."""
    from sitl.errors import SimConfigError

    if vehicle not in VEHICLES:
        raise SimConfigError(f"--vehicle {vehicle!r}: use one of {', '.join(VEHICLES)}")
    if vehicle != "auto":
        return vehicle
    from sitl.ardupilot import find_binary
    from sitl.errors import SitlNotFoundError

    try:
        find_binary()
    except SitlNotFoundError:
        return "sim"
    return "ardupilot"


@dataclass(frozen=True)
class SitlRun:
    key_water: str
    name: str
    vehicle: str  # "sim" or "ardupilot"
    speedup: float
    sorties_planned: int
    wall_s: float
    reports: tuple[Any, ...]  # mission.link.report.FlightReport per sortie flown

    @property
    def passed(self) -> bool:
        """Every planned sortie completed with every waypoint reached, and neither the
        vehicle nor the track left the fence."""
        return len(self.reports) == self.sorties_planned and all(
            r.completed
            and r.waypoints_reached == r.waypoints_total
            and r.fence_breaches == 0
            and r.track_outside_fence == 0
            for r in self.reports
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "key_water": self.key_water,
            "name": self.name,
            "vehicle": self.vehicle,
            "speedup": self.speedup,
            "sorties_planned": self.sorties_planned,
            "wall_s": self.wall_s,
            "passed": self.passed,
            "reports": [r.as_dict() for r in self.reports],
        }


def fly_key_water(
    path: Path,
    vehicle: str = "auto",
    speedup: float | None = None,
    on_event: Any = None,
    on_stage: Any = None,
) -> SitlRun:
    """Plan ``path``, start the chosen vehicle at its launch point, fly every sortie."""
    import geofences
    from mission.link.connection import open_link
    from mission.link.job import endurance_of, fly_job, job_from_plan
    from mission.link.telemetry import rates_for_speedup
    from mission.planner import plan
    from sitl import endpoints
    from sitl.battery import PackSwap

    kw = geofences.load(path)
    job = job_from_plan(plan(kw), endurance_of(kw.vehicle))
    kind = choose_vehicle(vehicle)
    speed = speedup if speedup is not None else DEFAULT_SPEEDUP[kind]
    home = (kw.launch.lat, kw.launch.lon, kw.launch.alt_amsl_m)
    start = endpoints.simulated if kind == "sim" else endpoints.ardupilot
    t0 = time.monotonic()
    with (
        start(home=home, speedup=speed) as ep,
        open_link(
            ep.url, ready_timeout_s=max(60.0, 600.0 / speed), rates_hz=rates_for_speedup(speed)
        ) as conn,
    ):
        reports = fly_job(
            conn,
            job,
            speedup=speed,
            on_event=on_event,
            on_stage=on_stage,
            before_sortie=PackSwap(kw.vehicle),
        )
    return SitlRun(
        kw.id, kw.name, kind, speed, len(job.sorties), time.monotonic() - t0, tuple(reports)
    )


def run(
    file: Path = typer.Argument(
        ..., help="Key-water file (.yaml or .geojson) to plan and fly.", exists=True, dir_okay=False
    ),
    vehicle: str = typer.Option(
        "auto",
        "--vehicle",
        help="auto (ArduPilot SITL when found, else the simulated vehicle), sim or ardupilot.",
    ),
    speedup: float | None = typer.Option(
        None, "--speedup", help="Simulation speed-up (default: 50 simulated, 10 SITL)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the flight report as JSON."),
) -> None:
    """Plan a key water, fly every sortie on a simulated vehicle or SITL, print a flight report.

    The report gives per sortie: waypoints reached, the largest distance from
    the planned path, fence breaches (must be 0), battery used and how far
    from launch the vehicle landed. Exit code 3 when a sortie did not
    complete or the fence was breached.
    """
    from mission.cli import emit_json
    from mission.fly_cli import report_lines

    def stage(sortie: int, text: str) -> None:
        if not json_out:
            typer.echo(f"sortie {sortie}: {text}", err=True)

    result = fly_key_water(file, vehicle, speedup, on_stage=stage)
    if json_out:
        emit_json(result.as_dict())
    else:
        typer.echo(
            f"{result.name} on the {result.vehicle} vehicle at x{result.speedup:g}: "
            f"{len(result.reports)}/{result.sorties_planned} sorties, {result.wall_s:.1f} s wall"
        )
        for line in report_lines(list(result.reports)):
            typer.echo(line)
        typer.echo("PASS" if result.passed else "FAIL")
    if not result.passed:
        raise typer.Exit(EXIT_FAILED_FLIGHT)
