"""``waterpatrol plan``: key-water files -> mission files and pictures.

Each file is planned on its own: a bad file is reported (one line naming it)
and the others are still planned; the exit status is 1 if any failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from mission.cli import emit_json

EXIT_SOME_FAILED = 1


def _check_pattern(value: str | None) -> str | None:
    from geofences.model import PATTERNS

    if value is not None and value not in PATTERNS:
        raise typer.BadParameter(f"{value!r} is not a pattern; use one of {', '.join(PATTERNS)}")
    return value


def plan(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE...", help="Key-water files (.yaml or .geojson)."
    ),
    out: Path = typer.Option(Path("out/plan"), "--out", help="Folder for the mission files."),
    pattern: str | None = typer.Option(
        None,
        "--pattern",
        help="survey | shoreline | corridor (default: the file's).",
        callback=_check_pattern,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summaries as JSON."),
    allow_partial: bool = typer.Option(
        False,
        "--allow-partial",
        help="Plan what can be flown and name the water left out (and why) in the summary, "
        "the map and the JSON, instead of failing.",
    ),
) -> None:
    """Plan a patrol of each key water: .plan, .waypoints, GeoJSON, a PNG map and a summary.

    A file that cannot be planned is reported and the rest are still planned;
    the exit status is then 1.
    """
    import geofences
    from mission.errors import MissionError
    from mission.export import summary, write_all
    from mission.planner import plan as plan_water

    failed: list[str] = []

    def fail(message: str) -> None:
        failed.append(message)
        typer.echo(f"error: {' '.join(message.split())}", err=True)

    loaded: list[Any] = []
    for path in _unique(files):
        try:
            loaded.append(geofences.load(path))
        except geofences.GeofenceError as exc:
            fail(str(exc))
    results = []
    for kw in _refuse_shared_ids(loaded, out, fail):
        try:
            mp = plan_water(kw, pattern, allow_partial=allow_partial)
            written = write_all(mp, kw, out)
        except MissionError as exc:
            fail(str(exc))
            continue
        results.append({**summary.as_dict(mp), "files": [str(p) for p in written]})
        if not as_json:
            typer.echo(summary.as_text(mp))
            for p in written:
                typer.echo(f"  wrote {p}")
    if as_json:
        emit_json(results)
    if failed:
        typer.echo(
            f"{len(failed)} of {len(files)} key-water file(s) not planned (see above)", err=True
        )
        raise typer.Exit(EXIT_SOME_FAILED)


def _unique(files: list[Path]) -> list[Path]:
    """The files in order, each once (the same file given twice is planned once)."""
    seen: set[Path] = set()
    out = []
    for path in files:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            out.append(path)
    return out


def _refuse_shared_ids(loaded: list[Any], out: Path, fail: Any) -> list[Any]:
    """Key waters whose id no other file has: two with one id would write the same files."""
    by_id: dict[str, list[Any]] = {}
    for kw in loaded:
        by_id.setdefault(kw.id, []).append(kw)
    keep = []
    for kw in loaded:
        others = [o.source for o in by_id[kw.id] if o is not kw]
        if others:
            fail(
                f"{kw.source}: id {kw.id!r} is also the id of {', '.join(others)}; their mission "
                f"files in {out} would overwrite each other: give each file its own id"
            )
        else:
            keep.append(kw)
    return keep
