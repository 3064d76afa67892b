"""File edges of the exports: atomic writes and reads that fail as ExportError naming the file."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from mission.errors import ExportError


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file, so a reader never sees half a file."""
    path = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # Not mkstemp: its files are 0600; this one gets the usual umask permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(tmp, "xb") as fh:
                fh.write(raw)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise ExportError(f"{path}: cannot write the file ({exc.strerror or exc})") from exc
    return path


def read_text(path: Path, what: str) -> str:
    """The file's text (UTF-8); ``what`` names the expected format in the error."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ExportError(f"{path}: no such file (expected a {what})") from exc
    except OSError as exc:
        raise ExportError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ExportError(
            f"{path}: not a text file (byte {exc.start} is not UTF-8); expected a {what}"
        ) from exc
