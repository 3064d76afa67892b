"""The vehicle link's exceptions: one family under ``mission.errors.MissionError``.

Every message says what happened and what the operator can do about it.
"""

from __future__ import annotations

from mission.errors import MissionError


class LinkError(MissionError):
    """Base of every vehicle-link failure."""


class ConnectFailed(LinkError):
    """The connection string cannot be opened or no autopilot answers on it."""


class LinkTimeout(LinkError):
    """The vehicle did not answer a request in time (after the retries)."""


class LinkLost(LinkError):
    """No heartbeat from the vehicle for longer than the watchdog allows, or the socket closed."""


class NotReady(LinkError):
    """The vehicle did not become ready to fly in time; the message lists what is missing."""

    def __init__(self, missing: list[str], timeout_s: float) -> None:
        self.missing = list(missing)
        super().__init__(
            f"vehicle not ready after {timeout_s:.0f} s: still waiting for "
            + ", ".join(self.missing)
            + " (check GPS reception and the EKF, or wait longer with --ready-timeout)"
        )


class MissionRejected(LinkError):
    """The vehicle NACKed a mission/fence/rally transfer with a MAV_MISSION_RESULT."""

    def __init__(self, result: str, mission_type: str, seq: int | None, hint: str = "") -> None:
        self.result = result
        self.mission_type = mission_type
        self.seq = seq
        at = f" at item {seq}" if seq is not None else ""
        msg = f"vehicle rejected the {mission_type} upload{at}: {result}"
        super().__init__(f"{msg}; {hint}" if hint else msg)


class VerifyFailed(LinkError):
    """The items read back from the vehicle differ from those uploaded."""


class ParamError(LinkError):
    """A parameter is unknown to the vehicle or did not take the value that was set."""


class CommandRejected(LinkError):
    """A COMMAND_LONG was answered with a MAV_RESULT other than ACCEPTED."""

    def __init__(self, command: str, result: str, reason: str = "") -> None:
        self.command = command
        self.result = result
        self.reason = reason
        detail = f": {reason}" if reason else ""
        super().__init__(f"vehicle refused {command} ({result}){detail}")


class ModeChangeFailed(CommandRejected):
    """The vehicle refused, or did not enter, the requested flight mode."""


class ArmRefused(CommandRejected):
    """Arming was refused; ``reason`` is the vehicle's STATUSTEXT (e.g. a pre-arm failure)."""

    def __init__(self, result: str, reason: str) -> None:
        super().__init__("arming", result, reason or "the vehicle sent no reason")


class FlightTimeout(LinkError):
    """A flight did not finish within its time limit; the vehicle was told to return."""


class BatteryTooLow(LinkError):
    """The battery the vehicle reports cannot fly the next sortie with the reserve kept."""
