"""Tell the station: alerts, CAP 1.2 export, the durable outbox, signed webhook delivery and
the station receiver. Depends on nothing else of waterpatrol's.

    outbox = Outbox("var/outbox.sqlite")
    with Delivery(outbox, [Endpoint("https://dispatch.example/hooks")]):
        outbox.emit(Alert(incident_id="inc-1", type="person_in_water", ...))

Names load on first use (PEP 562), so ``import station.cli`` stays light for ``--help``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "station.cap": ("to_cap_xml",),
    "station.config": ("Endpoint", "RetryPolicy", "StationConfig", "load_config"),
    "station.delivery": ("Delivery",),
    "station.errors": (
        "AlertError",
        "ConfigError",
        "DeliveryError",
        "SecretError",
        "SignatureError",
        "StationError",
        "StoreError",
    ),
    "station.inbox": ("Inbox",),
    "station.model": (
        "Alert",
        "AlertStatus",
        "AlertType",
        "Evidence",
        "Severity",
        "new_alert_id",
        "validate_alert_dict",
    ),
    "station.outbox": ("Outbox", "OutboxEntry"),
    "station.receiver": ("Receiver",),
    "station.signing": ("generate_secret", "parse_secret", "secret_from_env", "sign", "verify"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'station' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
