"""Check a key-water document against keywater.schema.json, one clear error at a time."""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Iterable, Iterator
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from geofences.errors import KeyWaterFileError
from geofences.geometry import short

_GEOJSON_WRAPPERS = ("Feature", "FeatureCollection", "GeometryCollection")
# Which problem to report first when a document has several: an unknown key (a typo)
# often explains a "required" error elsewhere, so it goes first.
_RANK = {"additionalProperties": 0, "type": 1, "enum": 1}
_TYPE_WORDS = {
    "number": "a number",
    "integer": "a whole number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping (key: value lines)",
    "array": "a list",
    "null": "null",
}


@cache
def schema() -> dict[str, Any]:
    """The JSON Schema of the YAML key-water format."""
    text = resources.files("geofences").joinpath("keywater.schema.json").read_text("utf-8")
    return json.loads(text)


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


def field_path(parts: Iterable[str | int]) -> str:
    """``["water", "coordinates", 0, 3]`` -> ``water.coordinates[0][3]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def check_document(doc: Any, source: str) -> None:
    """Raise KeyWaterFileError for the first schema violation in ``doc``."""
    if not isinstance(doc, dict):
        raise KeyWaterFileError(
            source,
            "",
            f"the file must be a mapping of settings (id, name, launch, water, ...), got "
            f"{_kind(doc)}",
        )
    _check_finite(doc, [], source, set())
    launch = doc.get("launch")
    if isinstance(launch, list):
        for i, point in enumerate(launch):
            _check_launch_order(point, source, f"launch[{i}]")
    else:
        _check_launch_order(launch, source)
    errors = [e for err in _validator().iter_errors(doc) for e in _branch_errors(err)]
    errors.sort(key=lambda e: _RANK.get(e.validator, 2))
    if errors:
        err = errors[0]
        path = list(err.absolute_path)
        if err.validator == "additionalProperties" and not _is_wrapper(err.instance):
            path.append(str(_unknown_key(err)))
        raise KeyWaterFileError(source, field_path(path), _problem(err))


def _check_finite(value: Any, path: list[str | int], source: str, seen: set[int]) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise KeyWaterFileError(source, field_path(path), f"must be a finite number, got {value}")
    if isinstance(value, dict | list):
        # YAML aliases share one object many times; visit each once (no alias "bomb").
        if id(value) in seen:
            return
        seen.add(id(value))
    if isinstance(value, dict):
        for key, item in value.items():
            if key != "coordinates":  # positions are checked, with their own messages, later
                _check_finite(item, [*path, str(key)], source, seen)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_finite(item, [*path, i], source, seen)


def _branch_errors(err: ValidationError) -> list[ValidationError]:
    """A ``oneOf`` of a mapping or a list (``launch``) is reported from the branch the value
    took, so a bad latitude reads as one, not as "not valid under any schema"."""
    if err.validator != "oneOf" or not err.context:
        return [err]
    branch = 1 if isinstance(err.instance, list) else 0
    if not isinstance(err.instance, dict | list):
        return [err]
    picked = [e for e in err.context if e.relative_schema_path[0] == branch]
    return [e for sub in picked for e in _branch_errors(sub)] or [err]


def _check_launch_order(launch: Any, source: str, where: str = "launch") -> None:
    """A latitude outside -90..90 beside a longitude that would be a valid latitude: swapped."""
    if not isinstance(launch, dict):
        return
    lat, lon = launch.get("lat"), launch.get("lon")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon))
    if numbers and abs(lat) > 90.0 and abs(lon) <= 90.0 and abs(lat) <= 180.0:
        raise KeyWaterFileError(
            source,
            f"{where}.lat",
            f"latitude {lat} is outside -90..90 and the longitude {lon} would be a valid "
            f"latitude: lat and lon look swapped (lat {lon}, lon {lat})",
        )


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (empty)"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a string {short(value)}"
    return f"{type(value).__name__} {short(value)}"


def _problem(err: ValidationError) -> str:
    sub = err.schema if isinstance(err.schema, dict) else {}
    hint = sub.get("x-hint")
    value = err.instance
    match err.validator:
        case "additionalProperties":
            return _unknown_keys(err)
        case "oneOf":
            return f"must be a mapping or a list of mappings, got {_kind(value)}" + (
                f"; {hint}" if hint else ""
            )
        case "required":
            missing = [k for k in err.validator_value if k not in value]
            keys = " and ".join(repr(k) for k in missing)
            plural = "s" if len(missing) > 1 else ""
            hints = "".join(_required_hint(err, k) for k in missing)
            return f"missing required key{plural} {keys}{hints}"
        case "type":
            allowed = err.validator_value
            allowed = [allowed] if isinstance(allowed, str) else allowed
            want = " or ".join(_TYPE_WORDS.get(t, t) for t in allowed)
            return f"must be {want}, got {_kind(value)}"
        case "enum":
            if value in _GEOJSON_WRAPPERS:
                return _wrapper_problem(value)
            options = ", ".join(str(v) for v in err.validator_value)
            return f"unknown value {short(value)}; use one of: {options}"
        case "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum":
            words = {
                "minimum": "below the minimum of",
                "maximum": "above the maximum of",
                "exclusiveMinimum": "not above",
                "exclusiveMaximum": "not below",
            }[err.validator]
            return f"{value} is {words} {err.validator_value}" + (f"; {hint}" if hint else "")
        case "pattern":
            return f"{short(value)} is not allowed" + (f"; {hint}" if hint else "")
        case "minLength":
            return "must not be empty"
        case "maxLength":
            return f"is {len(value)} characters, more than {err.validator_value}" + (
                f"; {hint}" if hint else ""
            )
        case _:
            return err.message + (f"; {hint}" if hint else "")


def _required_hint(err: ValidationError, key: str) -> str:
    if not err.absolute_path and key == "water":
        return "; add the water outline as a GeoJSON Polygon or MultiPolygon ([lon, lat] positions)"
    if not err.absolute_path and key == "launch":
        return "; add the take-off point on the shore: launch: {lat: ..., lon: ...}"
    return ""


def _wrapper_problem(kind: str) -> str:
    return (
        f"a GeoJSON {kind} is not accepted here; give the geometry object itself "
        "(the Feature's 'geometry' member: type and coordinates)"
    )


def _is_wrapper(instance: dict[Any, Any]) -> bool:
    """A GeoJSON Feature (or collection) where a bare geometry belongs."""
    return instance.get("type") in _GEOJSON_WRAPPERS


def _unknown_key(err: ValidationError) -> Any:
    """The first key of ``err.instance`` the schema does not know (any YAML key: ``?`` alone
    is a mapping whose key is None)."""
    known = err.schema.get("properties", {})
    return next(k for k in err.instance if k not in known)


def _unknown_keys(err: ValidationError) -> str:
    if _is_wrapper(err.instance):
        return _wrapper_problem(err.instance["type"])
    key = _unknown_key(err)
    known = list(err.schema.get("properties", {}))
    close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {close[0]!r}?"
    elsewhere = [p for p in _all_fields() if p.rsplit(".", 1)[-1] == key]
    if elsewhere:
        return f"unknown key here; it belongs under {elsewhere[0]!r}"
    return f"unknown key; known keys here: {', '.join(known)}"


@cache
def _all_fields() -> tuple[str, ...]:
    return tuple(_walk(schema(), ""))


def _walk(node: dict[str, Any], prefix: str) -> Iterator[str]:
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}.{key}" if prefix else key
        yield path
        yield from _walk(sub, path)
