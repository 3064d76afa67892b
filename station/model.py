"""The alert: what the station is told about one incident. Pure data, no I/O but Evidence.from_file.

An incident produces a chain of alerts: one ``open``, any number of ``update``
and at most one ``closed``. Follow-ups carry the first alert's id and sent time,
which CAP needs for ``<references>``; build them with :meth:`Alert.follow_up`.
Times are UTC with millisecond precision, written as RFC 3339 (``...Z``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from station.errors import AlertError

SCHEMA_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("alert.schema.json")
# Ids travel in HTTP headers and space-separated CAP lists: no spaces or commas.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_MAX_TEXT = 500


class AlertType(StrEnum):
    PERSON_IN_WATER = "person_in_water"
    DISTRESS = "distress"
    GATHERING = "gathering"


class Severity(StrEnum):
    """The detection rules' scale (detection.rules.Severity), mapped to CAP's at export."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class AlertStatus(StrEnum):
    OPEN = "open"
    UPDATE = "update"
    CLOSED = "closed"


DEFAULT_SEVERITY = {
    AlertType.PERSON_IN_WATER: Severity.HIGH,
    AlertType.DISTRESS: Severity.CRITICAL,
    AlertType.GATHERING: Severity.MEDIUM,
}

# ---------------------------------------------------------------- ids and times

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ulid_lock = threading.Lock()
_ulid_last = [0, 0]  # last (milliseconds, 80-bit random) issued in this process


def new_alert_id(now: float | None = None) -> str:
    """A ULID: 26 characters that sort by creation time, monotonic within this process."""
    ms = int((time.time() if now is None else now) * 1000)
    with _ulid_lock:
        last_ms, last_rand = _ulid_last
        if ms <= last_ms:
            ms, rand = last_ms, last_rand + 1
            if rand >= 1 << 80:
                ms, rand = ms + 1, 0
        else:
            rand = secrets.randbits(80)
        _ulid_last[:] = [ms, rand]
    value = (ms << 80) | rand
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -1, -5))


def utc_now() -> datetime:
    return _to_ms(datetime.now(UTC))


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with milliseconds: ``2025-06-01T08:30:00.123Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def parse_time(value: str | datetime, name: str) -> datetime:
    """A timezone-aware datetime or an RFC 3339 string, as UTC truncated to milliseconds."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise AlertError(
                f"{name}: {value!r} is not an RFC 3339 time (e.g. 2025-06-01T08:30:00Z)"
            ) from None
    if not isinstance(value, datetime):
        raise AlertError(f"{name}: expected a datetime or RFC 3339 string, got {value!r}")
    if value.tzinfo is None:
        raise AlertError(f"{name}: {value.isoformat()} has no timezone; give UTC (…Z or +00:00)")
    return _to_ms(value.astimezone(UTC))


def _to_ms(t: datetime) -> datetime:
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


# ---------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Evidence:
    """The evidence image saved on the vehicle side: where, how big, and its SHA-256."""

    path: str
    size_bytes: int
    sha256: str

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise AlertError("evidence.path: must be a non-empty string")
        if not isinstance(self.size_bytes, int) or self.size_bytes < 0:
            raise AlertError(
                f"evidence.size_bytes: must be an integer >= 0, got {self.size_bytes!r}"
            )
        if not isinstance(self.sha256, str) or not _SHA256_RE.match(self.sha256):
            raise AlertError("evidence.sha256: must be 64 lowercase hex digits")

    @classmethod
    def from_file(cls, path: str | Path) -> Evidence:
        p = Path(path)
        digest = hashlib.sha256()
        try:
            with p.open("rb") as f:
                for chunk in iter(lambda: f.read(1 << 16), b""):
                    digest.update(chunk)
        except OSError as exc:
            raise AlertError(f"evidence: cannot read {p}: {exc.strerror or exc}") from None
        return cls(path=str(p), size_bytes=p.stat().st_size, sha256=digest.hexdigest())


# ---------------------------------------------------------------- the alert


@dataclass(frozen=True)
class Alert:
    """One alert about one incident. Enum and time fields also accept their plain string forms."""

    incident_id: str
    type: AlertType
    lat: float | None  # WGS84 degrees; lat, lon and radius_m are None when the position is unknown
    lon: float | None
    radius_m: float | None  # position uncertainty, metres
    people: int
    observed_at: datetime
    vehicle_id: str
    mission_id: str
    water_id: str
    water_name: str
    confidence: float  # 0..1
    severity: Severity | None = None  # None: the default for the type
    status: AlertStatus = AlertStatus.OPEN
    sent_at: datetime = field(default_factory=utc_now)
    id: str = field(default_factory=new_alert_id)
    evidence: Evidence | None = None
    text_zh: str = ""  # empty: generated from the type, people and water
    text_en: str = ""
    first_alert_id: str | None = None  # the incident's open alert (for update / closed)
    first_sent_at: datetime | None = None
    is_test: bool = False  # an integration test alert (CAP status Test), not a real incident

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        set_(self, "type", _enum(AlertType, self.type, "type"))
        set_(self, "status", _enum(AlertStatus, self.status, "status"))
        severity = DEFAULT_SEVERITY[self.type] if self.severity is None else self.severity
        set_(self, "severity", _enum(Severity, severity, "severity"))
        for name in ("id", "incident_id", "vehicle_id", "mission_id", "water_id"):
            _check_id(getattr(self, name), name)
        position = (self.lat, self.lon, self.radius_m)
        if any(v is None for v in position):
            if any(v is not None for v in position):
                raise AlertError(
                    "lat: give lat, lon and radius_m together, or none (position unknown)"
                )
        else:
            set_(self, "lat", _number(self.lat, "lat", -90.0, 90.0))
            set_(self, "lon", _number(self.lon, "lon", -180.0, 180.0))
            set_(self, "radius_m", _number(self.radius_m, "radius_m", 0.0, 100_000.0))
        set_(self, "confidence", _number(self.confidence, "confidence", 0.0, 1.0))
        if isinstance(self.people, bool) or not isinstance(self.people, int) or self.people < 0:
            raise AlertError(f"people: must be an integer >= 0, got {self.people!r}")
        set_(self, "observed_at", parse_time(self.observed_at, "observed_at"))
        set_(self, "sent_at", parse_time(self.sent_at, "sent_at"))
        if not isinstance(self.water_name, str) or not self.water_name.strip():
            raise AlertError("water_name: must be a non-empty string")
        if self.evidence is not None and not isinstance(self.evidence, Evidence):
            raise AlertError("evidence: must be an Evidence (Evidence.from_file(path)) or None")
        if not isinstance(self.is_test, bool):
            raise AlertError(f"is_test: must be true or false, got {self.is_test!r}")
        self._check_chain()
        for lang in ("zh", "en"):
            name = f"text_{lang}"
            text = getattr(self, name) or describe(self, lang)
            if not isinstance(text, str) or len(text) > _MAX_TEXT:
                raise AlertError(f"{name}: must be a string of at most {_MAX_TEXT} characters")
            set_(self, name, text)

    def _check_chain(self) -> None:
        if self.status is AlertStatus.OPEN:
            if self.first_alert_id is not None or self.first_sent_at is not None:
                raise AlertError(
                    "first_alert_id: an open alert is the first of its incident; leave it empty"
                )
            return
        if self.first_alert_id is None or self.first_sent_at is None:
            raise AlertError(
                f"first_alert_id: a {self.status} alert must reference the incident's open alert;"
                " build it with open_alert.follow_up(...)"
            )
        _check_id(self.first_alert_id, "first_alert_id")
        object.__setattr__(self, "first_sent_at", parse_time(self.first_sent_at, "first_sent_at"))

    def follow_up(self, status: AlertStatus | str = AlertStatus.UPDATE, **changes: Any) -> Alert:
        """The incident's next alert (new id, sent now); texts are regenerated unless given."""
        if self.status is AlertStatus.CLOSED:
            raise AlertError(f"status: incident {self.incident_id} is closed; open a new incident")
        for fixed in ("id", "incident_id", "first_alert_id", "first_sent_at"):
            if fixed in changes:
                raise AlertError(f"{fixed}: cannot be changed in a follow-up")
        changes.setdefault("text_zh", "")
        changes.setdefault("text_en", "")
        return dataclasses.replace(
            self,
            status=status,
            id=new_alert_id(),
            sent_at=changes.pop("sent_at", utc_now()),
            first_alert_id=self.first_alert_id or self.id,
            first_sent_at=self.first_sent_at or self.sent_at,
            **changes,
        )

    # ------------------------------------------------------------ JSON

    def to_dict(self) -> dict[str, Any]:
        """The wire form (validates against ``alert.schema.json``)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "id": self.id,
            "incident_id": self.incident_id,
            "type": str(self.type),
            "severity": str(self.severity),
            "status": str(self.status),
            "is_test": self.is_test,
            "lat": self.lat,
            "lon": self.lon,
            "radius_m": self.radius_m,
            "people": self.people,
            "observed_at": format_time(self.observed_at),
            "sent_at": format_time(self.sent_at),
            "vehicle_id": self.vehicle_id,
            "mission_id": self.mission_id,
            "water_id": self.water_id,
            "water_name": self.water_name,
            "confidence": self.confidence,
            "evidence": dataclasses.asdict(self.evidence) if self.evidence else None,
            "text_zh": self.text_zh,
            "text_en": self.text_en,
            "first_alert_id": self.first_alert_id,
            "first_sent_at": format_time(self.first_sent_at) if self.first_sent_at else None,
        }

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON; the same alert always gives the same bytes."""
        return json.dumps(
            self.to_dict(), ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode("utf-8")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        if not isinstance(data, dict):
            raise AlertError("alert: expected a JSON object")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise AlertError(f"schema_version: {version!r} is not supported (expected 1)")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names - {"schema_version"})
        if unknown:
            raise AlertError(f"{unknown[0]}: unknown alert field")
        values = {k: v for k, v in data.items() if k in names}
        evidence = values.get("evidence")
        if isinstance(evidence, dict):
            try:
                values["evidence"] = Evidence(**evidence)
            except TypeError as exc:
                raise AlertError(f"evidence: {exc}") from None
        try:
            return cls(**values)
        except TypeError as exc:  # a missing required field
            raise AlertError(f"alert: {exc}") from None

    @classmethod
    def from_json(cls, body: bytes | str) -> Alert:
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise AlertError(f"alert: not valid JSON ({exc})") from None
        return cls.from_dict(data)


# ---------------------------------------------------------------- schema


@functools.cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_alert_dict(data: Any) -> None:
    """Check a decoded alert document against ``alert.schema.json``; AlertError names the field."""
    from jsonschema.exceptions import best_match

    error = best_match(_validator().iter_errors(data))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or "alert"
        raise AlertError(f"{where}: {error.message}")


# ---------------------------------------------------------------- helpers

_EVENT_EN = {
    AlertType.PERSON_IN_WATER: "Person in the water",
    AlertType.DISTRESS: "Person signalling distress",
    AlertType.GATHERING: "Gathering of people",
}
_EVENT_ZH = {
    AlertType.PERSON_IN_WATER: "有人落水",
    AlertType.DISTRESS: "有人呼救",
    AlertType.GATHERING: "人员聚集",
}


def event_name(kind: AlertType, lang: str) -> str:
    return (_EVENT_ZH if lang == "zh" else _EVENT_EN)[kind]


def describe(alert: Alert, lang: str) -> str:
    """The default short human text for an alert, in ``zh`` or ``en``."""
    if alert.lat is None or alert.lon is None or alert.radius_m is None:
        pos = "未知" if lang == "zh" else "unknown"
    else:
        pos = f"{alert.lat:.5f}, {alert.lon:.5f} (±{alert.radius_m:.0f} m)"
    if lang == "zh":
        if alert.status is AlertStatus.CLOSED:
            return f"{alert.water_name}：{event_name(alert.type, 'zh')}警情已解除。"
        prefix = "【更新】" if alert.status is AlertStatus.UPDATE else ""
        return (
            f"{prefix}{alert.water_name}{event_name(alert.type, 'zh')}，{alert.people}人，"
            f"位置 {pos}，无人机 {alert.vehicle_id}。"
        )
    if alert.status is AlertStatus.CLOSED:
        return f"{alert.water_name}: {event_name(alert.type, 'en').lower()} incident closed."
    prefix = "[Update] " if alert.status is AlertStatus.UPDATE else ""
    return (
        f"{prefix}{event_name(alert.type, 'en')} at {alert.water_name}: {alert.people} "
        f"{'person' if alert.people == 1 else 'people'}, position {pos}, drone {alert.vehicle_id}."
    )


def _enum(kind: type[StrEnum], value: Any, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise AlertError(f"{name}: {value!r} is not one of {allowed}") from None


def _check_id(value: Any, name: str) -> None:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise AlertError(
            f"{name}: {value!r} must be 1-128 characters of letters, digits and . _ : -"
        )


def _number(value: Any, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlertError(f"{name}: must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or not lo <= value <= hi:
        raise AlertError(f"{name}: {value} is outside {lo:g}..{hi:g}")
    return value
