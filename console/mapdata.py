"""What the live map draws besides drones and alerts: each key water (water, islands, no-fly
zones, hotspots), its fence and its planned lanes, as one GeoJSON FeatureCollection."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# the plan's layers worth drawing at the dispatch post (waypoints are the lanes' corners)
KINDS = ("water", "island", "no_fly", "hotspot", "fence", "fence_circle", "launch", "path")


def water_features(paths: Sequence[Path]) -> dict[str, Any]:
    """Every key water in ``paths`` with its plan. A file that does not load or plan is left
    out with a warning naming it: one bad file never blanks the map."""
    import geofences
    from mission.export.geojson import feature_collection
    from mission.planner import plan

    features: list[dict[str, Any]] = []
    for path in paths:
        try:
            kw = geofences.load(path)
            fc = feature_collection(plan(kw), kw)
        except Exception as exc:
            log.warning("map: leaving out %s: %s", path, exc)
            continue
        for f in fc["features"]:
            if f["properties"]["kind"] in KINDS:
                f["properties"]["water_id"] = kw.id
                features.append(f)
    return {"type": "FeatureCollection", "features": features}


def default_water_paths() -> list[Path]:
    from geofences.loader import sample_paths

    return list(sample_paths())
