"""Stage 2: coverage region + sweep angle -> survey lanes (straight segments).

Lanes run along the sweep bearing, ``spacing_m`` apart, centred across the
region so the strips left at both edges are equal (and narrower than half a
camera footprint). Lanes are clipped to the lane region, which reaches a few
metres past the shore so the camera sees the waterline.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiLineString

from mission.planning.types import XY, Lane


def rotation_deg(bearing_deg: float) -> float:
    """Rotation (CCW, degrees) that turns lanes on ``bearing_deg`` into the +x axis."""
    return -(90.0 - bearing_deg)


def lane_positions(ymin: float, ymax: float, spacing_m: float) -> np.ndarray:
    height = max(ymax - ymin, 0.0)
    n = max(1, math.ceil(height / spacing_m - 1e-9))
    first = ymin + (height - (n - 1) * spacing_m) / 2.0
    return first + spacing_m * np.arange(n)


def lane_lines(
    extent: shapely.Geometry, bearing_deg: float, spacing_m: float, origin: XY
) -> np.ndarray:
    """Full-length lane lines spaced across ``extent`` (the water), not yet clipped."""
    rot = rotation_deg(bearing_deg)
    rotated = affinity.rotate(extent, rot, origin=origin)
    xmin, ymin, xmax, ymax = rotated.bounds
    xmin, xmax = xmin - 2 * spacing_m, xmax + 2 * spacing_m  # clipping decides the ends
    ys = lane_positions(ymin, ymax, spacing_m)
    lines = shapely.linestrings(
        np.stack(
            [
                np.column_stack([np.full_like(ys, xmin - 1.0), ys]),
                np.column_stack([np.full_like(ys, xmax + 1.0), ys]),
            ],
            axis=1,
        )
    )
    return np.asarray(shapely.transform(lines, _rotator(-rot, origin)))


def _rotator(deg: float, origin: XY):
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    ox, oy = origin

    def rotate(xy: np.ndarray) -> np.ndarray:
        dx, dy = xy[:, 0] - ox, xy[:, 1] - oy
        return np.column_stack([ox + dx * c - dy * s, oy + dx * s + dy * c])

    return rotate


def lanes(
    region: shapely.Geometry,
    extent: shapely.Geometry,
    bearing_deg: float,
    spacing_m: float,
    origin: XY,
    min_length_m: float = 1.0,
) -> list[Lane]:
    """Lanes spaced across ``extent`` (the water) and clipped to ``region`` (where lanes may
    fly: a little past the shore), in metres, ordered by lane then along-lane."""
    rot = rotation_deg(bearing_deg)
    rotated = affinity.rotate(region, rot, origin=origin)
    lines = lane_lines(extent, bearing_deg, spacing_m, origin)
    cuts = shapely.intersection(shapely.transform(lines, _rotator(rot, origin)), rotated)
    out: list[Lane] = []
    cos_r, sin_r = math.cos(math.radians(-rot)), math.sin(math.radians(-rot))
    ox, oy = origin

    def unrotate(x: float, y: float) -> XY:
        dx, dy = x - ox, y - oy
        return (ox + dx * cos_r - dy * sin_r, oy + dx * sin_r + dy * cos_r)

    for i, cut in enumerate(cuts):
        for seg in _segments(cut):
            (x1, y1), (x2, y2) = seg.coords[0], seg.coords[-1]
            if abs(x2 - x1) < min_length_m:
                continue
            if x1 > x2:
                x1, x2 = x2, x1
            out.append(Lane(i, unrotate(x1, y1), unrotate(x2, y2), x1, x2))
    return out


def _segments(geom: shapely.Geometry) -> list[LineString]:
    if geom.is_empty:
        return []
    if isinstance(geom, LineString):
        return [geom]
    if isinstance(geom, MultiLineString):
        return sorted(geom.geoms, key=lambda g: min(g.coords[0][0], g.coords[-1][0]))
    return sorted(
        (g for g in getattr(geom, "geoms", []) if isinstance(g, LineString) and g.length > 0),
        key=lambda g: min(g.coords[0][0], g.coords[-1][0]),
    )


FILL_IN_HALF_SWATH = 0.45  # of the footprint width: leaves margin for the coverage check
FILL_IN_MIN_FRACTION = 0.0005  # ignore slivers smaller than this share of the water


def fill_in_lanes(
    paths: list[LineString], target: shapely.Geometry, region: shapely.Geometry, swath_w: float
) -> list[Lane]:
    """Extra lanes along the strips the regular lanes leave unseen.

    Regular lanes are spaced across the whole water; beside a no-fly zone, a
    shore bulge running along the lanes or the end of a river corridor a strip
    wider than half a swath can be left over. Each such strip gets one lane
    along its long axis, clipped to the lane region. Their index is -1: each is a cell of its own.
    """
    if not paths:
        return []
    seen = shapely.buffer(
        shapely.multilinestrings(paths), swath_w * FILL_IN_HALF_SWATH, quad_segs=2
    )
    missed = shapely.difference(target, seen)
    min_area = max(target.area * FILL_IN_MIN_FRACTION, 0.05 * swath_w * swath_w)
    extra: list[Lane] = []
    for part in getattr(missed, "geoms", [missed]):
        if part.is_empty or part.area < min_area:
            continue
        rect = part.minimum_rotated_rectangle
        c = np.asarray(rect.exterior.coords)[:4]
        e1, e2 = c[1] - c[0], c[2] - c[1]
        # The rectangle's long axis, through its centre, reaching past both ends.
        axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
        mid = c.mean(axis=0)
        half = axis / 2.0 * (1.0 + swath_w / max(np.hypot(*axis), 1e-9))
        line = LineString([tuple(mid - half), tuple(mid + half)]).intersection(region)
        for seg in _segments(line):
            if seg.length >= 1.0:
                a, b = seg.coords[0], seg.coords[-1]
                extra.append(Lane(-1, (a[0], a[1]), (b[0], b[1]), 0.0, seg.length))
    return extra
