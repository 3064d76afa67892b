"""COMMAND_LONG with retries and COMMAND_ACK matching."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from mission.link._mavlink import enum_name
from mission.link.errors import LinkTimeout

if TYPE_CHECKING:
    from mission.link.connection import Connection

MAV_CMD_NAV_RETURN_TO_LAUNCH = 20
MAV_CMD_NAV_LAND = 21
MAV_CMD_DO_SET_MODE = 176
MAV_CMD_MISSION_START = 300
MAV_CMD_COMPONENT_ARM_DISARM = 400
MAV_CMD_SET_MESSAGE_INTERVAL = 511
MAV_CMD_REQUEST_MESSAGE = 512

MAV_RESULT_ACCEPTED = 0
MAV_RESULT_IN_PROGRESS = 5


def result_name(result: int) -> str:
    return enum_name("MAV_RESULT", result)


def command_name(command: int) -> str:
    return enum_name("MAV_CMD", command).removeprefix("MAV_CMD_")


def command_long(
    conn: Connection,
    command: int,
    *params: float,
    timeout_s: float = 1.5,
    retries: int = 3,
) -> int:
    """Send COMMAND_LONG and return the MAV_RESULT of its COMMAND_ACK.

    Resends (with ``confirmation`` counting up) when no ACK comes within
    ``timeout_s``; IN_PROGRESS extends the wait. Raises LinkTimeout when the
    vehicle never answers.
    """
    p = [float(x) for x in params] + [0.0] * (7 - len(params))
    with conn.subscribe("COMMAND_ACK") as sub:
        for attempt in range(retries + 1):
            conn.send(
                "command_long",
                command=command,
                confirmation=attempt,
                param1=p[0],
                param2=p[1],
                param3=p[2],
                param4=p[3],
                param5=p[4],
                param6=p[5],
                param7=p[6],
            )
            deadline = time.monotonic() + timeout_s
            while (left := deadline - time.monotonic()) > 0:
                ack = sub.get(left)
                if ack is None or ack.command != command:
                    continue
                if ack.result == MAV_RESULT_IN_PROGRESS:
                    deadline = time.monotonic() + timeout_s
                    continue
                return int(ack.result)
    raise LinkTimeout(
        f"no COMMAND_ACK for {command_name(command)} after {retries + 1} tries "
        f"({timeout_s:.1f} s each) on {conn.url}"
    )
