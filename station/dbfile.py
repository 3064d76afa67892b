"""Checks on a SQLite database file before it is opened."""

from __future__ import annotations

from pathlib import Path

from station.errors import StoreError

SQLITE_HEADER = b"SQLite format 3\x00"


def refuse_non_database(path: Path, what: str) -> None:
    """Raise :class:`StoreError` when ``path`` exists but is not a SQLite database.

    SQLite takes an empty file for a new database; an existing file that is empty (truncated,
    or a failed copy) must not quietly become a new, empty ``what`` that forgets its content.
    A missing file is fine: it is created."""
    try:
        with open(path, "rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"{what} {path}: cannot read it: {exc.strerror or exc}") from None
    if header == SQLITE_HEADER:
        return
    if not header:
        raise StoreError(
            f"{what} {path} exists but is empty (0 bytes), not a SQLite database: restore it"
            " from a backup, or delete it to start a new one"
        )
    raise StoreError(f"{what} {path} is not a SQLite database: check the path")
