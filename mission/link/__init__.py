"""The MAVLink vehicle link (pymavlink, MAVLink 2, ardupilotmega).

Split by concern: ``connection`` (open, heartbeat, watchdog, telemetry
requests, readiness, signing), ``transfer`` (mission/fence/rally protocol),
``params``, ``commands`` (COMMAND_LONG), ``flight`` (modes, arm, AUTO,
follow, abort), ``telemetry`` (vehicle state from messages) and ``report``
(flown track against the plan). Importing this package imports pymavlink.
"""

from mission.link.connection import Connection, connect, open_link, request_telemetry, wait_ready
from mission.link.errors import (
    ArmRefused,
    CommandRejected,
    ConnectFailed,
    FlightTimeout,
    LinkError,
    LinkLost,
    LinkTimeout,
    MissionRejected,
    ModeChangeFailed,
    NotReady,
    ParamError,
    VerifyFailed,
)
from mission.link.flight import abort, arm, fly, follow, prepare, set_mode, start_mission
from mission.link.report import FlightReport, FlightTrack, flight_report
from mission.link.transfer import clear, download, upload

__all__ = [
    "ArmRefused",
    "CommandRejected",
    "ConnectFailed",
    "Connection",
    "FlightReport",
    "FlightTimeout",
    "FlightTrack",
    "LinkError",
    "LinkLost",
    "LinkTimeout",
    "MissionRejected",
    "ModeChangeFailed",
    "NotReady",
    "ParamError",
    "VerifyFailed",
    "abort",
    "arm",
    "clear",
    "connect",
    "download",
    "flight_report",
    "fly",
    "follow",
    "open_link",
    "prepare",
    "request_telemetry",
    "set_mode",
    "start_mission",
    "upload",
    "wait_ready",
]
