"""GeoJSON geometry objects -> shapely, with errors that point at the bad position.

Every check raises KeyWaterFileError naming the dotted field path (for example
``water.coordinates[0][3]``) and what to change. Positions are GeoJSON
``[lon, lat]`` (a third number, an altitude, is accepted and ignored).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon

from geofences.errors import KeyWaterFileError

_REASON_AT = re.compile(r"\[\s*([-+0-9.eE]+)\s+([-+0-9.eE]+)\s*\]")


def where(lon: float, lat: float) -> str:
    """A location for a message, latitude first as operators read it."""
    return f"lat {lat:.6f}, lon {lon:.6f}"


def short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def parse_position(value: Any, field: str, source: str) -> tuple[float, float]:
    """``[lon, lat]`` or ``[lon, lat, alt]`` -> ``(lon, lat)``, range-checked."""
    if not isinstance(value, list | tuple) or len(value) not in (2, 3):
        raise KeyWaterFileError(
            source, field, f"a position must be [lon, lat] (two numbers), got {short(value)}"
        )
    if not all(_is_number(v) and math.isfinite(v) for v in value):
        raise KeyWaterFileError(
            source, field, f"a position must hold finite numbers [lon, lat], got {short(value)}"
        )
    lon, lat = float(value[0]), float(value[1])
    if abs(lat) > 90.0 or abs(lon) > 180.0:
        if abs(lon) <= 90.0 and abs(lat) <= 180.0:
            raise KeyWaterFileError(
                source,
                field,
                f"[{value[0]}, {value[1]}] looks like [lat, lon] (latitude {value[1]} is "
                f"outside -90..90); GeoJSON positions are [lon, lat], write "
                f"[{value[1]}, {value[0]}]",
            )
        raise KeyWaterFileError(
            source,
            field,
            f"[{value[0]}, {value[1]}] is out of range: positions are [lon, lat] with "
            "lon in -180..180 and lat in -90..90",
        )
    return lon, lat


def _positions(value: list[Any] | tuple[Any, ...], field: str, source: str) -> np.ndarray:
    """Many positions at once; the per-position checks run only to word an error."""
    try:
        kinds = {type(v) for p in value for v in p}
        sizes = {len(p) for p in value}
    except TypeError:
        kinds, sizes = set(), set()
    if kinds and kinds <= {int, float} and sizes <= {2, 3}:
        xy = np.array([(p[0], p[1]) for p in value], dtype=float)
        if (
            np.isfinite(xy).all()
            and (np.abs(xy[:, 0]) <= 180.0).all()
            and (np.abs(xy[:, 1]) <= 90.0).all()
            and all(math.isfinite(p[2]) for p in value if len(p) == 3)
        ):
            return xy
    return np.array(
        [parse_position(p, f"{field}[{i}]", source) for i, p in enumerate(value)], dtype=float
    )


def _parse_ring(value: Any, field: str, source: str) -> np.ndarray:
    if not isinstance(value, list | tuple):
        raise KeyWaterFileError(
            source, field, f"a ring must be a list of [lon, lat] positions, got {short(value)}"
        )
    if not value:
        raise KeyWaterFileError(
            source, field, "empty ring: list the outline's [lon, lat] positions"
        )
    coords = _positions(value, field, source)
    if len(coords) < 4:
        raise KeyWaterFileError(
            source,
            field,
            f"a ring needs at least 4 positions (3 corners plus the first repeated at the end), "
            f"got {len(coords)}",
        )
    if not np.array_equal(coords[0], coords[-1]):
        lon, lat = value[0][0], value[0][1]
        raise KeyWaterFileError(
            source,
            field,
            f"ring is not closed: the last position must repeat the first; append [{lon}, {lat}]",
        )
    if shapely.area(shapely.convex_hull(shapely.multipoints(coords))) <= 0.0:
        raise KeyWaterFileError(
            source, field, "ring encloses no area (all positions on one line or the same point)"
        )
    _check_simple(coords, field, source)
    return coords


def _check_simple(coords: np.ndarray, field: str, source: str) -> None:
    """Raise naming the first pair of crossing edges if the ring crosses or touches itself."""
    if shapely.LinearRing(coords).is_simple:
        return
    # Drop repeated consecutive positions (harmless) but keep their original indices.
    keep = np.ones(len(coords), dtype=bool)
    keep[1:] = np.any(coords[1:] != coords[:-1], axis=1)
    index = np.flatnonzero(keep)
    pts = coords[keep]
    n = len(pts) - 1
    segs = shapely.linestrings(np.stack([pts[:-1], pts[1:]], axis=1))
    left, right = shapely.STRtree(segs).query(segs, predicate="intersects")
    for i, j in sorted(zip(left.tolist(), right.tolist(), strict=True)):
        if j <= i:
            continue
        meet = shapely.intersection(segs[i], segs[j])
        adjacent = j == i + 1 or (i == 0 and j == n - 1)
        if adjacent and meet.geom_type == "Point":
            continue
        p = shapely.get_coordinates(meet.representative_point())[0]
        a, b = int(index[i]), int(index[j])
        raise KeyWaterFileError(
            source,
            f"{field}[{a}]",
            f"the outline crosses itself near {where(p[0], p[1])}: the edge from position {a} "
            f"to {a + 1} meets the edge from position {b} to {b + 1}; move positions so the "
            "outline does not cross or touch itself",
        )
    raise KeyWaterFileError(source, field, "the outline crosses or touches itself")


def parse_polygon_coords(value: Any, field: str, source: str) -> Polygon:
    """GeoJSON Polygon ``coordinates`` (shell, then holes) -> a valid shapely Polygon."""
    if not isinstance(value, list | tuple):
        raise KeyWaterFileError(
            source, field, f"polygon coordinates must be a list of rings, got {short(value)}"
        )
    if not value:
        raise KeyWaterFileError(
            source, field, "empty polygon: give at least the outer ring of [lon, lat] positions"
        )
    rings = [_parse_ring(r, f"{field}[{k}]", source) for k, r in enumerate(value)]
    shell = shapely.Polygon(rings[0])
    holes = [shapely.Polygon(r) for r in rings[1:]]
    for k, hole in enumerate(holes, start=1):
        if not shapely.contains(shell, hole):
            outside = shapely.difference(hole, shell)
            p = shapely.get_coordinates(
                outside.representative_point() if not outside.is_empty else hole.centroid
            )[0]
            raise KeyWaterFileError(
                source,
                f"{field}[{k}]",
                f"island (ring {k}) is not inside the outer ring: part of it near "
                f"{where(p[0], p[1])} lies outside or on the shoreline; move it inside the "
                "water or make it a separate polygon",
            )
        for m, other in enumerate(holes[: k - 1], start=1):
            overlap = shapely.intersection(hole, other)
            if shapely.area(overlap) > 0.0:
                p = shapely.get_coordinates(overlap.representative_point())[0]
                raise KeyWaterFileError(
                    source,
                    f"{field}[{k}]",
                    f"islands (rings {m} and {k}) overlap near {where(p[0], p[1])}; "
                    "merge them into one ring",
                )
    poly = shapely.Polygon(rings[0], rings[1:])
    if not poly.is_valid:
        raise KeyWaterFileError(source, field, f"invalid polygon: {_explain(poly)}")
    return shapely.orient_polygons(poly)


def _explain(geom: shapely.Geometry) -> str:
    reason = shapely.is_valid_reason(geom)
    m = _REASON_AT.search(reason)
    if not m:
        return reason
    text = reason[: m.start()].strip()
    return f"{text} near {where(float(m.group(1)), float(m.group(2)))}"


def _geometry_type(value: Any, allowed: tuple[str, ...], field: str, source: str) -> str:
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in allowed:
        raise KeyWaterFileError(
            source,
            field,
            f"must be a GeoJSON geometry of type {' or '.join(allowed)}, got {short(kind)}",
        )
    return kind


def parse_area(value: Any, field: str, source: str) -> MultiPolygon:
    """A GeoJSON Polygon or MultiPolygon -> one MultiPolygon (overlapping parts merged)."""
    kind = _geometry_type(value, ("Polygon", "MultiPolygon"), field, source)
    coords = value.get("coordinates")
    cfield = f"{field}.coordinates"
    if kind == "Polygon":
        parts = [parse_polygon_coords(coords, cfield, source)]
    else:
        if not isinstance(coords, list | tuple) or not coords:
            raise KeyWaterFileError(
                source, cfield, "empty MultiPolygon: give at least one polygon's rings"
            )
        parts = [parse_polygon_coords(p, f"{cfield}[{i}]", source) for i, p in enumerate(coords)]
    return as_multipolygon(shapely.union_all(parts) if len(parts) > 1 else parts[0])


def as_multipolygon(geom: shapely.Geometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return shapely.orient_polygons(geom)
    if isinstance(geom, Polygon):
        return MultiPolygon([shapely.orient_polygons(geom)])
    polys = [g for g in shapely.get_parts(geom) if isinstance(g, Polygon)]
    return MultiPolygon([shapely.orient_polygons(p) for p in polys])


def parse_polygon(value: Any, field: str, source: str) -> Polygon:
    _geometry_type(value, ("Polygon",), field, source)
    return parse_polygon_coords(value.get("coordinates"), f"{field}.coordinates", source)


def parse_point_or_line(value: Any, field: str, source: str) -> Point | LineString:
    kind = _geometry_type(value, ("Point", "LineString"), field, source)
    coords = value.get("coordinates")
    cfield = f"{field}.coordinates"
    if kind == "Point":
        if coords in ([], ()):
            raise KeyWaterFileError(source, cfield, "empty Point: give one [lon, lat] position")
        return Point(parse_position(coords, cfield, source))
    if not isinstance(coords, list | tuple) or not coords:
        raise KeyWaterFileError(
            source, cfield, "empty LineString: give at least 2 [lon, lat] positions"
        )
    pts = [parse_position(p, f"{cfield}[{i}]", source) for i, p in enumerate(coords)]
    line = LineString(pts) if len(pts) >= 2 else None
    if line is None or line.length == 0.0:
        raise KeyWaterFileError(
            source, cfield, "a LineString needs at least 2 different [lon, lat] positions"
        )
    return line
