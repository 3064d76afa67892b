"""The station exception family: alerts, the outbox, delivery and the receiver."""


class StationError(Exception):
    """Base of every error raised by ``station``; the message says what to fix."""


class AlertError(StationError):
    """An alert cannot be built from the given values (names the field and the problem)."""


class ConfigError(StationError):
    """A dispatch configuration (file, option or environment variable) is unusable."""


class SecretError(ConfigError):
    """A webhook secret is missing or not in the ``whsec_<base64>`` format."""


class StoreError(StationError):
    """A station database (the outbox or the receiver's store) is unusable or lacks the item."""


class SignatureError(StationError):
    """A webhook request failed verification (missing headers, stale timestamp, bad signature)."""


class DeliveryError(StationError):
    """An alert was not acknowledged by a dispatch endpoint (the reason is in the message)."""
