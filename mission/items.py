"""MAVLink mission items: the one type the planner, the exports and the vehicle link share.

Fields mirror MISSION_ITEM_INT: ``x``/``y`` are latitude/longitude in degrees
x 1e7 for navigation commands (ints on the wire), ``z`` is altitude in metres
(relative to home with MAV_FRAME_GLOBAL_RELATIVE_ALT). Pure data, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum


class Cmd(IntEnum):
    """The MAV_CMD values waterpatrol uses (common.xml numbers)."""

    NAV_WAYPOINT = 16
    NAV_RETURN_TO_LAUNCH = 20
    NAV_LAND = 21
    NAV_TAKEOFF = 22
    DO_CHANGE_SPEED = 178
    DO_SET_ROI_LOCATION = 195
    DO_SET_CAM_TRIGG_DIST = 206
    DO_MOUNT_CONTROL = 205
    DO_GIMBAL_MANAGER_PITCHYAW = 1000
    NAV_FENCE_POLYGON_VERTEX_INCLUSION = 5001
    NAV_FENCE_POLYGON_VERTEX_EXCLUSION = 5002
    NAV_FENCE_CIRCLE_INCLUSION = 5003
    NAV_FENCE_CIRCLE_EXCLUSION = 5004
    NAV_RALLY_POINT = 5100


class Frame(IntEnum):
    GLOBAL = 0  # absolute altitude; ArduPilot uses it for item 0 (home)
    MISSION = 2  # no position (DO_ commands)
    GLOBAL_RELATIVE_ALT = 3
    GLOBAL_INT = 5
    GLOBAL_RELATIVE_ALT_INT = 6


class MissionType(IntEnum):
    MISSION = 0
    FENCE = 1
    RALLY = 2


NAV_POSITION_CMDS = frozenset(
    {
        Cmd.NAV_WAYPOINT,
        Cmd.NAV_TAKEOFF,
        Cmd.NAV_LAND,
        Cmd.DO_SET_ROI_LOCATION,
        Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
        Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
        Cmd.NAV_FENCE_CIRCLE_INCLUSION,
        Cmd.NAV_FENCE_CIRCLE_EXCLUSION,
        Cmd.NAV_RALLY_POINT,
    }
)


def deg_to_e7(deg: float) -> int:
    return round(deg * 1e7)


@dataclass(frozen=True)
class MissionItem:
    command: int
    frame: int = Frame.GLOBAL_RELATIVE_ALT
    param1: float = 0.0
    param2: float = 0.0
    param3: float = 0.0
    param4: float = 0.0
    x: int = 0  # latitude * 1e7 for positions
    y: int = 0  # longitude * 1e7 for positions
    z: float = 0.0  # altitude in metres
    autocontinue: int = 1
    mission_type: int = MissionType.MISSION

    @property
    def lat(self) -> float:
        return self.x / 1e7

    @property
    def lon(self) -> float:
        return self.y / 1e7

    @property
    def has_position(self) -> bool:
        return self.command in NAV_POSITION_CMDS

    @classmethod
    def at(cls, command: int, lat: float, lon: float, alt_m: float, **kw: float) -> MissionItem:
        return cls(command=command, x=deg_to_e7(lat), y=deg_to_e7(lon), z=alt_m, **kw)

    def with_type(self, mission_type: int) -> MissionItem:
        return replace(self, mission_type=mission_type)


def home_item(lat: float, lon: float, alt_amsl_m: float = 0.0) -> MissionItem:
    """Item 0 of every ArduPilot mission: home (ignored on upload, the real home reads back)."""
    return MissionItem.at(Cmd.NAV_WAYPOINT, lat, lon, alt_amsl_m, frame=Frame.GLOBAL)


def same_item(a: MissionItem, b: MissionItem, alt_tol_m: float = 0.01) -> bool:
    """Semantic equality as ArduPilot reads items back (frames normalised, floats rounded).

    Positions compare as 1e-7 degree ints; params to float32 precision; the
    frame only matters for items with a position (RTL comes back as frame 0).
    """
    if a.command != b.command or a.mission_type != b.mission_type:
        return False
    pa = (a.param1, a.param2, a.param3, a.param4)
    pb = (b.param1, b.param2, b.param3, b.param4)
    if any(abs(p - q) > 1e-4 * max(1.0, abs(p)) for p, q in zip(pa, pb, strict=True)):
        return False
    if a.has_position or b.has_position:
        if (a.x, a.y) != (b.x, b.y) or abs(a.z - b.z) > alt_tol_m:
            return False
        relative = {Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_RELATIVE_ALT_INT}
        if (a.frame in relative) != (b.frame in relative):
            return False
    return True
