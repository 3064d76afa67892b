"""ArduPilot's mission files (``@MISSION/mission.dat``, ``fence.dat``, ``rally.dat``).

ArduPilot exposes its mission, fence and rally stores as pseudo-files over
MAVLink FTP (libraries/AP_Filesystem/AP_Filesystem_Mission.cpp). A file is a
10-byte little-endian header (magic 0x763d, MAV_MISSION_TYPE, options, first
item, item count) followed by one MISSION_ITEM_INT payload per item, packed as
on the MAVLink 2 wire (38 bytes, no target ids filled in). Writing the file
replaces the whole list once the file is closed (clear, then add item by
item); the vehicle stops at a count that does not match the length, an item
that is all zero bytes or invalid, or a full store, keeping what it added so
far. Pure bytes in, bytes out: no I/O.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

from mission.items import MissionItem, MissionType
from mission.link.errors import LinkError

MAGIC = 0x763D
HEADER = struct.Struct("<HHHHH")  # magic, data_type, options, start, num_items
# MISSION_ITEM_INT in wire order: param1-4, x, y, z, seq, command, target_system,
# target_component, frame, current, autocontinue, mission_type.
ITEM = struct.Struct("<ffffiifHHBBBBBB")
MAX_ITEMS = 0xFFFE  # num_items is a uint16; ArduPilot treats 0xFFFF as unknown
PATHS = {
    MissionType.MISSION: "@MISSION/mission.dat",
    MissionType.FENCE: "@MISSION/fence.dat",
    MissionType.RALLY: "@MISSION/rally.dat",
}


class MissionFileError(LinkError):
    """A mission file cannot be written from these items, or read back from these bytes."""


def path_for(mission_type: int) -> str:
    """The pseudo-file of ``mission_type`` on the vehicle."""
    return PATHS[MissionType(mission_type)]


def encode(items: Sequence[MissionItem], mission_type: int) -> bytes:
    """The file that replaces the vehicle's ``mission_type`` list with ``items`` (item 0 = home)."""
    mtype = MissionType(mission_type)
    if len(items) > MAX_ITEMS:
        raise MissionFileError(
            f"{len(items)} items do not fit a mission file (at most {MAX_ITEMS}): split the plan"
        )
    parts = [HEADER.pack(MAGIC, int(mtype), 0, 0, len(items))]
    for seq, it in enumerate(items):
        if int(it.mission_type) != int(mtype):
            raise MissionFileError(
                f"item {seq} has mission_type {it.mission_type}, not {mtype.name.lower()}: "
                f"pass the {mtype.name.lower()} items only"
            )
        parts.append(
            ITEM.pack(
                it.param1,
                it.param2,
                it.param3,
                it.param4,
                int(it.x),
                int(it.y),
                it.z,
                seq,
                int(it.command),
                0,
                0,
                int(it.frame),
                0,
                int(it.autocontinue),
                int(mtype),
            )
        )
    return b"".join(parts)


def header_length(data: bytes) -> int | None:
    """Total length of the file that starts with ``data``; None until the header is complete."""
    if len(data) < HEADER.size:
        return None
    magic, _mtype, _options, _start, count = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise MissionFileError(
            f"not a mission file: magic {magic:#06x}, expected {MAGIC:#06x} "
            "(the autopilot's mission file format changed?)"
        )
    return HEADER.size + count * ITEM.size


def decode(data: bytes, mission_type: int) -> list[MissionItem]:
    """The items of a mission file read from the vehicle; checks magic, type and length.

    Every item gets ``mission_type`` (the header's list), whatever its own
    mission_type byte says.
    """
    mtype = MissionType(mission_type)
    total = header_length(data)
    if total is None:
        raise MissionFileError(f"mission file of {len(data)} bytes has no complete header")
    _magic, data_type, _options, start, count = HEADER.unpack_from(data)
    if data_type != int(mtype):
        raise MissionFileError(
            f"mission file holds mission_type {data_type}, expected {int(mtype)} "
            f"({mtype.name.lower()})"
        )
    if start != 0:
        raise MissionFileError(f"mission file starts at item {start}, not 0: a partial list")
    if len(data) != total:
        raise MissionFileError(
            f"mission file has {len(data)} bytes, its header says {count} items ({total} bytes)"
        )
    items = []
    for i in range(count):
        p1, p2, p3, p4, x, y, z, _seq, cmd, _ts, _tc, frame, _cur, auto, _mt = ITEM.unpack_from(
            data, HEADER.size + i * ITEM.size
        )
        items.append(
            MissionItem(
                command=cmd,
                frame=frame,
                param1=p1,
                param2=p2,
                param3=p3,
                param4=p4,
                x=x,
                y=y,
                z=z,
                autocontinue=auto,
                mission_type=int(mtype),
            )
        )
    return items
