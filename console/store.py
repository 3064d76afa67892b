"""The console's reads and writes on the station store (SQLite or PostgreSQL, :mod:`station.db`).

The receiver writes alerts, incidents, events and tracks (:mod:`station.inbox`); the console
adds operator accounts, units, each incident's handling state and the actions taken on it.
Every action is one transaction that also appends an event, so every open console (in this
process or another one on the same store) sees it.
"""

from __future__ import annotations

import math
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.db import Db
from station.errors import StationError
from station.inbox import _SCHEMA as INBOX_SCHEMA
from station.inbox import STATUS_COLUMNS

ROLES = ("dispatcher", "viewer")
UNIT_KINDS = ("station", "team")
STATES = ("new", "acknowledged", "assigned", "closed")
OUTCOMES = ("rescued", "false_alarm", "gone_on_arrival", "other")
ACTIVE_S = 120.0  # a drone silent this long is no longer drawn as active

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users(
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS units(             -- stations and patrol teams with a known position
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    lat REAL NOT NULL,
    lon REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS handling(          -- each incident's state at the dispatch post
    incident_id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    unit_id TEXT,
    outcome TEXT,
    updated_at REAL NOT NULL,
    updated_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS actions(           -- who did what and when: the incident's history
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL,
    at REAL NOT NULL,
    user_name TEXT NOT NULL,
    action TEXT NOT NULL,
    unit_id TEXT,
    note TEXT,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS actions_incident ON actions(incident_id, id);
CREATE TABLE IF NOT EXISTS console_settings(
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

# the queue row: the incident's newest alert, its handling state and unit
_QUEUE_FROM = """
FROM incidents i
JOIN alerts a ON a.alert_id = i.alert_id
LEFT JOIN handling h ON h.incident_id = i.incident_id
"""
_QUEUE_SELECT = (
    """
SELECT i.incident_id, a.alert_id, a.type, a.severity, a.status, a.sent_at, a.observed_at,
       a.lat, a.lon, a.radius_m, a.confidence, a.people, a.water_id, a.water_name,
       a.vehicle_id, a.mission_id, a.evidence_sha256, a.is_test, a.text_zh, a.text_en,
       a.received_at, COALESCE(h.state, 'new'), h.unit_id, h.outcome, h.updated_at, h.updated_by
"""
    + _QUEUE_FROM
)
_QUEUE_FIELDS = (
    "incident_id",
    "alert_id",
    "type",
    "severity",
    "status",
    "sent_at",
    "observed_at",
    "lat",
    "lon",
    "radius_m",
    "confidence",
    "people",
    "water_id",
    "water_name",
    "vehicle_id",
    "mission_id",
    "evidence_sha256",
    "is_test",
    "text_zh",
    "text_en",
    "received_at",
    "state",
    "unit_id",
    "outcome",
    "handled_at",
    "handled_by",
)
_TRACK_FIELDS = ("seq", "received_at", *STATUS_COLUMNS)  # the receiver's tracks table
_ACTION_FIELDS = ("id", "incident_id", "at", "user_name", "action", "unit_id", "note", "outcome")


class ConsoleError(StationError):
    """An operator request the console refuses; the message says what to fix."""


class NotFound(ConsoleError):
    pass


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


@dataclass(frozen=True)
class QueueQuery:
    """The queue's search: every field optional; ``state`` ``active`` means not closed."""

    water: str = ""
    type: str = ""
    state: str = "active"
    since: str = ""  # RFC 3339 prefix, compared with the alert's sent time
    until: str = ""
    page: int = 1
    per_page: int = 50


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(min(1.0, math.sqrt(h)))


class ConsoleStore:
    """``target``: a SQLite path or a ``postgresql://`` URL (the receiver's store)."""

    def __init__(self, target: str | Path) -> None:
        self.target = target
        self._db = Db(target)
        self._lock = threading.Lock()
        try:
            self._db.script(INBOX_SCHEMA)
            self._db.script(_SCHEMA)
        except Exception:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ConsoleStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[Db]:
        with self._lock:
            db = self._db
            db.begin()
            try:
                db.lock_events()
                yield db
                db.commit()
            except BaseException:
                db.rollback()
                raise

    # -- settings ----------------------------------------------------------------------------

    def session_secret(self) -> str:
        """The key that signs session cookies: made once, shared by every console process."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM console_settings WHERE name = 'session_secret'")
            found = row.fetchone()
            if found:
                return str(found[0])
            value = secrets.token_urlsafe(48)
            db.execute(
                "INSERT INTO console_settings(name, value) VALUES ('session_secret', ?)", (value,)
            )
            return value

    # -- users -------------------------------------------------------------------------------

    def add_user(self, name: str, role: str, password_hash: str) -> None:
        if role not in ROLES:
            raise ConsoleError(f"role {role!r}: use one of {', '.join(ROLES)}")
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                db.execute(
                    "UPDATE users SET role = ?, password_hash = ? WHERE name = ?",
                    (role, password_hash, name),
                )
            else:
                db.execute(
                    "INSERT INTO users(name, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                    (name, role, password_hash, time.time()),
                )

    def user(self, name: str) -> User | None:
        rows = self._rows("SELECT name, role, password_hash FROM users WHERE name = ?", (name,))
        return User(*rows[0]) if rows else None

    def users(self) -> list[User]:
        return [User(*r) for r in self._rows("SELECT name, role, '' FROM users ORDER BY name")]

    def remove_user(self, name: str) -> None:
        with self._transaction() as db:
            if db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise NotFound(f"no operator named {name!r}")

    # -- units -------------------------------------------------------------------------------

    def set_unit(self, unit_id: str, name: str, kind: str, lat: float, lon: float) -> None:
        if kind not in UNIT_KINDS:
            raise ConsoleError(f"kind {kind!r}: use one of {', '.join(UNIT_KINDS)}")
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ConsoleError(f"position {lat}, {lon}: lat must be -90..90 and lon -180..180")
        with self._transaction() as db:
            db.execute("DELETE FROM units WHERE id = ?", (unit_id,))
            db.execute(
                "INSERT INTO units(id, name, kind, lat, lon, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (unit_id, name, kind, lat, lon, time.time()),
            )

    def units(self) -> list[dict[str, Any]]:
        rows = self._rows("SELECT id, name, kind, lat, lon FROM units ORDER BY id")
        return [dict(zip(("id", "name", "kind", "lat", "lon"), r, strict=True)) for r in rows]

    def remove_unit(self, unit_id: str) -> None:
        with self._transaction() as db:
            if db.execute("DELETE FROM units WHERE id = ?", (unit_id,)).rowcount == 0:
                raise NotFound(f"no unit {unit_id!r}")

    def nearest_units(self, lat: float | None, lon: float | None) -> list[dict[str, Any]]:
        """Every unit, nearest first, with ``distance_m`` (None when the alert has no place)."""
        units = self.units()
        for u in units:
            u["distance_m"] = (
                None if lat is None or lon is None else distance_m(lat, lon, u["lat"], u["lon"])
            )
        return sorted(units, key=lambda u: (u["distance_m"] is None, u["distance_m"] or 0))

    # -- the queue ---------------------------------------------------------------------------

    def queue(self, q: QueueQuery) -> tuple[list[dict[str, Any]], int]:
        """One page of incidents (most severe, then newest first; closed last) and the total."""
        where, params = [], []
        if q.water:
            where.append("(a.water_id = ? OR LOWER(a.water_name) LIKE LOWER(?))")
            params += [q.water, f"%{q.water}%"]
        if q.type:
            where.append("a.type = ?")
            params.append(q.type)
        if q.state == "active":
            where.append("COALESCE(h.state, 'new') <> 'closed'")
        elif q.state:
            where.append("COALESCE(h.state, 'new') = ?")
            params.append(q.state)
        if q.since:
            where.append("a.sent_at >= ?")
            params.append(q.since)
        if q.until:
            where.append("a.sent_at < ?")
            params.append(q.until)
        clause = (" WHERE " + " AND ".join(where)) if where else ""
        total = self._rows("SELECT COUNT(*)" + _QUEUE_FROM + clause, tuple(params))[0][0]
        rows = self._rows(
            _QUEUE_SELECT + clause + " ORDER BY COALESCE(h.state, 'new') = 'closed',"
            " a.severity_rank, a.sent_at DESC, i.incident_id LIMIT ? OFFSET ?",
            (*params, q.per_page, (max(q.page, 1) - 1) * q.per_page),
        )
        return [_queue_row(r) for r in rows], int(total)

    def incident(self, incident_id: str) -> dict[str, Any]:
        rows = self._rows(_QUEUE_SELECT + " WHERE i.incident_id = ?", (incident_id,))
        if not rows:
            raise NotFound(f"no incident {incident_id!r}")
        return _queue_row(rows[0])

    def incident_detail(self, incident_id: str) -> dict[str, Any]:
        """The queue row, every alert of the incident, its history and the nearest units."""
        item = self.incident(incident_id)
        alerts = self._rows(
            "SELECT a.seq, a.alert_id, a.status, a.severity, a.sent_at, a.received_at, a.lat,"
            " a.lon, a.radius_m, a.people, a.confidence, a.evidence_sha256, r.content_type,"
            " r.body FROM alerts a JOIN received r ON r.seq = a.seq"
            " WHERE a.incident_id = ? ORDER BY a.seq",
            (incident_id,),
        )
        keys = (
            "seq",
            "alert_id",
            "status",
            "severity",
            "sent_at",
            "received_at",
            "lat",
            "lon",
            "radius_m",
            "people",
            "confidence",
            "evidence_sha256",
            "content_type",
            "body",
        )
        item["alerts"] = [dict(zip(keys, r, strict=True)) for r in alerts]
        item["history"] = self.history(incident_id)
        item["units"] = self.nearest_units(item["lat"], item["lon"])
        return item

    def history(self, incident_id: str) -> list[dict[str, Any]]:
        rows = self._rows(
            f"SELECT {', '.join(_ACTION_FIELDS)} FROM actions WHERE incident_id = ? ORDER BY id",
            (incident_id,),
        )
        return [dict(zip(_ACTION_FIELDS, r, strict=True)) for r in rows]

    def evidence(self, alert_id: str) -> tuple[str | None, str | None]:
        """(path as the vehicle wrote it, SHA-256) of an alert's evidence image."""
        rows = self._rows(
            "SELECT evidence_path, evidence_sha256 FROM alerts WHERE alert_id = ?", (alert_id,)
        )
        if not rows:
            raise NotFound(f"no alert {alert_id!r}")
        return rows[0][0], rows[0][1]

    # -- actions -----------------------------------------------------------------------------

    def act(
        self,
        incident_id: str,
        user: str,
        action: str,
        *,
        unit_id: str | None = None,
        note: str = "",
        outcome: str | None = None,
    ) -> dict[str, Any]:
        """Record ``acknowledge``, ``assign`` (a unit, a note) or ``close`` (an outcome) on an
        incident, with who and when. Returns the action. Refused: an unknown incident or unit,
        an outcome not in OUTCOMES, any action on a closed incident, acknowledging twice."""
        note = note.strip()[:1000]
        if action not in ("acknowledge", "assign", "close", "note"):
            raise ConsoleError(f"action {action!r}: use acknowledge, assign, close or note")
        with self._transaction() as db:
            found = db.execute(
                "SELECT COALESCE(h.state, 'new'), h.unit_id, h.outcome FROM incidents i"
                " LEFT JOIN handling h ON h.incident_id = i.incident_id"
                " WHERE i.incident_id = ?",
                (incident_id,),
            ).fetchone()
            if found is None:
                raise NotFound(f"no incident {incident_id!r}")
            state, current_unit, current_outcome = found
            if state == "closed" and action != "note":
                raise ConsoleError(f"incident {incident_id} is closed")
            if action == "acknowledge":
                if state != "new":
                    raise ConsoleError(f"incident {incident_id} is already {state}")
                state = "acknowledged"
            elif action == "assign":
                if not unit_id:
                    raise ConsoleError("assign: choose a unit")
                if not db.execute("SELECT 1 FROM units WHERE id = ?", (unit_id,)).fetchone():
                    raise ConsoleError(f"assign: no unit {unit_id!r}")
                state, current_unit = "assigned", unit_id
            elif action == "close":
                if outcome not in OUTCOMES:
                    raise ConsoleError(f"close: outcome must be one of {', '.join(OUTCOMES)}")
                state, current_outcome = "closed", outcome
            elif not note:
                raise ConsoleError("note: write something")
            now = time.time()
            action_id = db.insert(
                "INSERT INTO actions(incident_id, at, user_name, action, unit_id, note, outcome)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (incident_id, now, user, action, unit_id, note or None, outcome),
                "id",
            )
            db.execute("DELETE FROM handling WHERE incident_id = ?", (incident_id,))
            db.execute(
                "INSERT INTO handling(incident_id, state, unit_id, outcome, updated_at, updated_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (incident_id, state, current_unit, current_outcome, now, user),
            )
            db.execute(
                "INSERT INTO events(at, kind, incident_id, ref) VALUES (?, 'action', ?, ?)",
                (now, incident_id, action_id),
            )
        return dict(
            zip(
                _ACTION_FIELDS,
                (action_id, incident_id, now, user, action, unit_id, note or None, outcome),
                strict=True,
            )
        )

    def export(self, incident_id: str) -> dict[str, Any]:
        """The incident as handed over: its alerts (as received), state and full history."""
        detail = self.incident_detail(incident_id)
        detail.pop("units")
        for a in detail["alerts"]:
            a["document"] = a.pop("body")
        detail["exported_at"] = time.time()
        return detail

    # -- live updates ------------------------------------------------------------------------

    def last_event_id(self) -> int:
        return int(self._rows("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def events_since(self, event_id: int, limit: int = 500) -> list[dict[str, Any]]:
        """Events after ``event_id``, oldest first, each with the incident's queue row now and
        (for an action) the action."""
        rows = self._rows(
            "SELECT id, kind, incident_id, ref FROM events WHERE id > ? ORDER BY id LIMIT ?",
            (event_id, limit),
        )
        out = []
        incidents: dict[str, dict[str, Any]] = {}
        for eid, kind, incident_id, ref in rows:
            if incident_id not in incidents:
                incidents[incident_id] = self.incident(incident_id)
            event = {"id": eid, "kind": kind, "incident": incidents[incident_id]}
            if kind == "action":
                found = self._rows(
                    f"SELECT {', '.join(_ACTION_FIELDS)} FROM actions WHERE id = ?", (ref,)
                )
                event["action"] = dict(zip(_ACTION_FIELDS, found[0], strict=True))
            out.append(event)
        return out

    def last_track_seq(self) -> int:
        return int(self._rows("SELECT COALESCE(MAX(seq), 0) FROM tracks")[0][0])

    def tracks_since(self, seq: int, limit: int = 2000) -> list[dict[str, Any]]:
        rows = self._rows(
            f"SELECT {', '.join(_TRACK_FIELDS)} FROM tracks WHERE seq > ? ORDER BY seq LIMIT ?",
            (seq, limit),
        )
        return [dict(zip(_TRACK_FIELDS, r, strict=True)) for r in rows]

    def vehicles(self, now: float | None = None, points: int = 600) -> list[dict[str, Any]]:
        """Each drone heard from in the last ACTIVE_S: its latest report and its flown track
        on the current mission (the last ``points`` positions, oldest first)."""
        since = (time.time() if now is None else now) - ACTIVE_S
        rows = self._rows(
            f"SELECT {', '.join('t.' + f for f in _TRACK_FIELDS)} FROM tracks t"
            " JOIN (SELECT vehicle_id, MAX(seq) AS seq FROM tracks WHERE received_at > ?"
            " GROUP BY vehicle_id) m ON t.seq = m.seq ORDER BY t.vehicle_id",
            (since,),
        )
        out = []
        for r in rows:
            v = dict(zip(_TRACK_FIELDS, r, strict=True))
            track = self._rows(
                "SELECT lat, lon FROM tracks WHERE vehicle_id = ? AND mission_id = ?"
                " AND lat IS NOT NULL ORDER BY seq DESC LIMIT ?",
                (v["vehicle_id"], v["mission_id"], points),
            )
            v["track"] = [[lat, lon] for lat, lon in reversed(track)]
            out.append(v)
        return out


def _queue_row(r: tuple[Any, ...]) -> dict[str, Any]:
    row = dict(zip(_QUEUE_FIELDS, r, strict=True))
    row["is_test"] = bool(row["is_test"])
    return row
