"""Key waters: the lakes, reservoirs and river reaches a station patrols.

``load(path)`` reads a YAML key-water file or a GeoJSON FeatureCollection
(see geofences/README.md for the format) and returns a checked ``KeyWater``.

The names below are imported on first use, so importing ``geofences.errors``
(as the root CLI does for ``--help``) does not pull in shapely, pyproj and jsonschema.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from geofences.errors import GeofenceError, KeyWaterFileError

if TYPE_CHECKING:
    from geofences.camera import DEFAULT_PRESET, PRESETS, Camera
    from geofences.loader import load, sample_paths
    from geofences.model import (
        PATTERNS,
        Hotspot,
        KeyWater,
        Launch,
        NoFlyZone,
        PatrolSettings,
        RuleSettings,
        VehicleSettings,
    )
    from geofences.projection import LocalProjection

_LAZY = {
    "DEFAULT_PRESET": "geofences.camera",
    "PRESETS": "geofences.camera",
    "Camera": "geofences.camera",
    "load": "geofences.loader",
    "sample_paths": "geofences.loader",
    "PATTERNS": "geofences.model",
    "Hotspot": "geofences.model",
    "KeyWater": "geofences.model",
    "Launch": "geofences.model",
    "NoFlyZone": "geofences.model",
    "PatrolSettings": "geofences.model",
    "RuleSettings": "geofences.model",
    "VehicleSettings": "geofences.model",
    "LocalProjection": "geofences.projection",
}

__all__ = [
    "DEFAULT_PRESET",
    "PATTERNS",
    "PRESETS",
    "Camera",
    "GeofenceError",
    "Hotspot",
    "KeyWater",
    "KeyWaterFileError",
    "Launch",
    "LocalProjection",
    "NoFlyZone",
    "PatrolSettings",
    "RuleSettings",
    "VehicleSettings",
    "load",
    "sample_paths",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'geofences' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
