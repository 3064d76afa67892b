"""The console's settings: an optional ``console.yaml``; each key may be left out.

waters: [geofences/samples/gqc-lake.yaml, ...]   # key waters on the map (default: samples)
tile_url: https://tiles.example/{z}/{x}/{y}.png  # a basemap, for stations that have one
tile_attribution: "..."
evidence_dirs: [/srv/evidence]                   # where evidence images are found by name
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from station.errors import ConfigError


@dataclass(frozen=True)
class ConsoleConfig:
    waters: tuple[Path, ...] | None = None  # None: the sample waters
    tile_url: str = ""
    tile_attribution: str = ""
    evidence_dirs: tuple[Path, ...] = field(default_factory=tuple)


def load_console_config(path: Path | None) -> ConsoleConfig:
    if path is None:
        return ConsoleConfig()
    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings")
    unknown = set(data) - {"waters", "tile_url", "tile_attribution", "evidence_dirs"}
    if unknown:
        raise ConfigError(f"{path}: unknown setting(s) {', '.join(sorted(unknown))}")
    base = path.parent

    def paths(key: str) -> tuple[Path, ...]:
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: {key} must be a list of paths")
        return tuple((base / v) for v in value)

    tile_url = data.get("tile_url") or ""
    if tile_url and not (isinstance(tile_url, str) and tile_url.startswith(("http", "/"))):
        raise ConfigError(f"{path}: tile_url must be an http(s) URL with {{z}}/{{x}}/{{y}}")
    return ConsoleConfig(
        waters=paths("waters") if "waters" in data else None,
        tile_url=tile_url,
        tile_attribution=str(data.get("tile_attribution") or ""),
        evidence_dirs=paths("evidence_dirs"),
    )
