"""One connection to the station store: a SQLite file (the default) or a PostgreSQL database
(``postgresql://...``, shared by several stations and console processes).

The rest of the station writes one SQL dialect: ``?`` placeholders, SQLite's DDL for
``INTEGER PRIMARY KEY AUTOINCREMENT`` and ``REAL``; :class:`Db` translates those few words
for PostgreSQL. Calls are serialised by the caller's lock (one connection, one user at a time).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from station.dbfile import refuse_non_database
from station.errors import StoreError

STORE_URL_ENV = "WATERPATROL_STORE_URL"
_PG_SCHEMES = ("postgresql://", "postgres://")
_PG_DDL = (
    (re.compile(r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b"), "BIGSERIAL PRIMARY KEY"),
    (re.compile(r"\bREAL\b"), "DOUBLE PRECISION"),  # PostgreSQL's REAL is 4 bytes
    (re.compile(r"\bINTEGER\b"), "BIGINT"),
)
# Every writer of the events table takes this lock inside its transaction, so event ids
# commit in order and a reader that asks for "ids above N" never skips one (PostgreSQL).
EVENTS_LOCK_KEY = 0x5741_5445  # "WATE"

DbError: tuple[type[Exception], ...] = (sqlite3.Error,)
try:  # psycopg is only needed for a PostgreSQL store
    import psycopg

    DbError = (sqlite3.Error, psycopg.Error)
except ImportError:  # pragma: no cover - it is a project dependency
    psycopg = None  # type: ignore[assignment]


def is_postgres(target: str | Path) -> bool:
    return isinstance(target, str) and target.startswith(_PG_SCHEMES)


def store_target(db: str | Path | None, default: Path) -> str | Path:
    """What to open: ``db`` (a path or a URL), else ``$WATERPATROL_STORE_URL``, else ``default``."""
    if db is not None:
        return db if is_postgres(str(db)) else Path(db)
    return os.environ.get(STORE_URL_ENV) or default


def describe(target: str | Path) -> str:
    """The target for messages, without a password."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", str(target))


class Db:
    """A connection in autocommit mode; transactions are explicit (:meth:`begin`)."""

    def __init__(self, target: str | Path, what: str = "station database") -> None:
        self.target = target
        self.what = what
        self.postgres = is_postgres(target)
        try:
            if self.postgres:
                if psycopg is None:
                    raise StoreError(f"{what}: install psycopg to use a PostgreSQL store")
                self._conn: Any = psycopg.connect(str(target), autocommit=True)
            else:
                path = Path(target)
                path.parent.mkdir(parents=True, exist_ok=True)
                refuse_non_database(path, what)
                self._conn = sqlite3.connect(
                    path, timeout=30.0, isolation_level=None, check_same_thread=False
                )
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")  # a 2xx means it is on disk
        except (OSError, *DbError) as exc:
            raise StoreError(f"{what} {describe(target)}: {exc}".strip()) from None

    def sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.postgres else text

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement; returns a cursor (fetchone / fetchall / rowcount)."""
        return self._conn.execute(self.sql(text), tuple(params))

    def insert(self, text: str, params: Sequence[Any], key: str) -> int:
        """Run an INSERT and return the new row's ``key`` column."""
        if self.postgres:
            return int(self.execute(f"{text} RETURNING {key}", params).fetchone()[0])
        return int(self.execute(text, params).lastrowid)

    def script(self, ddl: str) -> None:
        """Create tables and indexes (statements separated by ``;``)."""
        if not self.postgres:
            self._conn.executescript(ddl)
            return
        for pattern, replacement in _PG_DDL:
            ddl = pattern.sub(replacement, ddl)
        ddl = re.sub(r"--[^\n]*", "", ddl)
        with self._conn.transaction():
            # several processes may create the schema at once
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENTS_LOCK_KEY + 1,))
            for statement in ddl.split(";"):
                if statement.strip():
                    self._conn.execute(statement)

    def begin(self) -> None:
        self._conn.execute("BEGIN" if self.postgres else "BEGIN IMMEDIATE")

    def lock_events(self) -> None:
        """Inside a transaction that adds events: take the events lock (see EVENTS_LOCK_KEY)."""
        if self.postgres:
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (EVENTS_LOCK_KEY,))

    @property
    def in_transaction(self) -> bool:
        if self.postgres:
            return self._conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
        return self._conn.in_transaction

    def commit(self) -> None:
        self._conn.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()
