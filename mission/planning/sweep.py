"""Choosing the sweep bearing: one search over one objective (coverage.py).

Candidates are every 15 degrees plus the directions of the water's convex-hull
edges (lanes parallel to a long straight bank leave no wedges uncovered). The
cheap objective (lane length plus turns) ranks them; the best few are then
scored with the fill-in lanes they would need, which is what a lane slightly
askew to a straight bank really costs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import LineString

from mission.planning import coverage, swaths
from mission.planning.types import XY, Lane

COARSE_STEP_DEG = 15.0
FINALISTS = 3  # of each kind: hull-edge bearings and the rest
MIN_HULL_EDGE_FRACTION = 0.05  # of the hull perimeter


@dataclass(frozen=True)
class SweepChoice:
    bearing_deg: float
    lanes: list[Lane]


def hull_bearings(geom: shapely.Geometry) -> list[float]:
    """Bearings (degrees clockwise from north, mod 180) of the convex hull's long edges."""
    hull = geom.convex_hull
    if hull.geom_type != "Polygon":
        return []
    c = np.asarray(hull.exterior.coords)
    d = np.diff(c, axis=0)
    length = np.hypot(d[:, 0], d[:, 1])
    keep = length >= MIN_HULL_EDGE_FRACTION * length.sum()
    return sorted({round(math.degrees(math.atan2(dx, dy)) % 180.0, 1) for dx, dy in d[keep]})


def choose_sweep(
    region: shapely.Geometry,
    extent: shapely.Geometry,
    spacing_m: float,
    swath_m: float,
    origin: XY,
    speed_m_s: float,
    turn_s: float,
    fixed: float | None,
) -> SweepChoice:
    """The lane bearing that minimises flying time (unless the file fixes one).

    ``extent`` is the water the lanes must see; ``region`` is where lanes may
    run. Scored on simplified geometry; the final lanes are cut from the full one.
    """
    if fixed is not None:
        bearing = fixed % 180.0
        return SweepChoice(bearing, swaths.lanes(region, extent, bearing, spacing_m, origin))
    rough, rough_extent = region.simplify(spacing_m / 2.0), extent.simplify(spacing_m / 2.0)
    edges = coverage.boundary_edges(rough)
    extent_xy = shapely.get_coordinates(rough_extent)
    costs: dict[float, float] = {}

    def cost(b: float) -> float:
        b = round(float(b) % 180.0, 3)
        if b not in costs:
            costs[b] = coverage.sweep_time_s(
                edges, extent_xy, b, spacing_m, origin, speed_m_s, turn_s
            )
        return costs[b]

    best = min(np.arange(0.0, 180.0, COARSE_STEP_DEG), key=cost)
    for step in (5.0, 1.0):
        best = min((best - 2 * step, best - step, best, best + step, best + 2 * step), key=cost)
    hull = sorted((round(b, 3) for b in hull_bearings(rough_extent)), key=cost)

    finalists: list[float] = hull[:FINALISTS]
    for b in sorted(costs, key=costs.__getitem__):
        if len(finalists) >= 2 * FINALISTS:
            break
        if all(min(abs(b - f), 180 - abs(b - f)) >= 3.0 for f in finalists):
            finalists.append(b)

    def full_cost(b: float) -> float:
        regular = swaths.lanes(rough, rough_extent, b, spacing_m, origin)
        paths = [LineString([ln.a, ln.b]) for ln in regular]
        extra = swaths.fill_in_lanes(paths, rough_extent, rough, swath_m)
        fill_s = sum(math.dist(ln.a, ln.b) for ln in extra) / speed_m_s
        return cost(b) + fill_s + len(extra) * (turn_s + spacing_m / speed_m_s)

    bearing = float(min(finalists, key=full_cost))
    return SweepChoice(bearing, swaths.lanes(region, extent, bearing, spacing_m, origin))
