"""Objectives: how long a route takes, and how much of the water the camera sees."""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.polygon import orient

from mission.planning import swaths
from mission.planning.types import XY, Leg


def boundary_edges(region: shapely.Geometry) -> np.ndarray:
    """Every boundary edge as (x1, y1, x2, y2), shells CCW and holes CW (interior on the left)."""
    polys = [region] if isinstance(region, Polygon) else list(getattr(region, "geoms", []))
    out = []
    for poly in polys:
        if not isinstance(poly, Polygon) or poly.is_empty:
            continue
        poly = orient(poly, 1.0)
        for ring in [poly.exterior, *poly.interiors]:
            c = np.asarray(ring.coords)[:, :2]
            out.append(np.hstack([c[:-1], c[1:]]))
    return np.vstack(out) if out else np.zeros((0, 4))


def sweep_time_s(
    edges: np.ndarray,
    extent_xy: np.ndarray,
    bearing_deg: float,
    spacing_m: float,
    origin: XY,
    speed_m_s: float,
    turn_s: float,
) -> float:
    """Cost of a sweep bearing: lane length plus, per lane segment, a turn and a hop of one
    spacing to the next lane (longer transits ignored).

    Counted without building geometry: along a lane, the region's inside length is
    the sum of x where upward edges cross it minus where downward edges do
    (interior on the left of every edge), and each upward crossing ends a segment.
    """
    a = math.radians(swaths.rotation_deg(bearing_deg))
    c, s = math.cos(a), math.sin(a)
    ox, oy = origin

    def rot(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dx, dy = x - ox, y - oy
        return dx * c - dy * s, dx * s + dy * c

    _, ey = rot(extent_xy[:, 0], extent_xy[:, 1])
    ys = swaths.lane_positions(float(ey.min()), float(ey.max()), spacing_m)
    x1, y1 = rot(edges[:, 0], edges[:, 1])
    x2, y2 = rot(edges[:, 2], edges[:, 3])
    up = y2 > y1
    lo, hi = np.minimum(y1, y2), np.maximum(y1, y2)
    yy = ys[:, None]
    crosses = (lo[None, :] <= yy) & (yy < hi[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x1[None, :] + (yy - y1[None, :]) * (x2 - x1)[None, :] / (y2 - y1)[None, :]
    sign = np.where(up, 1.0, -1.0)[None, :]
    length = float(np.where(crosses, xc * sign, 0.0).sum())
    segments = int((crosses & up[None, :]).sum())
    if segments == 0:
        return float("inf")
    return (length + segments * spacing_m) / speed_m_s + segments * turn_s


def swath_coverage(legs: list[Leg], target: shapely.Geometry, swath_width_m: float) -> float:
    """Fraction of ``target`` inside the camera swath (nadir footprint width) along ``legs``."""
    if target.is_empty or target.area <= 0:
        return 1.0
    lines = [LineString(leg.points) for leg in legs if len(leg.points) >= 2]
    if not lines:
        return 0.0
    seen = shapely.union_all(shapely.buffer(lines, swath_width_m / 2.0, quad_segs=4))
    return float(shapely.intersection(seen, target).area / target.area)
