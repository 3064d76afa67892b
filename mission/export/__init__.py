"""Exports of a planned mission: QGC .plan, QGC WPL 110, GeoJSON, a PNG preview, a summary.

``write_all`` writes every file for a plan under stable names; ``read_plan``
and ``read_waypoints`` read .plan / .waypoints files back as MissionItems.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from mission.errors import ExportError
from mission.export._io import write_atomic
from mission.export.qgc_plan import PlanFile, read_plan, write_plan
from mission.export.summary import as_dict
from mission.export.waypoints import read_waypoints, write_waypoints
from mission.plan import MissionPlan

if TYPE_CHECKING:  # keeps `import mission.export` light for the CLI's --help
    from geofences.model import KeyWater

__all__ = ["PlanFile", "output_names", "read_plan", "read_waypoints", "write_all"]

_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def output_names(key_water_id: str, sorties: int) -> list[str]:
    """The file names ``write_all`` writes, in order."""
    if not _SAFE_ID.match(key_water_id):
        raise ExportError(
            f"key water id {key_water_id!r} cannot name files: use letters, digits, '.', '_', '-'"
        )
    names = []
    for n in range(1, sorties + 1):
        names += [f"{key_water_id}-sortie{n}.plan", f"{key_water_id}-sortie{n}.waypoints"]
    names += [
        f"{key_water_id}-fence.waypoints",
        f"{key_water_id}-rally.waypoints",
        f"{key_water_id}.geojson",
        f"{key_water_id}.png",
        f"{key_water_id}-summary.json",
    ]
    return names


def write_all(plan: MissionPlan, keywater: KeyWater, out_dir: Path) -> list[Path]:
    """Write every export of ``plan`` into ``out_dir``; returns the paths written.

    Per sortie ``<id>-sortie<N>.plan`` and ``.waypoints`` (each .plan carries
    the fence and rally points too), then ``<id>-fence.waypoints``,
    ``<id>-rally.waypoints``, ``<id>.geojson``, ``<id>.png`` and
    ``<id>-summary.json``. Sortie files left from an earlier plan of the same
    key water with more sorties are removed, so the folder holds one plan.
    """
    from mission.export.geojson import write_geojson
    from mission.export.preview import render_preview

    out = Path(out_dir)
    kid = plan.key_water_id
    names = output_names(kid, len(plan.sorties))
    if [s.index for s in plan.sorties] != list(range(1, len(plan.sorties) + 1)):
        raise ExportError(f"{kid}: sortie indexes must run 1..{len(plan.sorties)}")
    speed = keywater.patrol.speed_m_s
    written: list[Path] = []
    for sortie in plan.sorties:
        # Not with_suffix: an id may hold a dot ("gqc.lake"), which it would cut off.
        stem = f"{kid}-sortie{sortie.index}"
        written.append(write_plan(out / f"{stem}.plan", sortie, plan.fence, plan.rally, speed))
        written.append(write_waypoints(out / f"{stem}.waypoints", sortie.items))
    written.append(write_waypoints(out / f"{kid}-fence.waypoints", plan.fence))
    written.append(write_waypoints(out / f"{kid}-rally.waypoints", plan.rally))
    written.append(write_geojson(out / f"{kid}.geojson", plan, keywater))
    written.append(render_preview(plan, keywater, out / f"{kid}.png"))
    summary_json = json.dumps(as_dict(plan), indent=2, ensure_ascii=False)
    written.append(write_atomic(out / f"{kid}-summary.json", summary_json + "\n"))
    _remove_stale_sorties(out, kid, set(names))
    return written


def _remove_stale_sorties(out: Path, kid: str, keep: set[str]) -> None:
    stale = re.compile(rf"^{re.escape(kid)}-sortie\d+\.(plan|waypoints)$")
    for path in out.iterdir():
        if stale.match(path.name) and path.name not in keep:
            try:
                path.unlink()
            except OSError as exc:
                raise ExportError(
                    f"{path}: left from an earlier plan and cannot be removed ({exc.strerror})"
                ) from exc
