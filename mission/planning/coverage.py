"""Objectives: how long a route takes, and how much of the water the camera sees."""

from __future__ import annotations

import math

import shapely
from shapely.geometry import LineString

from mission.planning.types import Lane, Leg


def lanes_time_s(lanes: list[Lane], speed_m_s: float, turn_s: float) -> float:
    """Cost of a sweep angle: lane length plus one turn per lane (transits ignored)."""
    if not lanes:
        return float("inf")
    length = sum(math.dist(ln.a, ln.b) for ln in lanes)
    return length / speed_m_s + len(lanes) * turn_s


def swath_coverage(legs: list[Leg], target: shapely.Geometry, swath_width_m: float) -> float:
    """Fraction of ``target`` inside the camera swath (nadir footprint width) along ``legs``."""
    if target.is_empty or target.area <= 0:
        return 1.0
    lines = [LineString(leg.points) for leg in legs if len(leg.points) >= 2]
    if not lines:
        return 0.0
    seen = shapely.union_all(shapely.buffer(lines, swath_width_m / 2.0, quad_segs=4))
    return float(shapely.intersection(seen, target).area / target.area)
