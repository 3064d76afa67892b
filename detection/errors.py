"""The detection package's exception family."""


class DetectionError(Exception):
    """Base of every error raised by ``detection``; the message says what to fix."""


class ModelError(DetectionError):
    """The detector model cannot be found or loaded."""


class SourceError(DetectionError):
    """A frame source cannot be opened or has died for good."""
