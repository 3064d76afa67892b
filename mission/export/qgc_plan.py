"""QGroundControl ``.plan`` files (JSON): one sortie's mission plus the fence and rally points.

The layout follows what QGroundControl itself saves and loads
(PlanMasterController / MissionController / SimpleMissionItem /
GeoFenceController / RallyPointController): file version 1, mission version 2
with ``plannedHomePosition`` standing for item 0 (home) and ``items`` holding
items 1..N as SimpleItems, geoFence version 2 with polygon/circle objects
version 1, rallyPoints version 2. NaN params are written as null, as QGC does.
A .plan holds one mission, so a plan of several sorties is several files.

Read back, fence items take QGroundControl's upload form (frame GLOBAL,
altitude 0) and rally points frame GLOBAL_RELATIVE_ALT, their altitude being
relative to home, which is how ArduPilot reads them back too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mission.errors import ExportError
from mission.export._fence import FenceCircle, FencePolygon, fence_items, fence_shapes
from mission.export._io import read_text, write_atomic
from mission.export._params import RELATIVE_FRAMES, from_params, to_params
from mission.items import Cmd, Frame, MissionItem, MissionType, home_item
from mission.plan import Sortie

FIRMWARE_ARDUPILOT = 3  # MAV_AUTOPILOT_ARDUPILOTMEGA
VEHICLE_MULTIROTOR = 2  # MAV_TYPE_QUADROTOR: QGC's multirotor class
ALT_MODE_RELATIVE = 1  # QGroundControlQmlGlobal::AltitudeModeRelative
ALT_MODE_ABSOLUTE = 2  # QGroundControlQmlGlobal::AltitudeModeAbsolute
GROUND_STATION = "waterpatrol"


@dataclass(frozen=True)
class PlanFile:
    """What a .plan file holds, as MissionItems."""

    mission: tuple[MissionItem, ...]  # item 0 = home (plannedHomePosition)
    fence: tuple[MissionItem, ...]
    rally: tuple[MissionItem, ...]
    hover_speed_m_s: float | None = None


def plan_document(
    mission: Sequence[MissionItem],
    fence: Sequence[MissionItem],
    rally: Sequence[MissionItem],
    speed_m_s: float,
) -> dict[str, Any]:
    """The .plan JSON object for one mission (item 0 = home) with its fence and rally."""
    if not mission:
        raise ExportError("a .plan needs at least the home item (mission item 0)")
    home = mission[0]
    polygons, circles = fence_shapes(fence)
    return {
        "fileType": "Plan",
        "version": 1,
        "groundStation": GROUND_STATION,
        "mission": {
            "version": 2,
            "firmwareType": FIRMWARE_ARDUPILOT,
            "vehicleType": VEHICLE_MULTIROTOR,
            "cruiseSpeed": speed_m_s,
            "hoverSpeed": speed_m_s,
            "plannedHomePosition": [home.lat, home.lon, home.z],
            "items": [_simple_item(item, seq) for seq, item in enumerate(mission[1:], start=1)],
        },
        "geoFence": {
            "version": 2,
            "polygons": [_polygon_json(p) for p in polygons],
            "circles": [_circle_json(c) for c in circles],
        },
        "rallyPoints": {
            "version": 2,
            "points": [[r.lat, r.lon, r.z] for r in rally],
        },
    }


def write_plan(
    path: Path,
    sortie: Sortie,
    fence: Sequence[MissionItem],
    rally: Sequence[MissionItem],
    speed_m_s: float,
) -> Path:
    try:
        doc = plan_document(sortie.items, fence, rally, speed_m_s)
        text = json.dumps(_nan_to_null(doc), indent=4, allow_nan=False)
    except ExportError as exc:
        raise ExportError(f"{path}: {exc}") from exc
    return write_atomic(path, text + "\n")


def read_plan(path: Path) -> PlanFile:
    """Read a .plan back as MissionItems; a corrupt file is an ExportError naming the problem."""
    text = read_text(path, "QGroundControl .plan (JSON)")
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise ExportError(f"{path}: JSON nested too deeply to be a .plan") from exc
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise ExportError(f"{path}: {exc}") from exc
        raise ExportError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from exc
    return parse_plan_document(doc, str(path))


def parse_plan_document(doc: Any, source: str) -> PlanFile:
    """Check a parsed .plan object and turn it into MissionItems; ``source`` prefixes errors."""
    top = _obj(doc, source, "the file")
    if top.get("fileType") != "Plan":
        raise ExportError(f'{source}: fileType is {top.get("fileType")!r}, expected "Plan"')
    if top.get("version") != 1:
        raise ExportError(f"{source}: version is {top.get('version')!r}, expected 1")
    mission = _obj(top.get("mission"), source, "mission")
    if mission.get("version") != 2:
        raise ExportError(f"{source}: mission.version is {mission.get('version')!r}, expected 2")
    home = _numbers(mission.get("plannedHomePosition"), 3, source, "mission.plannedHomePosition")
    _check_latlon(home[0], home[1], source, "mission.plannedHomePosition")
    items = [home_item(home[0], home[1], home[2])]
    raw_items = _list(mission.get("items"), source, "mission.items")
    for i, raw in enumerate(raw_items):
        items.append(_parse_item(raw, f"{source}: mission.items[{i}]"))
    hover = mission.get("hoverSpeed")
    hover_speed = float(hover) if _is_number(hover) else None
    return PlanFile(
        mission=tuple(items),
        fence=_parse_fence(top.get("geoFence"), source),
        rally=_parse_rally(top.get("rallyPoints"), source),
        hover_speed_m_s=hover_speed,
    )


def _simple_item(item: MissionItem, seq: int) -> dict[str, Any]:
    if item.mission_type != MissionType.MISSION:
        raise ExportError(
            f"mission item {seq}: mission_type {item.mission_type} belongs in the fence "
            "or rally list, not in a sortie's mission"
        )
    out: dict[str, Any] = {
        "type": "SimpleItem",
        "command": int(item.command),
        "frame": int(item.frame),
        "autoContinue": bool(item.autocontinue),
        "doJumpId": seq,
        "params": to_params(item),
    }
    if item.has_position:
        # QGC validates the three altitude keys together; null stands for NaN.
        out["AltitudeMode"] = (
            ALT_MODE_RELATIVE if item.frame in RELATIVE_FRAMES else ALT_MODE_ABSOLUTE
        )
        out["Altitude"] = item.z
        out["AMSLAltAboveTerrain"] = None
    return out


def _polygon_json(poly: FencePolygon) -> dict[str, Any]:
    return {
        "version": 1,
        "inclusion": poly.inclusion,
        "polygon": [[lat, lon] for lat, lon in poly.vertices],
    }


def _circle_json(circle: FenceCircle) -> dict[str, Any]:
    return {
        "version": 1,
        "inclusion": circle.inclusion,
        "circle": {"center": [circle.lat, circle.lon], "radius": circle.radius_m},
    }


def _parse_item(raw: Any, where: str) -> MissionItem:
    obj = _obj(raw, where, "the item")
    kind = obj.get("type")
    if kind != "SimpleItem":
        raise ExportError(
            f'{where}: type {kind!r} is not supported; only "SimpleItem" can be read '
            "(re-save complex survey items as waypoints in QGroundControl)"
        )
    for key in ("command", "frame"):
        if not _is_number(obj.get(key)) or int(obj[key]) != obj[key]:
            raise ExportError(f"{where}: {key} must be an integer, got {obj.get(key)!r}")
    if not isinstance(obj.get("autoContinue"), bool):
        raise ExportError(f"{where}: autoContinue must be true or false")
    params = _numbers(obj.get("params"), 7, where, "params", allow_null=True)
    return from_params(
        int(obj["command"]), int(obj["frame"]), params, int(obj["autoContinue"]), where
    )


def _parse_fence(raw: Any, source: str) -> tuple[MissionItem, ...]:
    if raw is None:
        return ()
    fence = _obj(raw, source, "geoFence")
    if fence.get("version") != 2:
        if _legacy_and_empty(fence, "polygon"):
            return ()  # QGroundControl ignores version-1 fence data too
        raise ExportError(
            f"{source}: geoFence.version is {fence.get('version')!r}, expected 2 "
            "(open and re-save the file in a current QGroundControl)"
        )
    polygons: list[FencePolygon] = []
    for i, p in enumerate(_list(fence.get("polygons", []), source, "geoFence.polygons")):
        where = f"geoFence.polygons[{i}]"
        obj = _obj(p, source, where)
        if not isinstance(obj.get("inclusion"), bool):
            raise ExportError(f"{source}: {where}.inclusion must be true or false")
        verts = _list(obj.get("polygon"), source, f"{where}.polygon")
        if len(verts) < 3:
            raise ExportError(f"{source}: {where}.polygon has {len(verts)} vertices, needs >= 3")
        latlons = []
        for j, v in enumerate(verts):
            lat, lon = _numbers(v, 2, source, f"{where}.polygon[{j}]")
            _check_latlon(lat, lon, source, f"{where}.polygon[{j}]")
            latlons.append((lat, lon))
        polygons.append(FencePolygon(obj["inclusion"], tuple(latlons)))
    circles: list[FenceCircle] = []
    for i, c in enumerate(_list(fence.get("circles", []), source, "geoFence.circles")):
        where = f"geoFence.circles[{i}]"
        obj = _obj(c, source, where)
        circle = _obj(obj.get("circle"), source, f"{where}.circle")
        lat, lon = _numbers(circle.get("center"), 2, source, f"{where}.circle.center")
        _check_latlon(lat, lon, source, f"{where}.circle.center")
        radius = circle.get("radius")
        if not _is_number(radius) or radius <= 0:
            raise ExportError(f"{source}: {where}.circle.radius must be a positive number")
        if not isinstance(obj.get("inclusion"), bool):
            raise ExportError(f"{source}: {where}.inclusion must be true or false")
        circles.append(FenceCircle(obj["inclusion"], lat, lon, float(radius)))
    return fence_items(polygons, circles)


def _parse_rally(raw: Any, source: str) -> tuple[MissionItem, ...]:
    if raw is None:
        return ()
    rally = _obj(raw, source, "rallyPoints")
    if rally.get("version") != 2:
        if _legacy_and_empty(rally, "points"):
            return ()  # QGroundControl ignores version-1 rally data too
        raise ExportError(
            f"{source}: rallyPoints.version is {rally.get('version')!r}, expected 2 "
            "(open and re-save the file in a current QGroundControl)"
        )
    items = []
    for i, p in enumerate(_list(rally.get("points"), source, "rallyPoints.points")):
        lat, lon, alt = _numbers(p, 3, source, f"rallyPoints.points[{i}]")
        _check_latlon(lat, lon, source, f"rallyPoints.points[{i}]")
        items.append(
            MissionItem.at(
                Cmd.NAV_RALLY_POINT,
                lat,
                lon,
                alt,
                frame=Frame.GLOBAL_RELATIVE_ALT,
                mission_type=MissionType.RALLY,
            )
        )
    return tuple(items)


def _legacy_and_empty(section: dict[str, Any], key: str) -> bool:
    """A version-1 (or unversioned) section with no geometry: safe to ignore, as QGC does."""
    return section.get("version") in (None, 1) and not section.get(key)


def _nan_to_null(value: Any) -> Any:
    if isinstance(value, float):
        if math.isinf(value):
            raise ExportError(f"a value is {value}; .plan files cannot hold infinities")
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {k: _nan_to_null(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_null(v) for v in value]
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not valid JSON (QGroundControl writes null for NaN)")


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _obj(v: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ExportError(f"{source}: {where} must be a JSON object, got {_kind(v)}")
    return v


def _list(v: Any, source: str, where: str) -> list[Any]:
    if not isinstance(v, list):
        raise ExportError(f"{source}: {where} must be a JSON array, got {_kind(v)}")
    return v


def _numbers(v: Any, n: int, source: str, where: str, allow_null: bool = False) -> list[float]:
    values = _list(v, source, where)
    if len(values) != n:
        raise ExportError(f"{source}: {where} must hold {n} numbers, got {len(values)}")
    out = []
    for x in values:
        if x is None and allow_null:
            out.append(math.nan)
        elif _is_number(x):
            out.append(float(x))
        else:
            raise ExportError(f"{source}: {where} must hold numbers, found {x!r}")
    return out


def _check_latlon(lat: float, lon: float, source: str, where: str) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise ExportError(
            f"{source}: {where} = [{lat}, {lon}] is not [latitude, longitude] in degrees"
        )


def _kind(v: Any) -> str:
    return "null" if v is None else type(v).__name__
