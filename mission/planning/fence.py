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
# Fence storage of a stock copter (and SITL without BRD_SD_FENCE): 560 bytes for
# the whole fence, 4 of header and 2 + 8 per vertex for each polygon. It is the
# real limit: one polygon holds at most 69 vertices, and islands share it.
FENCE_STORAGE_BYTES = 560
NOFLY_MAX_VERTICES = 16
ISLAND_MAX_VERTICES = 8
MIN_INCLUSION_VERTICES = 24


def storage_bytes(polygons: list[Polygon]) -> int:
    """Bytes ArduPilot's AC_PolyFence_loader needs for these polygons."""
    return 4 + sum(2 + 8 * vertex_count(p) for p in polygons)


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


def fit_storage(
    outline: shapely.Geometry,
    margin_m: float,
    no_fly: list[Polygon],
    islands: list[Polygon],
    island_shrink_m: float,
    budget_bytes: int = FENCE_STORAGE_BYTES,
) -> tuple[Polygon, tuple[Polygon, ...], tuple[Polygon, ...]]:
    """Inclusion, no-fly exclusions and island exclusions that fit the fence storage together.

    No-fly zones are always fenced (grown, never cut). The inclusion gets what
    is left, up to 70 vertices; island cores are added largest first while the
    inclusion keeps at least ``MIN_INCLUSION_VERTICES``. An island left out of
    the fence is still avoided by the planned route.
    """
    nofly = tuple(enclosing_polygon(z, 0.0, NOFLY_MAX_VERTICES) for z in no_fly)
    cores = [
        c
        for isl in sorted(islands, key=lambda g: g.area, reverse=True)
        if (c := inner_polygon(isl, island_shrink_m, ISLAND_MAX_VERTICES)) is not None
    ]
    fixed = storage_bytes(list(nofly))
    room = (budget_bytes - fixed - 2) // 8
    if room < MIN_INCLUSION_VERTICES:
        raise PlanningError(
            f"the no-fly zones use {fixed} of the {budget_bytes} bytes of fence storage; "
            "simplify them or merge neighbouring zones"
        )
    kept: list[Polygon] = []
    for core in cores:
        cost = 2 + 8 * vertex_count(core)
        if (room * 8 - sum(2 + 8 * vertex_count(k) for k in kept) - cost) // 8 >= (
            MIN_INCLUSION_VERTICES
        ):
            kept.append(core)
    left = (room * 8 - sum(2 + 8 * vertex_count(k) for k in kept)) // 8
    inclusion = enclosing_polygon(outline, margin_m, min(MAX_FENCE_VERTICES, left))
    return inclusion, nofly, tuple(kept)
