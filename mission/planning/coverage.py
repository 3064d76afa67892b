"""Objectives: how long a route takes, and how much of the water the camera sees."""

from __future__ import annotations

import shapely
from shapely.geometry import LineString

from mission.planning import swaths
from mission.planning.types import XY, Leg


def sweep_time_s(
    region: shapely.Geometry,
    extent: shapely.Geometry,
    bearing_deg: float,
    spacing_m: float,
    origin: XY,
    speed_m_s: float,
    turn_s: float,
) -> float:
    """Cost of a sweep bearing: lane length plus, per lane segment, a turn and a hop of one
    spacing to the next lane (longer transits ignored)."""
    lines = swaths.lane_lines(extent, bearing_deg, spacing_m, origin)
    cuts = shapely.intersection(lines, region)
    segments = int(shapely.get_num_geometries(cuts).sum())
    if segments == 0:
        return float("inf")
    length = float(shapely.length(cuts).sum()) + segments * spacing_m
    return length / speed_m_s + segments * turn_s


def swath_coverage(legs: list[Leg], target: shapely.Geometry, swath_width_m: float) -> float:
    """Fraction of ``target`` inside the camera swath (nadir footprint width) along ``legs``."""
    if target.is_empty or target.area <= 0:
        return 1.0
    lines = [LineString(leg.points) for leg in legs if len(leg.points) >= 2]
    if not lines:
        return 0.0
    seen = shapely.union_all(shapely.buffer(lines, swath_width_m / 2.0, quad_segs=4))
    return float(shapely.intersection(seen, target).area / target.area)
