"""CLI: ``waterpatrol waters ...``: check key-water files and list the samples.

Bad files raise KeyWaterFileError; the root CLI prints it as one line and exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Key-water files: check them, list the bundled samples.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.command("check")
def check(
    paths: Annotated[
        list[Path], typer.Argument(help="Key-water files (.yaml/.yml or .geojson/.json).")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Load and check key-water files; print what each holds, or what to fix.

    Exits 1 if any file is bad.
    """
    import geofences
    from geofences.summary import describe

    results: list[dict] = []
    for path in paths:
        try:
            results.append({"ok": True, **describe(geofences.load(path))})
        except geofences.KeyWaterFileError as err:
            results.append(
                {
                    "ok": False,
                    "source": err.path,
                    "field": err.field,
                    "problem": err.problem,
                    "error": str(err),
                }
            )
    if as_json:
        typer.echo(json.dumps(results, indent=2, ensure_ascii=False))
    else:
        for r in results:
            typer.echo(_text(r) if r["ok"] else r["error"])
    bad = sum(not r["ok"] for r in results)
    if bad:
        raise geofences.GeofenceError(f"{bad} of {len(paths)} key-water files are invalid")


@app.command("samples")
def samples(as_json: JsonOpt = False) -> None:
    """List the sample waters around Gongqingcheng (sample geometry, not surveys)."""
    import geofences
    from geofences.summary import describe

    found = [describe(geofences.load(p)) for p in geofences.sample_paths()]
    if as_json:
        typer.echo(json.dumps(found, indent=2, ensure_ascii=False))
        return
    for d in found:
        typer.echo(
            f"{d['source']}  {d['id']}  {d['pattern']}  {d['area_km2']:.3f} km2  {d['name']}"
        )


def _text(d: dict) -> str:
    tag = " (SAMPLE geometry, not a survey)" if d["sample"] else ""
    launch = d["launch"]
    lines = [
        f"{d['source']}: ok{tag}",
        f"  {d['id']}  {d['name']}  priority {d['priority']}",
        f"  water     {d['area_km2']:.3f} km2 in {d['water_parts']} part(s), "
        f"{d['islands']} island(s), shoreline {d['shoreline_km']:.2f} km",
        f"  launch    lat {launch['lat']:.6f}, lon {launch['lon']:.6f}, "
        f"{d['launch_to_water_m']:.0f} m from the water",
        f"  no-fly    {', '.join(d['no_fly']) or 'none'}",
        f"  hotspots  {', '.join(d['hotspots']) or 'none'}",
        f"  patrol    {d['pattern']} at {d['altitude_m']:g} m, {d['speed_m_s']:g} m/s, "
        f"camera {d['camera']}: footprint {d['footprint_m'][0]:g} x {d['footprint_m'][1]:g} m, "
        f"GSD {d['gsd_cm']:g} cm, a person is ~{d['person_px']:g} px",
    ]
    return "\n".join(lines)
