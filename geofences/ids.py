"""The key-water id rule, and an id derived from a file name when the file gives none.

The id travels into mission ids, alert ids and HTTP headers (station/model.py's
id rule: 1-128 of letters, digits and ``. _ : -``). Mission and incident ids
append about 40 characters, so a key-water id is held to a stricter rule:
letters, digits, ``- _ .``, starting with a letter or digit, at most 64
characters. The rule itself is keywater.schema.json's ``id`` property (one
place, also what editors check); this module applies it to derived ids.
"""

from __future__ import annotations

import re
from functools import cache

from geofences.errors import KeyWaterFileError
from geofences.schema import schema

ID_HINT = "use letters, digits, '-', '_' or '.', starting with a letter or digit, e.g. gqc-lake"


@cache
def id_rule() -> tuple[re.Pattern[str], int]:
    """The id pattern and maximum length, as keywater.schema.json declares them."""
    spec = schema()["properties"]["id"]
    return re.compile(spec["pattern"]), int(spec["maxLength"])


def is_valid_id(value: str) -> bool:
    pattern, max_len = id_rule()
    return len(value) <= max_len and pattern.fullmatch(value) is not None


def id_from_file_name(stem: str) -> str | None:
    """``my lake (2)`` -> ``my-lake-2``; None when nothing usable is left (``鄱阳湖``)."""
    _, max_len = id_rule()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", stem)
    slug = re.sub(r"^[^A-Za-z0-9]+", "", slug)[:max_len].rstrip("-")
    return slug if slug and is_valid_id(slug) else None


def derive_id(stem: str, source: str) -> str:
    """The id of a file without an ``id`` key; refuses a name that gives none."""
    derived = id_from_file_name(stem)
    if derived is None:
        raise KeyWaterFileError(
            source,
            "id",
            f"the file has no id and its name {stem!r} gives none usable in mission and "
            f"alert ids; add a line such as 'id: lake-1' ({ID_HINT})",
        )
    return derived
