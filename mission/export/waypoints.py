"""``QGC WPL 110`` text files, the waypoint format Mission Planner and QGroundControl both load.

One line per item, tab-separated: index, current, frame, command, param1-4,
param5 (lat), param6 (lon), param7 (alt), autocontinue. A mission file's line
0 is home (current 1). waterpatrol also writes the fence and the rally list
in this format, in their own files, with no home line (their MAVLink lists
have none): line 0 is the first fence vertex / rally point. That is the form
pymavlink's fence and rally loaders read (MAVProxy ``fence load`` / ``rally
load``). Reading back, each item's list (mission/fence/rally) follows from its
command. Blank lines and ``#`` comment lines (MAVProxy writes them) are skipped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from mission.errors import ExportError
from mission.export._io import read_text, write_atomic
from mission.export._params import GLOBAL_FRAMES, from_params, to_params
from mission.items import MissionItem, MissionType

HEADER = "QGC WPL 110"


def waypoints_text(items: Sequence[MissionItem]) -> str:
    """The file text for one list (mission with home at 0, or fence, or rally)."""
    types = {it.mission_type for it in items}
    if len(types) > 1:
        raise ExportError(
            "one .waypoints file holds one list; got items of mission types "
            f"{sorted(types)} (write the mission, fence and rally to separate files)"
        )
    is_mission = not items or items[0].mission_type == MissionType.MISSION
    lines = [HEADER]
    for i, item in enumerate(items):
        params = to_params(item)
        current = 1 if (i == 0 and is_mission) else 0
        fields = [str(i), str(current), str(int(item.frame)), str(int(item.command))]
        fields += [_num(p) for p in params[:4]]
        if item.frame in GLOBAL_FRAMES:
            fields += [f"{params[4]:.8f}", f"{params[5]:.8f}"]
        else:
            fields += [str(item.x), str(item.y)]
        fields += [_num(params[6]), str(int(item.autocontinue))]
        lines.append("\t".join(fields))
    return "\n".join(lines) + "\n"


def parse_waypoints(text: str, source: str) -> tuple[MissionItem, ...]:
    """Items of a QGC WPL 110 text; ``source`` (the file name) prefixes errors."""
    lines = text.splitlines()
    header = lines[0].strip() if lines else ""
    if header != HEADER:
        if header.startswith("QGC WPL"):
            raise ExportError(
                f"{source}: line 1: format {header!r} is not supported, expected {HEADER!r} "
                "(re-save the mission from Mission Planner or QGroundControl)"
            )
        raise ExportError(f"{source}: line 1 must be {HEADER!r}, got {header[:40]!r}")
    items: list[MissionItem] = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{source}: line {lineno}"
        fields = line.split("\t")
        if len(fields) != 12:
            fields = line.split()
        if len(fields) != 12:
            raise ExportError(
                f"{where}: expected 12 tab-separated fields (index, current, frame, command, "
                f"param1-4, lat, lon, alt, autocontinue), got {len(fields)}"
            )
        head = [_int(f, where, name) for f, name in zip(fields[:4], _NAMES, strict=True)]
        index, _current, frame, command = head
        if index != len(items):
            raise ExportError(f"{where}: index {index} is out of sequence, expected {len(items)}")
        params = [_float(f, where, f"param{k}") for k, f in enumerate(fields[4:11], start=1)]
        autocontinue = _int(fields[11], where, "autocontinue")
        items.append(from_params(command, frame, params, autocontinue, where))
    return tuple(items)


def write_waypoints(path: Path, items: Sequence[MissionItem]) -> Path:
    try:
        text = waypoints_text(items)
    except ExportError as exc:
        raise ExportError(f"{path}: {exc}") from exc
    return write_atomic(path, text)


def read_waypoints(path: Path) -> tuple[MissionItem, ...]:
    """Read a QGC WPL 110 file back as MissionItems (a mission's item 0 is home)."""
    return parse_waypoints(read_text(path, "QGC WPL 110 waypoint file"), str(path))


_NAMES = ("index", "current", "frame", "command")


def _num(v: float) -> str:
    return "NaN" if math.isnan(v) else repr(float(v))


def _int(field: str, where: str, name: str) -> int:
    try:
        return int(field)
    except ValueError:
        try:
            value = float(field)
        except ValueError:
            value = math.nan
        if value.is_integer():
            return int(value)
        raise ExportError(f"{where}: {name} must be an integer, got {field!r}") from None


def _float(field: str, where: str, name: str) -> float:
    try:
        value = float(field)
    except ValueError:
        raise ExportError(f"{where}: {name} must be a number, got {field!r}") from None
    if math.isinf(value):
        raise ExportError(f"{where}: {name} is {field!r}; use a finite number")
    return value
