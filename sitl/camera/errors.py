"""Errors of the synthetic camera: part of the ``sitl`` family (``sitl.errors.SitlError``)."""

from sitl.errors import SitlError


class CameraError(SitlError):
    """Base of the synthetic camera's errors; the message says what to fix."""


class AssetError(CameraError):
    """A photograph the camera draws people from is missing or unreadable."""


class SceneError(CameraError):
    """The scene cannot be built or read (no room for people, bad seed or counts)."""


class StreamError(CameraError):
    """The camera stream cannot start or has died (FFmpeg, port, telemetry)."""
