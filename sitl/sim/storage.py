"""What ArduCopter keeps of an uploaded mission, fence or rally item, and how it reads back.

Pure functions over ``mission.items.MissionItem``. An item is converted as
ArduPilot converts MISSION_ITEM_INT into its storage format: unknown commands
and frames are refused with the MAV_MISSION_RESULT ArduPilot gives, params that
do not fit the compact storage are dropped (a copter NAV_WAYPOINT keeps only
param1, as whole seconds), altitudes are kept in whole centimetres (rally
points: whole metres), and positions as 1e-7 degree ints. Download returns the
stored form: position commands in frame 3 (relative) or 0 (absolute),
everything else in frame 0.
"""

from __future__ import annotations

import math
import struct
from enum import IntEnum

from mission.items import Cmd, Frame, MissionItem, MissionType
from sitl.sim.fence import FENCE_CMDS


class Result(IntEnum):
    """MAV_MISSION_RESULT."""

    ACCEPTED = 0
    ERROR = 1
    UNSUPPORTED_FRAME = 2
    UNSUPPORTED = 3
    NO_SPACE = 4
    INVALID = 5
    INVALID_PARAM1 = 6
    INVALID_PARAM2 = 7
    INVALID_PARAM3 = 8
    INVALID_PARAM4 = 9
    INVALID_PARAM5_X = 10
    INVALID_PARAM6_Y = 11
    INVALID_PARAM7 = 12
    INVALID_SEQUENCE = 13
    DENIED = 14
    OPERATION_CANCELLED = 15


# Commands ArduCopter stores with a location (AP_Mission::stored_in_location).
_LOCATION_CMDS = frozenset({16, 17, 18, 19, 21, 22, 30, 31, 82, 92, 179, 189, 191, 195, 201, 94})
# Commands ArduCopter accepts in a mission (the subset of AP_Mission's list a copter uses).
_MISSION_CMDS = _LOCATION_CMDS | frozenset(
    {
        20,
        93,
        112,
        114,
        115,
        176,
        177,
        178,
        181,
        182,
        183,
        184,
        197,
        202,
        203,
        205,
        206,
        207,
        208,
        211,
        222,
        1000,
        42600,
    }
)
_NAN_PARAM4_OK = frozenset({Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF, Cmd.NAV_LAND, 82})
_ABSOLUTE_FRAMES = frozenset({Frame.GLOBAL, Frame.MISSION, Frame.GLOBAL_INT})
_RELATIVE_FRAMES = frozenset({Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_RELATIVE_ALT_INT})
_TERRAIN_FRAMES = frozenset({10, 11})
LOCATION_ALT_MAX_M = 83000


def _f32(v: float) -> float:
    return struct.unpack("<f", struct.pack("<f", v))[0]


def _u16(v: float) -> float:
    return float(int(v) & 0xFFFF) if math.isfinite(v) else 0.0


def _alt_cm(z: float) -> float:
    return _f32(int(_f32(z) * 100.0) / 100.0)


def _check_params(item: MissionItem) -> Result:
    params = (item.param1, item.param2, item.param3, item.param4)
    for n, p in enumerate(params):
        if math.isinf(p) or (math.isnan(p) and not (n == 3 and item.command in _NAN_PARAM4_OK)):
            return Result(Result.INVALID_PARAM1 + n)
    return Result.ACCEPTED


def _check_position(item: MissionItem) -> Result:
    if abs(item.x) > 90 * 10**7:
        return Result.INVALID_PARAM5_X
    if abs(item.y) > 180 * 10**7:
        return Result.INVALID_PARAM6_Y
    if math.isnan(item.z) or abs(item.z) >= LOCATION_ALT_MAX_M:
        return Result.INVALID_PARAM7
    return Result.ACCEPTED


def _mission_params(item: MissionItem) -> tuple[float, float, float, float]:
    p1, p2, p3, p4 = item.param1, item.param2, item.param3, item.param4
    match item.command:
        case Cmd.NAV_WAYPOINT | Cmd.NAV_TAKEOFF | 82 | 19 | 92 | 207 | 208 | 176 | 201:
            return _u16(p1), 0.0, 0.0, 0.0
        case Cmd.NAV_LAND:
            return _u16(p1), 0.0, 0.0, (-1.0 if p4 < 0 else 1.0)
        case Cmd.NAV_RETURN_TO_LAUNCH | 189 | 191 | 195 | 197:
            return 0.0, 0.0, 0.0, 0.0
        case Cmd.DO_CHANGE_SPEED:
            return float(int(p1) & 0xFF), _f32(p2), _f32(p3), 0.0
        case Cmd.DO_MOUNT_CONTROL:
            return _f32(p1), _f32(p2), _f32(p3), 0.0
        case Cmd.DO_SET_CAM_TRIGG_DIST:
            return _f32(p1), 0.0, float(int(p3) & 0xFF), 0.0
        case 177:  # DO_JUMP
            return float(int(p1)), float(int(p2)), 0.0, 0.0
        case _:
            return _f32(p1), _f32(p2), _f32(p3), _f32(p4)


def store_mission_item(item: MissionItem) -> tuple[Result, MissionItem | None]:
    """A mission item as ArduCopter stores it (and reads it back), or the refusal."""
    if item.command not in _MISSION_CMDS:
        return Result.UNSUPPORTED, None
    res = _check_params(item)
    if res != Result.ACCEPTED:
        return res, None
    p1, p2, p3, p4 = _mission_params(item)
    base = dict(
        command=item.command,
        param1=p1,
        param2=p2,
        param3=p3,
        param4=p4,
        mission_type=MissionType.MISSION,
    )
    if item.command in _LOCATION_CMDS:
        res = _check_position(item)
        if res != Result.ACCEPTED:
            return res, None
        if item.frame in _ABSOLUTE_FRAMES:
            frame = Frame.GLOBAL
        elif item.frame in _RELATIVE_FRAMES:
            frame = Frame.GLOBAL_RELATIVE_ALT
        elif item.frame in _TERRAIN_FRAMES:
            frame = 10
        else:
            return Result.UNSUPPORTED_FRAME, None
        return Result.ACCEPTED, MissionItem(
            frame=frame, x=item.x, y=item.y, z=_alt_cm(item.z), **base
        )
    if item.command == Cmd.DO_GIMBAL_MANAGER_PITCHYAW:
        return Result.ACCEPTED, MissionItem(
            frame=Frame.GLOBAL, x=item.x, y=0, z=float(int(item.z) & 0xFF), **base
        )
    return Result.ACCEPTED, MissionItem(frame=Frame.GLOBAL, **base)


_FENCE_FRAMES = frozenset(
    {
        Frame.GLOBAL,
        Frame.GLOBAL_INT,
        Frame.GLOBAL_RELATIVE_ALT,
        Frame.GLOBAL_RELATIVE_ALT_INT,
        10,
        11,
    }
)


def store_fence_item(item: MissionItem) -> tuple[Result, MissionItem | None]:
    """A fence item as ArduPilot keeps it: frame 0, z 0, param1 = vertex count or radius."""
    if item.frame not in _FENCE_FRAMES:
        return Result.UNSUPPORTED_FRAME, None
    if item.command not in FENCE_CMDS:
        return Result.UNSUPPORTED, None
    if item.command in (Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION):
        r = item.param1
        p1 = float(int(r)) if math.isfinite(r) and r - int(r) < 0.001 else _f32(r)
    elif item.command == 5000:
        p1 = 0.0
    else:
        p1 = float(int(item.param1) & 0xFF) if math.isfinite(item.param1) else 0.0
    return Result.ACCEPTED, MissionItem(
        command=item.command,
        frame=Frame.GLOBAL,
        param1=p1,
        x=item.x,
        y=item.y,
        z=0.0,
        mission_type=MissionType.FENCE,
    )


def store_rally_item(item: MissionItem) -> tuple[Result, MissionItem | None]:
    """A rally point as ArduPilot's RallyLocation keeps it: altitude in whole metres."""
    if item.command != Cmd.NAV_RALLY_POINT:
        return Result.UNSUPPORTED, None
    res = _check_position(item)
    if res != Result.ACCEPTED:
        return res, None
    if item.frame in _RELATIVE_FRAMES:
        frame = Frame.GLOBAL_RELATIVE_ALT
    elif item.frame in (Frame.GLOBAL, Frame.GLOBAL_INT):
        frame = Frame.GLOBAL
    else:
        return Result.UNSUPPORTED_FRAME, None
    return Result.ACCEPTED, MissionItem(
        command=Cmd.NAV_RALLY_POINT,
        frame=frame,
        x=item.x,
        y=item.y,
        z=float(max(-32768, min(32767, int(item.z)))),
        mission_type=MissionType.RALLY,
    )


def store_item(item: MissionItem) -> tuple[Result, MissionItem | None]:
    """Dispatch on ``item.mission_type``."""
    match item.mission_type:
        case MissionType.MISSION:
            return store_mission_item(item)
        case MissionType.FENCE:
            return store_fence_item(item)
        case MissionType.RALLY:
            return store_rally_item(item)
    return Result.UNSUPPORTED, None


def home_readback(lat: float, lon: float, alt_amsl_m: float) -> MissionItem:
    """Mission item 0 as ArduPilot reads it back: the real home, absolute altitude."""
    return MissionItem(
        command=Cmd.NAV_WAYPOINT,
        frame=Frame.GLOBAL,
        x=round(lat * 1e7),
        y=round(lon * 1e7),
        z=_alt_cm(alt_amsl_m),
    )
