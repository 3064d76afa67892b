"""Load a key-water file (YAML, or GeoJSON FeatureCollection) into a KeyWater.

Every failure is a KeyWaterFileError naming the file, the field and the fix.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from geofences.build import build_keywater
from geofences.errors import KeyWaterFileError
from geofences.featurecollection import Origins, remap, to_document
from geofences.model import KeyWater
from geofences.schema import check_document, field_path
from geofences.validate import check_keywater

YAML_SUFFIXES = (".yaml", ".yml")
GEOJSON_SUFFIXES = (".geojson", ".json")
MAX_FILE_BYTES = 20 * 1024 * 1024
SAMPLES_DIR = Path(__file__).with_name("samples")


def load(path: str | os.PathLike[str]) -> KeyWater:
    """Read, check and build the key water in ``path`` (.yaml/.yml or .geojson/.json)."""
    try:
        return _load(Path(path))
    except RecursionError:
        raise KeyWaterFileError(
            str(path), "", "lists or mappings are nested too deeply; check the brackets"
        ) from None


def _load(p: Path) -> KeyWater:
    source = str(p)
    suffix = p.suffix.lower()
    if suffix in YAML_SUFFIXES:
        doc: Any = read_yaml(p)
        origins: Origins = {}
        _refuse_sidecar(p, doc)
    elif suffix in GEOJSON_SUFFIXES:
        doc, origins = to_document(read_json(p), p, _read_sidecar(p))
    else:
        raise KeyWaterFileError(
            source,
            "",
            f"unknown file type {p.suffix!r}; use a .yaml/.yml key-water file or a "
            ".geojson/.json FeatureCollection",
        )
    try:
        check_document(doc, source)
        keywater = build_keywater(doc, source, file_stem=p.stem)
        check_keywater(keywater)
    except KeyWaterFileError as err:
        raise remap(err, origins) from None
    return keywater


def sample_paths() -> list[Path]:
    """The bundled sample waters around Gongqingcheng (sample geometry, not surveys)."""
    return sorted(p for p in SAMPLES_DIR.iterdir() if p.suffix in YAML_SUFFIXES + GEOJSON_SUFFIXES)


def _read_text(p: Path) -> str:
    source = str(p)
    try:
        if p.is_dir():
            raise KeyWaterFileError(source, "", "is a folder; give a key-water file")
        size = p.stat().st_size
        if size > MAX_FILE_BYTES:
            raise KeyWaterFileError(
                source,
                "",
                f"file is {size / 1e6:.0f} MB, more than {MAX_FILE_BYTES / 1e6:.0f} MB; "
                "simplify the outlines",
            )
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyWaterFileError(source, "", "no such file; check the path") from None
    except PermissionError:
        raise KeyWaterFileError(source, "", "cannot read the file (permission denied)") from None
    except UnicodeDecodeError as err:
        raise KeyWaterFileError(
            source, "", f"not UTF-8 text (byte {err.start}); save the file as UTF-8"
        ) from None
    except OSError as err:
        raise KeyWaterFileError(source, "", f"cannot read the file: {err.strerror}") from None


class DuplicateKey(Exception):
    """A mapping names one key twice; ``path`` is the key's dotted field path."""

    def __init__(self, path: list[str | int], first_line: int, line: int) -> None:
        super().__init__(path, first_line, line)
        self.path, self.first_line, self.line = path, first_line, line


class UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key given twice in one mapping.

    Plain YAML keeps the last value silently: a second ``patrol:`` would replace
    the whole first mapping and the water would be flown with default settings.
    Keys brought in by a merge (``<<: *base``) may still be overridden.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        _check_unique_keys(node, [], set())
        return super().construct_document(node)


def _check_unique_keys(node: yaml.Node, path: list[str | int], seen: set[int]) -> None:
    if id(node) in seen:  # an alias: the node was checked where it was defined
        return
    seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        first_line: dict[tuple[str, str], int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            child: list[str | int] = path
            if isinstance(key_node, yaml.ScalarNode):
                key = (key_node.tag, key_node.value)
                line = key_node.start_mark.line + 1
                child = [*path, key_node.value]
                if key in first_line:
                    raise DuplicateKey(child, first_line[key], line)
                first_line[key] = line
            _check_unique_keys(value_node, child, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_unique_keys(item, [*path, i], seen)


def read_yaml(p: Path) -> Any:
    text = _read_text(p)
    try:
        doc = yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader: no arbitrary objects
    except DuplicateKey as dup:
        raise KeyWaterFileError(
            str(p),
            field_path(dup.path),
            f"given twice (lines {dup.first_line} and {dup.line}); YAML would keep only the "
            "last and silently drop the first: merge the two into one",
        ) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = f"{err.problem} ({err.context})" if err.context else str(err.problem)
        raise KeyWaterFileError(
            str(p), "", f"YAML syntax error{at}: {what}; check indentation and quoting there"
        ) from None
    except yaml.YAMLError as err:
        raise KeyWaterFileError(str(p), "", f"YAML syntax error: {err}") from None
    if doc is None:
        raise KeyWaterFileError(str(p), "", "the file is empty")
    return doc


def read_json(p: Path) -> Any:
    text = _read_text(p)
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except DuplicateKey as dup:
        raise KeyWaterFileError(
            str(p),
            "",
            f"key {dup.path[-1]!r} is given twice in one object; JSON readers keep only the "
            "last: merge the two into one",
        ) from None
    except json.JSONDecodeError as err:
        raise KeyWaterFileError(
            str(p),
            "",
            f"JSON syntax error at line {err.lineno}, column {err.colno}: {err.msg}",
        ) from None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey([key], 0, 0)
        out[key] = value
    return out


def _sidecar_path(p: Path) -> Path | None:
    for suffix in YAML_SUFFIXES:
        candidate = p.with_suffix(suffix)
        if candidate.is_file():
            return candidate
    return None


def _read_sidecar(p: Path) -> tuple[Path, Any] | None:
    side = _sidecar_path(p)
    return None if side is None else (side, read_yaml(side))


def _refuse_sidecar(p: Path, doc: Any) -> None:
    """A settings sidecar loaded on its own would only say 'missing water'; say why."""
    if isinstance(doc, dict) and "water" not in doc:
        for suffix in GEOJSON_SUFFIXES:
            geo = p.with_suffix(suffix)
            if geo.is_file():
                raise KeyWaterFileError(
                    str(p),
                    "",
                    f"this holds settings for {geo.name} (no water outline); load {geo} instead",
                )
