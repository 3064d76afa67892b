"""Parameters: PARAM_REQUEST_READ / PARAM_SET with the vehicle's PARAM_VALUE as read-back.

ArduPilot answers PARAM_SET with PARAM_VALUE carrying the stored value and
does not answer at all for a name it does not have; values travel as floats
(not bit-cast), so an integer parameter compares after rounding.
"""

from __future__ import annotations

import math
import struct
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mission.link.errors import ParamError

if TYPE_CHECKING:
    from mission.link.connection import Connection

MAV_PARAM_TYPE_REAL32 = 9
_INT_TYPES = frozenset(range(1, 9))  # UINT8 ... INT64


def _name(msg: Any) -> str:
    pid = msg.param_id
    if isinstance(pid, bytes):
        pid = pid.decode("ascii", "replace")
    return pid.rstrip("\x00")


def _check_name(name: str) -> str:
    if not name or len(name) > 16 or not name.isascii():
        raise ParamError(f"parameter name {name!r} is not valid: 1-16 ASCII characters")
    return name.upper()


def _f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]


def _same(want: float, got: float, param_type: int) -> bool:
    if param_type in _INT_TYPES:
        return round(want) == round(got)
    return math.isclose(_f32(want), _f32(got), rel_tol=1e-6, abs_tol=1e-6)


def _exchange(
    conn: Connection, name: str, send: dict[str, Any], msg_name: str, timeout_s: float, retries: int
) -> Any:
    with conn.subscribe("PARAM_VALUE") as sub:
        for _ in range(retries + 1):
            conn.send(msg_name, **send)
            deadline = time.monotonic() + timeout_s
            while (left := deadline - time.monotonic()) > 0:
                msg = sub.get(left)
                if msg is not None and _name(msg) == name:
                    return msg
    raise ParamError(
        f"vehicle has no parameter {name} (no PARAM_VALUE after {retries + 1} requests): "
        "check the name for this firmware version"
    )


def get(conn: Connection, name: str, *, timeout_s: float = 1.0, retries: int = 3) -> float:
    """The value of parameter ``name``."""
    name = _check_name(name)
    msg = _exchange(
        conn,
        name,
        {"param_id": name.encode(), "param_index": -1},
        "param_request_read",
        timeout_s,
        retries,
    )
    return float(msg.param_value)


def set_param(
    conn: Connection, name: str, value: float, *, timeout_s: float = 1.0, retries: int = 3
) -> float:
    """Set ``name`` to ``value`` and return the value the vehicle read back.

    Raises ParamError when the vehicle does not know the name or stores a
    different value (out of range, read-only).
    """
    name = _check_name(name)
    if not math.isfinite(value):
        raise ParamError(f"{name}: value {value!r} is not a finite number")
    msg = _exchange(
        conn,
        name,
        {
            "param_id": name.encode(),
            "param_value": float(value),
            "param_type": MAV_PARAM_TYPE_REAL32,
        },
        "param_set",
        timeout_s,
        retries,
    )
    got = float(msg.param_value)
    if not _same(value, got, int(msg.param_type)):
        raise ParamError(
            f"vehicle kept {name} = {got:g} after being set to {value:g}: "
            "the value is out of range or the parameter is read-only"
        )
    return got


def set_many(conn: Connection, values: Mapping[str, float]) -> dict[str, float]:
    """Set several parameters in order; returns the read-back values."""
    return {name: set_param(conn, name, value) for name, value in values.items()}
