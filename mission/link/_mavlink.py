"""pymavlink, imported once with MAVLink 2 and the ardupilotmega dialect.

pymavlink picks its wire version and dialect from the environment at import
time; fence and rally transfers silently break on MAVLink 1 (``mission_type``
is dropped), so this module sets both before the import and re-selects the
dialect if someone imported pymavlink differently first.
"""

from __future__ import annotations

import os

os.environ["MAVLINK20"] = "1"
os.environ.setdefault("MAVLINK_DIALECT", "ardupilotmega")

from pymavlink import mavutil

if mavutil.current_dialect != "ardupilotmega" or mavutil.mavlink.WIRE_PROTOCOL_VERSION != "2.0":
    mavutil.set_dialect("ardupilotmega")

mavlink = mavutil.mavlink


def enum_name(enum: str, value: int) -> str:
    """``MAV_MISSION_RESULT`` 4 -> ``NO_SPACE``: the name without the enum's prefix."""
    entry = mavlink.enums.get(enum, {}).get(int(value))
    if entry is None:
        return f"{enum}({value})"
    prefix = {"MAV_MISSION_RESULT": "MAV_MISSION_", "MAV_RESULT": "MAV_RESULT_"}.get(enum, "")
    return entry.name.removeprefix(prefix)


def msg_id(name: str) -> int:
    """MAVLink message id of a message name such as ``GLOBAL_POSITION_INT``."""
    try:
        return int(getattr(mavlink, f"MAVLINK_MSG_ID_{name.upper()}"))
    except AttributeError:
        raise ValueError(f"unknown MAVLink message {name!r}") from None
