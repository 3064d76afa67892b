"""A schema-checked key-water document (the YAML format as a dict) -> KeyWater."""

from __future__ import annotations

import dataclasses
from typing import Any

from geofences.camera import DEFAULT_PRESET, PRESETS, Camera
from geofences.errors import KeyWaterFileError
from geofences.geometry import parse_area, parse_point_or_line, parse_polygon
from geofences.ids import derive_id
from geofences.model import (
    Hotspot,
    KeyWater,
    Launch,
    NoFlyZone,
    PatrolSettings,
    RuleSettings,
    VehicleSettings,
)


def build_keywater(doc: dict[str, Any], source: str, file_stem: str) -> KeyWater:
    """Fill the model types from ``doc``; geometry errors name the position at fault.

    Without an ``id`` key the id is derived from ``file_stem`` (the file name).
    """
    kw_id = str(doc["id"]) if "id" in doc else derive_id(file_stem, source)
    launches = [_launch(p) for p in _as_list(doc["launch"])]
    return KeyWater(
        id=kw_id,
        name=str(doc.get("name", kw_id)),
        water=parse_area(doc["water"], "water", source),
        launch=launches[0],
        extra_launches=tuple(launches[1:]),
        priority=int(doc.get("priority", 3)),
        no_fly=tuple(
            NoFlyZone(z["name"], parse_polygon(z["geometry"], f"no_fly[{i}].geometry", source))
            for i, z in enumerate(doc.get("no_fly") or [])
        ),
        hotspots=tuple(
            Hotspot(
                h["name"],
                parse_point_or_line(h["geometry"], f"hotspots[{i}].geometry", source),
                float(h.get("radius_m", Hotspot.radius_m)),
            )
            for i, h in enumerate(doc.get("hotspots") or [])
        ),
        patrol=_patrol(doc.get("patrol") or {}, source),
        vehicle=VehicleSettings(**_numbers(VehicleSettings, doc.get("vehicle") or {})),
        rules=RuleSettings(**_numbers(RuleSettings, doc.get("rules") or {})),
        sample=bool(doc.get("sample", False)),
        source=source,
    )


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _launch(point: dict[str, Any]) -> Launch:
    return Launch(
        lat=float(point["lat"]),
        lon=float(point["lon"]),
        alt_amsl_m=float(point.get("alt_amsl_m", 0.0)),
        name=str(point.get("name", "")),
    )


def _patrol(section: dict[str, Any], source: str) -> PatrolSettings:
    camera = _camera(section.get("camera", DEFAULT_PRESET), source)
    values = {k: v for k, v in section.items() if k != "camera"}
    return PatrolSettings(**_numbers(PatrolSettings, values), camera=camera)


def _camera(value: str | dict[str, Any], source: str) -> Camera:
    if isinstance(value, str):
        if value not in PRESETS:
            raise KeyWaterFileError(
                source,
                "patrol.camera",
                f"unknown camera preset {value!r}; use one of: {', '.join(PRESETS)} "
                "or give sensor_width_mm, sensor_height_mm, focal_length_mm, "
                "image_width_px, image_height_px",
            )
        return PRESETS[value]
    return Camera(
        sensor_width_mm=float(value["sensor_width_mm"]),
        sensor_height_mm=float(value["sensor_height_mm"]),
        focal_length_mm=float(value["focal_length_mm"]),
        image_width_px=int(value["image_width_px"]),
        image_height_px=int(value["image_height_px"]),
        name=str(value.get("name", "custom")),
    )


def _numbers(cls: type, section: dict[str, Any]) -> dict[str, Any]:
    """Numbers as the dataclass declares them (YAML's ``40`` is an int, the model wants 40.0)."""
    kinds = {f.name: f.type for f in dataclasses.fields(cls)}
    return {
        key: value
        if isinstance(value, bool | str) or value is None
        else (int(value) if kinds[key] in ("int", int) else float(value))
        for key, value in section.items()
    }
