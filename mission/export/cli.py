"""``waterpatrol export``: show what a .plan / .waypoints file holds, as the vehicle gets it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer

from mission.errors import ExportError
from mission.export._params import command_name
from mission.items import MissionItem, MissionType

app = typer.Typer(
    help="Read back mission files (from `waterpatrol plan`, QGroundControl or Mission Planner).",
    no_args_is_help=True,
)


@app.callback()
def _group() -> None:
    """Read back mission files (from `waterpatrol plan`, QGroundControl or Mission Planner)."""


@app.command()
def inspect(
    path: Annotated[
        Path, typer.Argument(help="A QGroundControl .plan or a QGC WPL 110 .waypoints file.")
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print the items as JSON.")] = False,
) -> None:
    """List the mission, fence and rally items a file holds (item 0 of a mission is home)."""
    lists = read_lists(path)
    if json_out:
        from mission.cli import emit_json

        doc: dict[str, Any] = {"file": str(path)}
        for name, items in lists.items():
            doc[name] = [item_dict(i, it) for i, it in enumerate(items)]
        emit_json(doc)
        return
    for name, items in lists.items():
        typer.echo(f"{name}: {len(items)} items")
        for i, it in enumerate(items):
            typer.echo("  " + item_line(i, it))


def read_lists(path: Path) -> dict[str, tuple[MissionItem, ...]]:
    """The mission / fence / rally lists of a .plan or .waypoints file (empty lists omitted)."""
    from mission.export import read_plan, read_waypoints

    suffix = path.suffix.lower()
    if suffix == ".plan":
        plan = read_plan(path)
        lists = {"mission": plan.mission, "fence": plan.fence, "rally": plan.rally}
    elif suffix in (".waypoints", ".txt"):
        items = read_waypoints(path)
        kind = MissionType(items[0].mission_type).name.lower() if items else "mission"
        lists = {kind: items}
    else:
        raise ExportError(
            f"{path}: expected a .plan or .waypoints file, got {suffix or 'no suffix'!r}"
        )
    return {k: v for k, v in lists.items() if v or k == "mission"}


def item_dict(seq: int, item: MissionItem) -> dict[str, Any]:
    return {
        "seq": seq,
        "command": int(item.command),
        "command_name": command_name(item.command),
        "frame": int(item.frame),
        "params": [None if math.isnan(p) else p for p in _params1_4(item)],
        "lat": item.lat if item.has_position or seq == 0 else None,
        "lon": item.lon if item.has_position or seq == 0 else None,
        "alt_m": None if math.isnan(item.z) else item.z,
        "autocontinue": int(item.autocontinue),
        "mission_type": MissionType(item.mission_type).name.lower(),
    }


def item_line(seq: int, item: MissionItem) -> str:
    where = (
        f"{item.lat:.7f} {item.lon:.7f} alt {item.z:g} m"
        if item.has_position or seq == 0
        else "p1-4 " + " ".join(f"{p:g}" for p in _params1_4(item)) + f"  p7 {item.z:g}"
    )
    return f"{seq:4d}  {command_name(item.command):<36} frame {int(item.frame)}  {where}"


def _params1_4(item: MissionItem) -> tuple[float, float, float, float]:
    return (item.param1, item.param2, item.param3, item.param4)
