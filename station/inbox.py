"""The station receiver's store: each webhook stored once (by webhook-id), the latest state of
every incident, each alert's fields for the console's queue, an event log the console follows,
and the patrols' status reports (their tracks). SQLite by default, PostgreSQL given a URL
(:mod:`station.db`). One connection behind one lock; concurrent stores share a commit (group
commit), so a 2xx still means the alert is on disk."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.db import Db
from station.errors import StoreError

STORED, DUPLICATE, CONFLICT = "stored", "duplicate", "conflict"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS received(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- order of first arrival
    webhook_id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    content_type TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    body TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    is_test INTEGER NOT NULL,
    receipts INTEGER NOT NULL DEFAULT 1       -- how many times it arrived (retries, replays)
);
CREATE TABLE IF NOT EXISTS incidents(
    incident_id TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,                    -- the newest alert (by sent_at, then id)
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS alerts(            -- each alert's fields, for the console
    seq INTEGER PRIMARY KEY,                  -- received.seq of its first arrival (JSON or CAP)
    alert_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    severity_rank INTEGER NOT NULL,           -- 0 critical .. 3 low: the queue's order
    sent_at TEXT NOT NULL,
    observed_at TEXT,
    lat REAL,
    lon REAL,
    radius_m REAL,
    confidence REAL,
    people INTEGER,
    vehicle_id TEXT,
    mission_id TEXT,
    water_id TEXT,
    water_name TEXT,
    evidence_path TEXT,
    evidence_sha256 TEXT,
    text_zh TEXT,
    text_en TEXT,
    is_test INTEGER NOT NULL,
    received_at REAL NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS alerts_one_per_alert ON alerts(alert_id);
CREATE INDEX IF NOT EXISTS alerts_incident ON alerts(incident_id, seq);
CREATE TABLE IF NOT EXISTS events(            -- what changed, in order: the console follows it
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    kind TEXT NOT NULL,                       -- alert (ref: alerts.seq) or action (ref: actions.id)
    incident_id TEXT NOT NULL,
    ref INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tracks(            -- patrol status reports, about one a second each
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT NOT NULL UNIQUE,
    received_at REAL NOT NULL,
    sent_at TEXT NOT NULL,
    vehicle_id TEXT NOT NULL,
    mission_id TEXT NOT NULL,
    water_id TEXT NOT NULL,
    lat REAL,
    lon REAL,
    alt_rel_m REAL,
    heading_deg REAL,
    speed_m_s REAL,
    sortie INTEGER,
    sorties INTEGER,
    battery_pct REAL,
    mode TEXT NOT NULL,
    link TEXT NOT NULL,
    video TEXT NOT NULL,
    detector_fps REAL
);
CREATE INDEX IF NOT EXISTS tracks_vehicle ON tracks(vehicle_id, seq);
"""
SEVERITY_RANK = {"critical": 0, "high": 1, "medium": 2, "low": 3}
_ALERT_COLUMNS = (
    "severity",
    "observed_at",
    "lat",
    "lon",
    "radius_m",
    "confidence",
    "people",
    "vehicle_id",
    "mission_id",
    "water_id",
    "water_name",
    "evidence_path",
    "evidence_sha256",
    "text_zh",
    "text_en",
)


@dataclass(frozen=True)
class Received:
    """What the receiver extracted from one verified request (JSON alert or CAP message)."""

    alert_id: str
    incident_id: str
    type: str
    status: str  # open / update / closed
    sent_at: str  # as written by the sender (RFC 3339 / CAP dateTime)
    is_test: bool
    # the alert's other fields by name (severity, lat, lon, water_name...; see _ALERT_COLUMNS),
    # as far as the message carries them
    details: dict[str, Any] | None = None


@dataclass(frozen=True)
class InboxRow:
    seq: int
    webhook_id: str
    received_at: float
    content_type: str
    alert_id: str
    incident_id: str
    type: str
    status: str
    sent_at: str
    is_test: bool
    receipts: int


@dataclass(frozen=True)
class IncidentRow:
    incident_id: str
    alert_id: str
    type: str
    status: str
    sent_at: str
    updated_at: float


@dataclass
class _Item:
    webhook_id: str
    content_type: str
    body: bytes  # as signed: its digest tells a retry from a reused id
    text: str  # the body decoded, as stored
    meta: Received
    result: str | None = None
    error: Exception | None = None


class Inbox:
    """``target``: a SQLite file path or a ``postgresql://`` URL."""

    def __init__(self, target: str | Path) -> None:
        self.path = target if isinstance(target, str) and "://" in target else Path(target)
        self._lock = threading.Lock()  # the connection (one writer at a time)
        self._queue_lock = threading.Lock()
        self._queue: list[_Item] = []
        self._db = Db(self.path)
        try:
            self._db.script(_SCHEMA)
        except Exception as exc:
            self._db.close()
            raise StoreError(f"station database {self.path}: {exc}") from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def store(
        self, webhook_id: str, content_type: str, body: bytes, text: str, meta: Received
    ) -> str:
        """``stored`` the first time, ``duplicate`` for the same id and body again, ``conflict``
        for the same id with another body (nothing is written then). Returns once on disk.
        ``body`` is the request body as signed, ``text`` the document it decodes to.

        Group commit: requests arriving while a commit is under way are queued, and the next
        thread to take the lock commits all of them in one transaction (one fsync). Each item
        has its own savepoint, so one that fails never fails the others in its batch."""
        item = _Item(webhook_id, content_type, body, text, meta)
        with self._queue_lock:
            self._queue.append(item)
        with self._lock:
            if item.result is None:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                self._commit(batch)
        if item.error is not None:
            raise item.error
        assert item.result is not None
        return item.result

    def _commit(self, batch: list[_Item]) -> None:
        db = self._db
        now = time.time()
        try:
            db.begin()
            db.lock_events()
            results = [self._store_isolated(db, item, now) for item in batch]
            db.commit()
        except BaseException as exc:
            db.rollback()
            for item in batch:
                item.error = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                item.result = CONFLICT  # never read: error wins
            if not isinstance(exc, Exception):
                raise
            return
        for item, result in zip(batch, results, strict=True):
            item.result = result

    @classmethod
    def _store_isolated(cls, db: Db, item: _Item, now: float) -> str:
        """Store one item inside its own savepoint; a failure is that item's alone."""
        db.execute("SAVEPOINT item")
        try:
            result = cls._store_one(db, item, now)
        except Exception as exc:
            db.execute("ROLLBACK TO item")
            db.execute("RELEASE item")
            item.error = exc
            return CONFLICT  # never read: error wins
        db.execute("RELEASE item")
        return result

    @staticmethod
    def _store_one(db: Db, item: _Item, now: float) -> str:
        digest = hashlib.sha256(item.body).hexdigest()
        meta = item.meta
        row = db.execute(
            "SELECT body_sha256 FROM received WHERE webhook_id = ?", (item.webhook_id,)
        ).fetchone()
        if row is not None:
            if row[0] != digest:
                return CONFLICT
            db.execute(
                "UPDATE received SET receipts = receipts + 1 WHERE webhook_id = ?",
                (item.webhook_id,),
            )
            return DUPLICATE
        seq = db.insert(
            "INSERT INTO received(webhook_id, received_at, content_type, body_sha256, body,"
            " alert_id, incident_id, type, status, sent_at, is_test)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                item.webhook_id,
                now,
                item.content_type,
                digest,
                item.text,
                meta.alert_id,
                meta.incident_id,
                meta.type,
                meta.status,
                meta.sent_at,
                int(meta.is_test),
            ),
            "seq",
        )
        # the incident keeps its newest state, whatever order retries arrive in
        db.execute(
            "INSERT INTO incidents(incident_id, alert_id, type, status, sent_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(incident_id) DO UPDATE SET"
            " alert_id = excluded.alert_id, type = excluded.type, status = excluded.status,"
            " sent_at = excluded.sent_at, updated_at = excluded.updated_at"
            " WHERE (excluded.sent_at, excluded.alert_id)"
            " > (incidents.sent_at, incidents.alert_id)",
            (meta.incident_id, meta.alert_id, meta.type, meta.status, meta.sent_at, now),
        )
        _index_alert(db, seq, meta, now)
        return STORED

    def rows(self, limit: int = 100) -> list[InboxRow]:
        """The newest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, webhook_id, received_at, content_type, alert_id, incident_id, type,"
                " status, sent_at, is_test, receipts FROM received ORDER BY seq DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [InboxRow(*r[:9], bool(r[9]), r[10]) for r in rows]

    def body(self, webhook_id: str) -> str | None:
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM received WHERE webhook_id = ?", (webhook_id,)
            ).fetchone()
        return row[0] if row else None

    def incidents(self) -> list[IncidentRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT incident_id, alert_id, type, status, sent_at, updated_at FROM incidents"
                " ORDER BY updated_at DESC"
            ).fetchall()
        return [IncidentRow(*r) for r in rows]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM received").fetchone()[0]

    def index_missing(self, parse: Callable[[str, bytes], Received]) -> int:
        """Index alerts stored before the console's tables existed (``parse(content_type,
        body)`` re-reads one); returns how many. Bodies that no longer parse are skipped."""
        with self._lock:
            rows = self._db.execute(
                "SELECT r.seq, r.content_type, r.body, r.received_at FROM received r"
                " WHERE NOT EXISTS (SELECT 1 FROM alerts a WHERE a.alert_id = r.alert_id)"
                " ORDER BY r.seq"
            ).fetchall()
            done = 0
            for seq, content_type, body, received_at in rows:
                try:
                    meta = parse(content_type, body.encode("utf-8"))
                except Exception:
                    continue
                self._db.begin()
                try:
                    self._db.lock_events()
                    _index_alert(self._db, seq, meta, received_at)
                    self._db.commit()
                except BaseException:
                    self._db.rollback()
                    raise
                done += 1
        return done

    def store_status(self, webhook_id: str, report: dict[str, Any]) -> str:
        """Store one patrol status report (``station.status`` fields); ``stored`` or
        ``duplicate`` (the same webhook-id again). Status reports are superseded within a
        second, so they skip the group commit."""
        columns = ("webhook_id", "received_at", *STATUS_COLUMNS)
        values = (webhook_id, time.time(), *(report.get(c) for c in STATUS_COLUMNS))
        with self._lock:
            cur = self._db.execute(
                f"INSERT INTO tracks({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
                " ON CONFLICT(webhook_id) DO NOTHING",
                values,
            )
        return STORED if cur.rowcount == 1 else DUPLICATE


STATUS_COLUMNS = (
    "sent_at",
    "vehicle_id",
    "mission_id",
    "water_id",
    "lat",
    "lon",
    "alt_rel_m",
    "heading_deg",
    "speed_m_s",
    "sortie",
    "sorties",
    "battery_pct",
    "mode",
    "link",
    "video",
    "detector_fps",
)


def _index_alert(db: Db, seq: int, meta: Received, now: float) -> None:
    """The alert's fields into ``alerts`` and a line in ``events``, in the store's transaction.
    An alert that arrived before (the same id as JSON and as CAP) is indexed once."""
    if db.execute("SELECT 1 FROM alerts WHERE alert_id = ?", (meta.alert_id,)).fetchone():
        return
    d = meta.details or {}
    evidence = d.get("evidence") or {}
    values = {c: d.get(c) for c in _ALERT_COLUMNS}
    values["severity"] = str(d.get("severity") or "medium")
    values["evidence_path"] = evidence.get("path")
    values["evidence_sha256"] = evidence.get("sha256")
    columns = [
        "seq",
        "alert_id",
        "incident_id",
        "type",
        "status",
        "severity_rank",
        "sent_at",
        "is_test",
        "received_at",
        *_ALERT_COLUMNS,
    ]
    row = [
        seq,
        meta.alert_id,
        meta.incident_id,
        meta.type,
        meta.status,
        SEVERITY_RANK.get(values["severity"], 2),
        meta.sent_at,
        int(meta.is_test),
        now,
        *values.values(),
    ]
    db.execute(
        f"INSERT INTO alerts({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", row
    )
    db.execute(
        "INSERT INTO events(at, kind, incident_id, ref) VALUES (?, 'alert', ?, ?)",
        (now, meta.incident_id, seq),
    )
