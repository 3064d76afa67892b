"""The mission package's exception family: planning and the vehicle link."""


class MissionError(Exception):
    """Base of every error raised by ``mission``."""


class PlanningError(MissionError):
    """A key water cannot be turned into a safe mission; the message says why."""


class ExportError(MissionError):
    """A .plan / .waypoints file cannot be written or read back."""


class PatrolError(MissionError):
    """The patrol cannot start or go on: no video, no dispatch secret, a bad option."""
