"""Dispatch configuration: endpoints, the retry policy, and where the databases live.

A ``station.yaml`` looks like::

    endpoints:
      - url: https://dispatch.example/hooks/waterpatrol
        format: json            # json (default) or cap (CAP 1.2 XML body)
        secret_env: WATERPATROL_WEBHOOK_SECRET
        ca_file: /etc/ssl/station-ca.pem   # optional: a private CA to trust
        timeout_s: 10
    retry:                      # optional; these are the defaults
      base_delay_s: 1
      max_delay_s: 300
      client_error_attempts: 5
      give_up_after_s: 86400
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from station.errors import ConfigError
from station.signing import DEFAULT_SECRET_ENV

HOME_ENV = "WATERPATROL_HOME"
FORMATS = ("json", "cap")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def home() -> Path:
    """``$WATERPATROL_HOME`` if set, else ``./var`` (gitignored)."""
    return Path(os.environ.get(HOME_ENV) or Path.cwd() / "var")


def default_outbox_path() -> Path:
    return home() / "outbox.sqlite"


def default_inbox_path() -> Path:
    return home() / "station.sqlite"


@dataclass(frozen=True)
class Endpoint:
    """One dispatch URL, the body format it takes, and the env variable holding its secret."""

    url: str
    format: str = "json"
    secret_env: str = DEFAULT_SECRET_ENV
    name: str = ""  # how the outbox knows it; default: the URL
    ca_file: str | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"url: {self.url!r} is not an http:// or https:// URL with a host")
        if self.format not in FORMATS:
            raise ConfigError(f"format: {self.format!r} is not one of {', '.join(FORMATS)}")
        if not isinstance(self.secret_env, str) or not _ENV_NAME_RE.match(self.secret_env):
            raise ConfigError(
                f"secret_env: {self.secret_env!r} is not an environment variable name"
            )
        if self.ca_file is not None and not Path(self.ca_file).is_file():
            raise ConfigError(f"ca_file: {self.ca_file} does not exist")
        if (
            isinstance(self.timeout_s, bool)
            or not isinstance(self.timeout_s, int | float)
            or not 0 < self.timeout_s <= 120
        ):
            raise ConfigError(
                f"timeout_s: {self.timeout_s!r} must be a number of seconds in (0, 120]"
            )
        if not self.name:
            object.__setattr__(self, "name", self.url)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter. Transient failures (no answer, 408, 429, 5xx) are retried
    until ``give_up_after_s`` has passed since the first attempt; other 4xx answers after
    ``client_error_attempts`` attempts. A ``Retry-After`` answer sets the next delay."""

    base_delay_s: float = 1.0
    max_delay_s: float = 300.0
    client_error_attempts: int = 5
    give_up_after_s: float = 86_400.0
    max_retry_after_s: float = 3_600.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"retry.{f.name}: {value!r} is not a number")
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"retry.{f.name}: {value!r} must be >= 0")
        if self.client_error_attempts < 1:
            raise ConfigError("retry.client_error_attempts: must be at least 1")

    def backoff_s(self, attempts: int, jitter: float) -> float:
        """Delay after the ``attempts``-th failed attempt; ``jitter`` in [0, 1) spreads it over
        the upper half of the exponential step, so no two workers retry in lockstep."""
        step = min(self.max_delay_s, self.base_delay_s * 2.0 ** max(0, attempts - 1))
        return step * (0.5 + 0.5 * jitter)


@dataclass(frozen=True)
class StationConfig:
    endpoints: list[Endpoint]
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def load_config(path: str | Path) -> StationConfig:
    """Read a ``station.yaml``; errors name the file and the field."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping with an 'endpoints' list")
    unknown = sorted(set(data) - {"endpoints", "retry"})
    if unknown:
        raise ConfigError(f"{p}: {unknown[0]}: unknown key (expected endpoints, retry)")
    raw = data.get("endpoints")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{p}: endpoints: must be a non-empty list of endpoints")
    endpoints = [_build(Endpoint, item, p, f"endpoints[{i}]") for i, item in enumerate(raw)]
    names = [e.name for e in endpoints]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{p}: endpoints[{i}].name: {name!r} is used twice; give each a name")
    retry = _build(RetryPolicy, data["retry"], p, "retry") if "retry" in data else RetryPolicy()
    return StationConfig(endpoints=endpoints, retry=retry)


def _build(cls: type, item: Any, path: Path, where: str) -> Any:
    if not isinstance(item, dict):
        raise ConfigError(f"{path}: {where}: expected a mapping")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(item) - known)
    if unknown:
        raise ConfigError(
            f"{path}: {where}.{unknown[0]}: unknown key (known: {', '.join(sorted(known))})"
        )
    try:
        return cls(**item)
    except TypeError as exc:
        raise ConfigError(f"{path}: {where}: {exc}") from None
    except ConfigError as exc:
        prefix = "" if str(exc).startswith("retry.") else f"{where}."
        raise ConfigError(f"{path}: {prefix}{exc}") from None
