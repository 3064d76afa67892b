"""Fence polygons the autopilot can hold: at most 70 vertices, never cutting into the water.

Simplifying a polygon moves its boundary by at most the tolerance, so an
inclusion is grown by the tolerance before it is simplified (it still
contains the water), and an exclusion is shrunk by it (it never covers water
the survey must fly over).
"""

from __future__ import annotations

import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.polygon import orient

from mission.errors import PlanningError

MAX_FENCE_VERTICES = 70  # per polygon, per the ArduPilot wiki


def vertex_count(poly: Polygon) -> int:
    """Vertices as uploaded: the closing point is not repeated."""
    return len(poly.exterior.coords) - 1


def _largest(geom: shapely.Geometry) -> Polygon | None:
    if geom.is_empty:
        return None
    if isinstance(geom, Polygon):
        return geom
    if isinstance(geom, MultiPolygon):
        return max(geom.geoms, key=lambda g: g.area)
    return None


def enclosing_polygon(
    must_contain: shapely.Geometry, margin_m: float, max_vertices: int = MAX_FENCE_VERTICES
) -> Polygon:
    """A hole-free polygon of <= ``max_vertices`` containing ``must_contain`` grown by ``margin_m``.

    Used for the inclusion fence (the water plus a margin) and for no-fly
    exclusions (the zone, never less). Parts that stay separate are joined by
    their convex hull: ArduPilot breaches when the vehicle is outside *any*
    inclusion polygon, so one water needs one inclusion.
    """
    base = shapely.union_all([must_contain.buffer(margin_m, quad_segs=4)])
    if isinstance(base, MultiPolygon):
        base = base.convex_hull
    base = Polygon(base.exterior)
    tol = max(margin_m * 0.25, 0.5)
    for _ in range(40):
        poly = _largest(base.buffer(tol, quad_segs=2).simplify(tol, preserve_topology=True))
        if poly is not None:
            poly = Polygon(poly.exterior)
            if vertex_count(poly) <= max_vertices and poly.covers(must_contain):
                return orient(poly, 1.0)
        tol *= 1.5
    raise PlanningError(
        f"cannot fit the fence inclusion in {max_vertices} vertices; simplify the shoreline"
    )


def inner_polygon(
    zone: Polygon, shrink_m: float = 0.0, max_vertices: int = MAX_FENCE_VERTICES
) -> Polygon | None:
    """``zone`` shrunk by ``shrink_m`` and simplified inward to <= ``max_vertices``.

    Used for island exclusions: the survey flies over the water right up to an
    island's shore, so the fence keeps only the island's core. Returns None when
    nothing is left (an island smaller than the margin).
    """
    core = _largest(zone.buffer(-shrink_m, quad_segs=4)) if shrink_m > 0 else zone
    if core is None or core.area < 1.0:
        return None
    core = Polygon(core.exterior)
    if vertex_count(core) <= max_vertices:
        return orient(core, 1.0)
    tol = max(core.length / (max_vertices * 20), 0.5)
    for _ in range(40):
        poly = _largest(core.buffer(-tol, quad_segs=2).simplify(tol, preserve_topology=True))
        if poly is None:
            return None
        poly = Polygon(poly.exterior)
        if vertex_count(poly) <= max_vertices and core.covers(poly):
            return orient(poly, 1.0)
        tol *= 1.5
    return None
