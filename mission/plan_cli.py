"""``waterpatrol plan``: key-water files -> mission files and pictures."""

from __future__ import annotations

from pathlib import Path

import typer

from mission.cli import emit_json


def plan(
    files: list[Path] = typer.Argument(..., help="Key-water files (.yaml or .geojson)."),
    out: Path = typer.Option(Path("out/plan"), "--out", help="Folder for the mission files."),
    pattern: str | None = typer.Option(
        None, "--pattern", help="survey | shoreline | corridor (default: the file's)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
) -> None:
    """Plan a patrol of each key water: .plan, .waypoints, GeoJSON, a PNG map and a summary."""
    import geofences
    from mission.export import summary, write_all
    from mission.planner import plan as plan_water

    results = []
    for path in files:
        kw = geofences.load(path)
        mp = plan_water(kw, pattern)
        written = write_all(mp, kw, out)
        results.append({**summary.as_dict(mp), "files": [str(p) for p in written]})
        if not as_json:
            typer.echo(summary.as_text(mp))
            for p in written:
                typer.echo(f"  wrote {p}")
    if as_json:
        emit_json(results)
