"""A GeoJSON FeatureCollection (as QGIS or geojson.io save it) -> the YAML-format document.

Features carry ``properties.role``: ``water``, ``no_fly``, ``hotspot`` or ``launch``.
Settings (id, name, priority, patrol, vehicle, rules...) come from a top-level
``properties`` member or from a sidecar ``<name>.yaml``. The document then goes
through the same checks as a YAML file; ``Origins`` maps its field paths back to
the feature (and file) they came from, so errors point into the GeoJSON.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from geofences.errors import KeyWaterFileError
from geofences.geometry import parse_position, short

# document field prefix -> (file, field prefix in that file)
Origins = dict[str, tuple[str, str]]

ROLES = ("water", "no_fly", "hotspot", "launch")
SETTINGS_KEYS = ("id", "name", "priority", "sample", "patrol", "vehicle", "rules")
_GEOMETRY_KEYS = ("water", "launch", "no_fly", "hotspots")
_ROLE_GEOMETRY = {
    "water": ("Polygon", "MultiPolygon"),
    "no_fly": ("Polygon",),
    "hotspot": ("Point", "LineString"),
    "launch": ("Point",),
}
_ROLE_PROPERTIES = {
    "water": ("name",),
    "no_fly": ("name",),
    "hotspot": ("name", "radius_m"),
    "launch": ("name", "alt_amsl_m"),
}
# Keys every feature may carry: the role, free text, and geojson.io's simplestyle styling.
_COMMON_PROPERTIES = (
    "role",
    "title",
    "description",
    "marker-size",
    "marker-symbol",
    "marker-color",
    "stroke",
    "stroke-opacity",
    "stroke-width",
    "fill",
    "fill-opacity",
)
_WGS84_CRS = ("urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:EPSG::4326", "EPSG:4326")


def to_document(
    data: Any, path: Path, sidecar: tuple[Path, Any] | None
) -> tuple[dict[str, Any], Origins]:
    """Turn parsed GeoJSON (plus an optional parsed sidecar) into a key-water document."""
    src = str(path)
    _check_collection(data, src)
    settings, origins = _settings(data, src, sidecar)
    doc: dict[str, Any] = dict(settings)
    origins[""] = (src, "")
    waters: list[tuple[int, dict[str, Any]]] = []
    launches: list[dict[str, Any]] = []  # several: docks and shore access points
    no_fly: list[dict[str, Any]] = []
    hotspots: list[dict[str, Any]] = []
    for i, feature in enumerate(data["features"]):
        role, geometry, props = _feature(feature, i, src)
        at = f"features[{i}]"
        name = props.get("name")
        if role == "water":
            waters.append((i, geometry))
        elif role == "launch":
            n = len(launches)
            lon, lat = parse_position(
                geometry.get("coordinates"), f"{at}.geometry.coordinates", src
            )
            launch: dict[str, Any] = {"lat": lat, "lon": lon}
            if "alt_amsl_m" in props:
                launch["alt_amsl_m"] = props["alt_amsl_m"]
            if name:
                launch["name"] = name
            launches.append(launch)
            origins.update(
                {
                    f"launch[{n}]": (src, at),
                    f"launch[{n}].alt_amsl_m": (src, f"{at}.properties.alt_amsl_m"),
                }
            )
        elif role == "no_fly":
            n = len(no_fly)
            no_fly.append({"name": name or f"no-fly {n + 1}", "geometry": geometry})
            origins.update(_item_origins(f"no_fly[{n}]", at, src))
        else:
            n = len(hotspots)
            spot: dict[str, Any] = {"name": name or f"hotspot {n + 1}", "geometry": geometry}
            if "radius_m" in props:
                spot["radius_m"] = props["radius_m"]
            hotspots.append(spot)
            origins.update(_item_origins(f"hotspots[{n}]", at, src))
            origins[f"hotspots[{n}].radius_m"] = (src, f"{at}.properties.radius_m")
    if not waters:
        raise KeyWaterFileError(
            src,
            "features",
            "no feature with properties.role 'water'; add the water outline as a Polygon "
            "feature with role: water",
        )
    if not launches:
        raise KeyWaterFileError(
            src,
            "features",
            "no feature with properties.role 'launch'; add the take-off point on the shore as "
            "a Point feature with role: launch",
        )
    # One launch point keeps the single form (and its field names in messages).
    doc["launch"] = launches[0] if len(launches) == 1 else launches
    if len(launches) == 1:
        origins["launch"] = origins.pop("launch[0]")
        origins["launch.alt_amsl_m"] = origins.pop("launch[0].alt_amsl_m")
    doc["water"] = _water(waters, origins, src)
    if no_fly:
        doc["no_fly"] = no_fly
        origins["no_fly"] = (src, "features")
    if hotspots:
        doc["hotspots"] = hotspots
    return doc, origins


def remap(err: KeyWaterFileError, origins: Origins) -> KeyWaterFileError:
    """Point ``err`` at the file and field the document's field came from."""
    for prefix in sorted(origins, key=len, reverse=True):
        field = err.field
        rest = field[len(prefix) :]
        if field.startswith(prefix) and (not prefix or not rest or rest[0] in ".["):
            file, mapped = origins[prefix]
            if not mapped and rest.startswith("."):
                rest = rest[1:]
            return KeyWaterFileError(file, mapped + rest, err.problem)
    return err


def _check_collection(data: Any, src: str) -> None:
    kind = data.get("type") if isinstance(data, dict) else None
    if kind != "FeatureCollection":
        got = short(kind) if isinstance(data, dict) else f"a {type(data).__name__}"
        raise KeyWaterFileError(
            src,
            "type",
            f"must be a GeoJSON FeatureCollection, got {got}; put the water, launch (and any "
            "no_fly / hotspot) features in one FeatureCollection",
        )
    crs = data.get("crs")
    if crs is not None:
        props = crs.get("properties") if isinstance(crs, dict) else None
        name = props.get("name") if isinstance(props, dict) else None
        if name not in _WGS84_CRS:
            raise KeyWaterFileError(
                src,
                "crs",
                f"coordinates must be WGS84 lon/lat, but the file says crs {short(name)}; "
                "export again as EPSG:4326",
            )
    if not isinstance(data.get("features"), list):
        raise KeyWaterFileError(
            src, "features", f"must be a list of features, got {short(data.get('features'))}"
        )


def _settings(
    data: dict[str, Any], src: str, sidecar: tuple[Path, Any] | None
) -> tuple[dict[str, Any], Origins]:
    inline = data.get("properties")
    if inline is not None and sidecar is not None:
        raise KeyWaterFileError(
            src,
            "properties",
            f"settings are given both here and in {sidecar[0].name}; keep them in one place",
        )
    if sidecar is not None:
        file, settings, prefix = str(sidecar[0]), sidecar[1], ""
    elif inline is not None:
        file, settings, prefix = src, inline, "properties."
    else:
        return {}, {}
    if not isinstance(settings, dict):
        raise KeyWaterFileError(
            file, prefix.rstrip("."), "settings must be a mapping (id, name, patrol, ...)"
        )
    for key in settings:
        if key in _GEOMETRY_KEYS:
            raise KeyWaterFileError(
                file,
                f"{prefix}{key}",
                f"{key!r} comes from the GeoJSON features (properties.role); remove it here",
            )
    keys = {*SETTINGS_KEYS, *map(str, settings)}  # unknown keys too: their errors point here
    return dict(settings), {key: (file, f"{prefix}{key}") for key in keys}


def _feature(feature: Any, i: int, src: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    at = f"features[{i}]"
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        raise KeyWaterFileError(src, at, "must be a GeoJSON Feature (type: Feature)")
    props = feature.get("properties") or {}
    if not isinstance(props, dict):
        raise KeyWaterFileError(src, f"{at}.properties", "must be a mapping")
    role = props.get("role")
    if role not in ROLES:
        hint = ""
        if isinstance(role, str):
            close = difflib.get_close_matches(role, ROLES, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        what = "missing" if role is None else f"unknown role {short(role)}"
        raise KeyWaterFileError(
            src, f"{at}.properties.role", f"{what}; use one of: {', '.join(ROLES)}{hint}"
        )
    allowed = _COMMON_PROPERTIES + _ROLE_PROPERTIES[role]
    for key in props:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(allowed)}"
            raise KeyWaterFileError(
                src, f"{at}.properties.{key}", f"unknown property for a {role} feature; {hint}"
            )
    geometry = feature.get("geometry")
    if not isinstance(geometry, dict):
        raise KeyWaterFileError(
            src, f"{at}.geometry", "the feature has no geometry; draw it or delete the feature"
        )
    allowed_types = _ROLE_GEOMETRY[role]
    if geometry.get("type") not in allowed_types:
        raise KeyWaterFileError(
            src,
            f"{at}.geometry.type",
            f"a {role} feature must be a {' or '.join(allowed_types)}, "
            f"got {short(geometry.get('type'))}",
        )
    return role, geometry, props


def _item_origins(doc_at: str, at: str, src: str) -> Origins:
    return {
        doc_at: (src, at),
        f"{doc_at}.geometry": (src, f"{at}.geometry"),
        f"{doc_at}.name": (src, f"{at}.properties.name"),
    }


def _water(waters: list[tuple[int, dict[str, Any]]], origins: Origins, src: str) -> dict[str, Any]:
    if len(waters) == 1:
        i, geometry = waters[0]
        origins["water"] = (src, f"features[{i}].geometry")
        return geometry
    polygons: list[Any] = []
    for i, geometry in waters:
        coords = geometry.get("coordinates")
        at = f"features[{i}].geometry.coordinates"
        if geometry["type"] == "Polygon":
            origins[f"water.coordinates[{len(polygons)}]"] = (src, at)
            polygons.append(coords)
        elif isinstance(coords, list):
            for j, part in enumerate(coords):
                origins[f"water.coordinates[{len(polygons)}]"] = (src, f"{at}[{j}]")
                polygons.append(part)
    origins["water"] = (src, "features")
    return {"type": "MultiPolygon", "coordinates": polygons}
