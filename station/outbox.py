"""The durable outbox: every alert is committed to SQLite (WAL) before anything is sent.

Tables: ``alerts`` (append-only, ``seq`` = commit order), ``endpoints`` (each
with a routing cursor) and ``deliveries`` (one row per alert and endpoint,
with its state: pending, delivered, failed or disabled). The delivery worker
routes new alerts to its endpoints, sends the due ones and records outcomes
here; all SQL lives in this module. Each thread gets its own connection.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station.dbfile import refuse_non_database
from station.errors import StoreError
from station.model import Alert

PENDING, DELIVERED, FAILED, DISABLED = "pending", "delivered", "failed", "disabled"
STATES = (PENDING, DELIVERED, FAILED, DISABLED)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts(
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    incident_id TEXT NOT NULL,
    emitted_at REAL NOT NULL,
    route TEXT,                 -- NULL: every endpoint; else a JSON list of endpoint names
    body TEXT NOT NULL          -- the alert's JSON
);
CREATE INDEX IF NOT EXISTS alerts_by_incident ON alerts(incident_id, seq);
CREATE TABLE IF NOT EXISTS endpoints(
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    routed_seq INTEGER NOT NULL,  -- alerts up to here have a delivery row for this endpoint
    disabled_at REAL,
    disabled_reason TEXT
);
CREATE TABLE IF NOT EXISTS deliveries(
    endpoint TEXT NOT NULL,
    seq INTEGER NOT NULL,
    alert_id TEXT NOT NULL,
    incident_id TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_attempt_at REAL,
    last_attempt_at REAL,
    next_at REAL NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    done_at REAL,
    PRIMARY KEY(endpoint, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_open ON deliveries(endpoint, state, incident_id, seq);
CREATE INDEX IF NOT EXISTS deliveries_by_seq ON deliveries(seq);
"""

# The head of each incident's queue for one endpoint: only it may be sent, which
# keeps every incident's alerts in order.
_HEADS = """
FROM deliveries d JOIN alerts a ON a.seq = d.seq
WHERE d.endpoint = :ep AND d.state = 'pending'
  AND d.seq = (SELECT MIN(seq) FROM deliveries h
               WHERE h.endpoint = :ep AND h.state = 'pending' AND h.incident_id = d.incident_id)
"""


@dataclass(frozen=True)
class DueDelivery:
    """A pending delivery whose turn has come, with what the sender needs."""

    endpoint: str
    seq: int
    alert_id: str
    attempts: int
    first_attempt_at: float | None
    body: str  # the alert JSON


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to; the worker computes it, :meth:`Outbox.record` stores it."""

    seq: int
    state: str  # pending, delivered, failed, disabled
    attempted_at: float  # when the request started
    next_at: float  # pending: when to try again; otherwise when it finished
    status: int | None = None  # HTTP status, None when no response
    error: str | None = None


@dataclass(frozen=True)
class DeliveryRow:
    endpoint: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_at: float
    last_attempt_at: float | None
    done_at: float | None


@dataclass(frozen=True)
class OutboxEntry:
    """An alert in the outbox and its deliveries."""

    seq: int
    alert: Alert
    emitted_at: float
    route: list[str] | None
    deliveries: list[DeliveryRow]

    @property
    def state(self) -> str:
        """delivered (all), failed / disabled (any), pending (any), or unrouted (none yet)."""
        states = {d.state for d in self.deliveries}
        for state in (FAILED, DISABLED, PENDING):
            if state in states:
                return state
        return DELIVERED if states else "unrouted"


@dataclass(frozen=True)
class EndpointRow:
    name: str
    url: str
    routed_seq: int
    disabled_at: float | None
    disabled_reason: str | None


class Outbox:
    """A SQLite outbox at ``path`` (created if missing). Safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        # In-process writers queue here instead of in SQLite's busy handler, which sleeps in
        # steps of up to 100 ms; other processes still meet the busy timeout.
        self._write_lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._listeners: list[threading.Event] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"outbox {self.path}: cannot create its folder: {exc}") from None
        refuse_non_database(self.path, "outbox")
        try:
            self._db().executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"outbox {self.path}: not a usable SQLite database ({exc})") from None

    # ------------------------------------------------------------ connections

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                db = sqlite3.connect(
                    self.path, timeout=30.0, isolation_level=None, check_same_thread=False
                )
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if mode != "wal":
                    raise StoreError(f"outbox {self.path}: cannot use WAL mode (got {mode})")
                db.execute("PRAGMA synchronous=NORMAL")  # see _write()
            except sqlite3.DatabaseError as exc:
                raise StoreError(
                    f"outbox {self.path}: not a usable SQLite database ({exc})"
                ) from None
            self._local.db = db
            with self._lock:
                self._conns.append(db)
        return db

    def _write(self, durable: bool = False) -> _Transaction:
        """A write transaction. ``durable``: fsync at commit, so it survives power loss (emit).
        Otherwise (WAL, synchronous=NORMAL) a commit survives a process crash but the last
        ones may roll back on power loss: fine for delivery bookkeeping, whose loss only
        means an alert is sent again and collapsed by its webhook-id."""
        db = self._db()
        mode = "FULL" if durable else "NORMAL"
        if getattr(self._local, "sync", None) != mode:
            db.execute(f"PRAGMA synchronous={mode}")
            self._local.sync = mode
        return _Transaction(db, self.path, self._write_lock)

    def close(self) -> None:
        """Close every connection (call once, when no thread uses the outbox any more)."""
        with self._lock:
            for db in self._conns:
                db.close()
            self._conns.clear()
        self._local = threading.local()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def subscribe(self) -> threading.Event:
        """An event set after every emit in this process (the in-process worker's wake-up)."""
        event = threading.Event()
        with self._lock:
            self._listeners.append(event)
        return event

    def unsubscribe(self, event: threading.Event) -> None:
        with self._lock:
            if event in self._listeners:
                self._listeners.remove(event)

    # ------------------------------------------------------------ the producer side

    def emit(self, alert: Alert, route: Sequence[str] | None = None) -> None:
        """Commit an alert (one transaction, fsynced); returns once it is durable.

        ``route`` limits it to the named endpoints (a test alert); by default every
        endpoint the worker serves gets it. Emitting the same alert twice is a no-op;
        a different alert with the same id is an error.
        """
        body = alert.to_json().decode("utf-8")
        now = time.time()
        with self._write(durable=True) as db:
            row = db.execute("SELECT body FROM alerts WHERE id = ?", (alert.id,)).fetchone()
            if row is not None:
                if row[0] != body:
                    raise StoreError(
                        f"alert {alert.id} is already in the outbox with other content"
                    )
                return
            cur = db.execute(
                "INSERT INTO alerts(id, incident_id, emitted_at, route, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    alert.id,
                    alert.incident_id,
                    now,
                    json.dumps(list(route)) if route else None,
                    body,
                ),
            )
            for endpoint in route or ():
                db.execute(
                    "INSERT INTO deliveries(endpoint, seq, alert_id, incident_id, state, next_at)"
                    " VALUES (?, ?, ?, ?, 'pending', ?)",
                    (endpoint, cur.lastrowid, alert.id, alert.incident_id, now),
                )
        with self._lock:
            for event in self._listeners:
                event.set()

    # ------------------------------------------------------------ the worker side

    def register_endpoint(self, name: str, url: str) -> None:
        """Make ``name`` a routing target. A new endpoint takes every alert emitted from now on,
        plus any older alert that no endpoint has taken yet (nothing emitted before the first
        worker ran is lost)."""
        with self._write() as db:
            row = db.execute("SELECT url FROM endpoints WHERE name = ?", (name,)).fetchone()
            if row is not None:
                if row[0] != url:
                    db.execute("UPDATE endpoints SET url = ? WHERE name = ?", (url, name))
                return
            orphan = db.execute(
                "SELECT MIN(seq) FROM alerts a WHERE route IS NULL"
                " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.seq = a.seq)"
            ).fetchone()[0]
            if orphan is not None:
                start = orphan - 1
            else:
                start = db.execute("SELECT COALESCE(MAX(seq), 0) FROM alerts").fetchone()[0]
            db.execute(
                "INSERT INTO endpoints(name, url, routed_seq) VALUES (?, ?, ?)", (name, url, start)
            )

    def route(self, endpoint: str) -> int:
        """Give ``endpoint`` a delivery row for each broadcast alert past its cursor (count)."""
        db = self._db()
        row = db.execute(
            "SELECT routed_seq, (SELECT COALESCE(MAX(seq), 0) FROM alerts) FROM endpoints"
            " WHERE name = ?",
            (endpoint,),
        ).fetchone()
        if row is None:
            raise StoreError(f"endpoint {endpoint!r} is not registered in {self.path}")
        if row[0] >= row[1]:
            return 0
        with self._write() as db:
            routed = db.execute(
                "SELECT routed_seq FROM endpoints WHERE name = ?", (endpoint,)
            ).fetchone()[0]
            cur = db.execute(
                "INSERT OR IGNORE INTO deliveries"
                "(endpoint, seq, alert_id, incident_id, state, next_at)"
                " SELECT ?, seq, id, incident_id, 'pending', emitted_at FROM alerts"
                " WHERE seq > ? AND route IS NULL",
                (endpoint, routed),
            )
            db.execute(
                "UPDATE endpoints SET routed_seq = (SELECT COALESCE(MAX(seq), 0) FROM alerts)"
                " WHERE name = ?",
                (endpoint,),
            )
            return cur.rowcount

    def due(self, endpoint: str, now: float, limit: int) -> list[DueDelivery]:
        """Up to ``limit`` deliveries to send now: at most one per incident, oldest first."""
        rows = (
            self._db()
            .execute(
                "SELECT d.seq, d.alert_id, d.attempts, d.first_attempt_at, a.body "
                + _HEADS
                + " AND d.next_at <= :now ORDER BY d.seq LIMIT :limit",
                {"ep": endpoint, "now": now, "limit": limit},
            )
            .fetchall()
        )
        return [DueDelivery(endpoint, *row) for row in rows]

    def next_due_at(self, endpoint: str) -> float | None:
        """When the earliest waiting delivery for ``endpoint`` becomes due (None: nothing waits)."""
        return self._db().execute("SELECT MIN(d.next_at) " + _HEADS, {"ep": endpoint}).fetchone()[0]

    def record(
        self, endpoint: str, outcomes: Iterable[Outcome], disable_reason: str | None = None
    ) -> None:
        """Store a batch of attempt outcomes in one transaction; with ``disable_reason`` (a 410)
        the endpoint is disabled in the same transaction, so no reader sees one without the other.
        """
        with self._write() as db:
            if disable_reason is not None:
                self._disable(db, endpoint, disable_reason)
            for o in outcomes:
                done = o.next_at if o.state != PENDING else None
                db.execute(
                    "UPDATE deliveries SET state = ?, attempts = attempts + 1,"
                    " first_attempt_at = COALESCE(first_attempt_at, ?), last_attempt_at = ?,"
                    " next_at = ?, last_status = ?, last_error = ?, done_at = ?"
                    " WHERE endpoint = ? AND seq = ? AND state = 'pending'",
                    (
                        o.state,
                        o.attempted_at,
                        o.attempted_at,
                        o.next_at,
                        o.status,
                        o.error,
                        done,
                        endpoint,
                        o.seq,
                    ),
                )

    @staticmethod
    def _disable(db: sqlite3.Connection, endpoint: str, reason: str) -> None:
        db.execute(
            "UPDATE endpoints SET disabled_at = ?, disabled_reason = ? WHERE name = ?",
            (time.time(), reason, endpoint),
        )

    def endpoint(self, name: str) -> EndpointRow | None:
        row = (
            self._db()
            .execute(
                "SELECT name, url, routed_seq, disabled_at, disabled_reason FROM endpoints"
                " WHERE name = ?",
                (name,),
            )
            .fetchone()
        )
        return EndpointRow(*row) if row else None

    def endpoints(self) -> list[EndpointRow]:
        rows = (
            self._db()
            .execute(
                "SELECT name, url, routed_seq, disabled_at, disabled_reason FROM endpoints"
                " ORDER BY name"
            )
            .fetchall()
        )
        return [EndpointRow(*r) for r in rows]

    # ------------------------------------------------------------ the operator side

    def retry(self, alert_id: str | None = None, endpoint: str | None = None) -> int:
        """Send failed / disabled deliveries again (all, one alert's, or one endpoint's) and
        re-enable the endpoints concerned. Returns how many deliveries were re-queued."""
        if alert_id is not None:
            alert_id = self.get(alert_id).alert.id  # raises when unknown; resolves a prefix
        where, args = ["state IN ('failed', 'disabled')"], []
        if alert_id is not None:
            where.append("alert_id = ?")
            args.append(alert_id)
        if endpoint is not None:
            where.append("endpoint = ?")
            args.append(endpoint)
        cond = " AND ".join(where)
        with self._write() as db:
            if endpoint is not None:
                names = [endpoint]
            elif alert_id is not None:
                names = [
                    r[0]
                    for r in db.execute(
                        f"SELECT DISTINCT endpoint FROM deliveries WHERE {cond}", args
                    )
                ]
            else:
                names = [r[0] for r in db.execute("SELECT name FROM endpoints")]
            db.executemany(
                "UPDATE endpoints SET disabled_at = NULL, disabled_reason = NULL WHERE name = ?",
                [(n,) for n in names],
            )
            cur = db.execute(
                "UPDATE deliveries SET state = 'pending', attempts = 0, first_attempt_at = NULL,"
                f" next_at = ?, done_at = NULL WHERE {cond}",
                [time.time(), *args],
            )
            return cur.rowcount

    def get(self, alert_id: str) -> OutboxEntry:
        row = (
            self._db()
            .execute("SELECT seq, body, emitted_at, route FROM alerts WHERE id = ?", (alert_id,))
            .fetchone()
        )
        if row is None:
            # let an operator type a unique prefix of the id
            rows = (
                self._db()
                .execute(
                    "SELECT seq, body, emitted_at, route FROM alerts"
                    " WHERE substr(id, 1, ?) = ? LIMIT 2",
                    (len(alert_id), alert_id),
                )
                .fetchall()
            )
            if len(rows) > 1:
                raise StoreError(f"alert id prefix {alert_id!r} is ambiguous; give more of the id")
            if not rows:
                raise StoreError(
                    f"no alert {alert_id!r} in {self.path}"
                    " (list them with `waterpatrol alerts list`)"
                )
            row = rows[0]
        return self._entry(row)

    def entries(
        self, limit: int = 50, state: str | None = None, incident_id: str | None = None
    ) -> list[OutboxEntry]:
        """The newest alerts first, optionally only those in one overall state or incident."""
        if state is not None and state not in (*STATES, "unrouted"):
            raise StoreError(f"state {state!r}: use one of {', '.join(STATES)}, unrouted")
        sql, args = "SELECT seq, body, emitted_at, route FROM alerts", []
        if incident_id is not None:
            sql += " WHERE incident_id = ?"
            args.append(incident_id)
        out: list[OutboxEntry] = []
        for row in self._db().execute(sql + " ORDER BY seq DESC", args):
            entry = self._entry(row)
            if state is None or entry.state == state:
                out.append(entry)
                if len(out) >= limit:
                    break
        return out

    def counts(self) -> dict[str, int]:
        """Deliveries per state, for every endpoint together."""
        rows = self._db().execute("SELECT state, COUNT(*) FROM deliveries GROUP BY state")
        return {state: 0 for state in STATES} | dict(rows.fetchall())

    def _deliveries_for(self, alert_id: str) -> list[DeliveryRow]:
        rows = (
            self._db()
            .execute(
                "SELECT endpoint, state, attempts, last_status, last_error, next_at,"
                " last_attempt_at, done_at FROM deliveries WHERE alert_id = ? ORDER BY endpoint",
                (alert_id,),
            )
            .fetchall()
        )
        return [DeliveryRow(*r) for r in rows]

    def _entry(self, row: Any) -> OutboxEntry:
        seq, body, emitted_at, route = row
        alert = Alert.from_json(body)
        return OutboxEntry(
            seq=seq,
            alert=alert,
            emitted_at=emitted_at,
            route=json.loads(route) if route else None,
            deliveries=self._deliveries_for(alert.id),
        )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error); SQLite errors name the file."""

    def __init__(self, db: sqlite3.Connection, path: Path, lock: threading.Lock) -> None:
        self.db = db
        self.path = path
        self.lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self.lock.acquire()
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            self.lock.release()
            raise StoreError(f"outbox {self.path}: {exc}") from None
        return self.db

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        try:
            if exc_type is None:
                try:
                    self.db.execute("COMMIT")
                    return
                except sqlite3.DatabaseError as err:
                    self.db.execute("ROLLBACK")
                    raise StoreError(f"outbox {self.path}: {err}") from None
            self.db.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise StoreError(f"outbox {self.path}: {exc}") from exc
        finally:
            self.lock.release()
