"""The sitl exception family: the simulated vehicle and the ArduPilot SITL harness."""


class SitlError(Exception):
    """Base of every error raised by ``sitl``; the message says what to fix."""


class SimConfigError(SitlError):
    """Bad settings for the simulated vehicle (home, port, speedup ...)."""


class TransportError(SitlError):
    """The simulated vehicle cannot open its loopback socket (port in use, bad port)."""


class SitlNotFoundError(SitlError):
    """No ArduPilot SITL binary: set ARDUPILOT_SITL or put ``arducopter`` on PATH."""


class SitlStartError(SitlError):
    """ArduPilot SITL did not start or exited early; the message names its log."""


class SitlTimeoutError(SitlError):
    """A vehicle did not answer within the time allowed."""
