"""The station receiver's SQLite store: each webhook stored once (by webhook-id), plus the
latest state of every incident. One connection behind one lock; concurrent stores share a
commit (group commit), so a 2xx still means the alert is on disk."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from station.dbfile import refuse_non_database
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
"""


@dataclass(frozen=True)
class Received:
    """What the receiver extracted from one verified request (JSON alert or CAP message)."""

    alert_id: str
    incident_id: str
    type: str
    status: str  # open / update / closed
    sent_at: str  # as written by the sender (RFC 3339 / CAP dateTime)
    is_test: bool


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
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()  # the connection (one writer at a time)
        self._queue_lock = threading.Lock()
        self._queue: list[_Item] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            refuse_non_database(self.path, "station database")
            self._db = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")  # a 2xx means it is on disk
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.DatabaseError) as exc:
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
            db.execute("BEGIN IMMEDIATE")
            results = [self._store_isolated(db, item, now) for item in batch]
            db.execute("COMMIT")
        except BaseException as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            for item in batch:
                item.error = exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                item.result = CONFLICT  # never read: error wins
            if not isinstance(exc, Exception):
                raise
            return
        for item, result in zip(batch, results, strict=True):
            item.result = result

    @classmethod
    def _store_isolated(cls, db: sqlite3.Connection, item: _Item, now: float) -> str:
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
    def _store_one(db: sqlite3.Connection, item: _Item, now: float) -> str:
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
        db.execute(
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
