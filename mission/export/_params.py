"""MissionItem <-> the seven float params that .plan and .waypoints files store.

Files store param5/param6 as degrees for global frames and as raw numbers
otherwise, exactly as MISSION_ITEM_INT scales ``x``/``y`` (x1e7 only for
global frames), so a file read back gives the same wire item.
"""

from __future__ import annotations

import math

from mission.errors import ExportError
from mission.items import Cmd, Frame, MissionItem, MissionType, deg_to_e7

GLOBAL_FRAMES = frozenset({0, 3, 5, 6, 10, 11})  # GLOBAL*, incl. TERRAIN_ALT(_INT)
RELATIVE_FRAMES = frozenset({Frame.GLOBAL_RELATIVE_ALT, Frame.GLOBAL_RELATIVE_ALT_INT})
FENCE_POLYGON_CMDS = frozenset(
    {Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION}
)
FENCE_CIRCLE_CMDS = frozenset({Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION})


def to_params(item: MissionItem) -> list[float]:
    """param1..param7 of ``item`` (param5/6 = lat/lon degrees in global frames)."""
    if item.frame in GLOBAL_FRAMES:
        p5, p6 = item.x / 1e7, item.y / 1e7
    else:
        p5, p6 = float(item.x), float(item.y)
    head = (item.param1, item.param2, item.param3, item.param4)
    return [*(float(p) for p in head), p5, p6, float(item.z)]


def mission_type_of(command: int) -> int:
    """The list a command belongs to: fence and rally commands are valid nowhere else."""
    if command in FENCE_POLYGON_CMDS or command in FENCE_CIRCLE_CMDS:
        return MissionType.FENCE
    if command == Cmd.NAV_RALLY_POINT:
        return MissionType.RALLY
    return MissionType.MISSION


def from_params(
    command: int, frame: int, params: list[float], autocontinue: int, where: str
) -> MissionItem:
    """The MissionItem for seven file params; ``where`` ("file: item 3") prefixes errors."""
    if len(params) != 7:
        raise ExportError(
            f"{where}: expected 7 params (param1-4, lat, lon, alt), got {len(params)}"
        )
    p1, p2, p3, p4, p5, p6, p7 = params
    # NaN lat/lon means "no position" in QGC files; the wire item carries 0.
    p5 = 0.0 if math.isnan(p5) else p5
    p6 = 0.0 if math.isnan(p6) else p6
    if frame in GLOBAL_FRAMES:
        if abs(p5) > 90.0 or abs(p6) > 180.0:
            raise ExportError(
                f"{where}: latitude {p5} / longitude {p6} is out of range "
                "(latitude -90..90, longitude -180..180 degrees)"
            )
        x, y = deg_to_e7(p5), deg_to_e7(p6)
    else:
        x, y = round(p5), round(p6)
    return MissionItem(
        command=command,
        frame=frame,
        param1=p1,
        param2=p2,
        param3=p3,
        param4=p4,
        x=x,
        y=y,
        z=p7,
        autocontinue=autocontinue,
        mission_type=mission_type_of(command),
    )


def command_name(command: int) -> str:
    """MAV_CMD name without the prefix (``NAV_WAYPOINT``), or ``MAV_CMD_<n>`` if not ours."""
    try:
        return Cmd(command).name
    except ValueError:
        return f"MAV_CMD_{command}"
