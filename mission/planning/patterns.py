"""The non-lawnmower patterns: a shoreline loop and river corridor lanes (lane legs only)."""

from __future__ import annotations

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Polygon

from mission.errors import PlanningError
from mission.planning.types import Leg

LOOP_SIMPLIFY_M = 2.0


def _polys(geom: shapely.Geometry) -> list[Polygon]:
    if isinstance(geom, Polygon):
        return [geom] if not geom.is_empty else []
    return [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]


def shoreline_loops(coverage: MultiPolygon, inset_m: float) -> list[Leg]:
    """Closed loops ``inset_m`` inside every bank, islands included."""
    inner = coverage.buffer(-inset_m).simplify(LOOP_SIMPLIFY_M)
    loops: list[Leg] = []
    for poly in _polys(inner):
        for ring in [poly.exterior, *poly.interiors]:
            if ring.length > 4 * LOOP_SIMPLIFY_M:
                loops.append(Leg(tuple((float(x), float(y)) for x, y in ring.coords), "lane"))
    if not loops:
        raise PlanningError(
            f"the water is too narrow for a shoreline loop {inset_m:.0f} m from the bank; "
            "lower patrol.shore_inset_m or use the survey pattern"
        )
    return loops


def centreline(poly: Polygon, sample_m: float = 10.0) -> LineString:
    """The longest path through the polygon's medial axis (Voronoi of its densified boundary)."""
    dense = shapely.segmentize(poly.exterior, sample_m)
    pts = shapely.points(np.asarray(dense.coords)[:-1])
    edges = shapely.voronoi_polygons(shapely.multipoints(pts), only_edges=True)
    inner = shapely.intersection(edges, poly.buffer(-sample_m / 2))
    segs: list[LineString] = []
    for g in [inner] if isinstance(inner, LineString) else getattr(inner, "geoms", []):
        if isinstance(g, LineString) and g.length > 0:
            segs.append(g)
        elif isinstance(g, MultiLineString):
            segs.extend(g.geoms)
    if not segs:
        raise PlanningError("cannot find a centreline for the corridor; is the water a river?")
    coords = np.array([c for s in segs for c in (s.coords[0], s.coords[-1])])
    keys, inv = np.unique(np.round(coords, 3), axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    a, b = inv[0::2], inv[1::2]
    w = np.linalg.norm(keys[a] - keys[b], axis=1)
    n = len(keys)
    graph = coo_matrix((np.r_[w, w], (np.r_[a, b], np.r_[b, a])), shape=(n, n)).tocsr()
    # Tree diameter: farthest node from anywhere, then farthest from that.
    d0 = dijkstra(graph, indices=int(a[0]))
    far = int(np.nanargmax(np.where(np.isfinite(d0), d0, -1)))
    d1, pred = dijkstra(graph, indices=far, return_predecessors=True)
    end = int(np.nanargmax(np.where(np.isfinite(d1), d1, -1)))
    path = [end]
    while pred[path[-1]] >= 0:
        path.append(int(pred[path[-1]]))
    line = LineString(keys[path])
    return line.simplify(sample_m / 2)


def corridor_lanes(coverage: MultiPolygon, spacing_m: float) -> list[Leg]:
    """Lanes parallel to each part's centreline, spread evenly across its width."""
    legs: list[Leg] = []
    for poly in _polys(coverage):
        centre = centreline(poly)
        probe = shapely.segmentize(centre, 20.0)
        half = float(max(poly.exterior.distance(shapely.Point(c)) for c in probe.coords))
        width = 2.0 * half
        n = max(1, int(np.ceil(width / spacing_m - 1e-9)))
        offsets = (np.arange(n) - (n - 1) / 2.0) * (width / n if n > 1 else 0.0)
        for off in offsets:
            lane = (
                centre if abs(off) < 1e-6 else centre.offset_curve(float(off), join_style="round")
            )
            clipped = lane.intersection(poly)
            parts = (
                [clipped]
                if isinstance(clipped, LineString)
                else list(getattr(clipped, "geoms", []))
            )
            for part in parts:
                if isinstance(part, LineString) and part.length > spacing_m:
                    pts = tuple((float(x), float(y)) for x, y in part.simplify(2.0).coords)
                    legs.append(Leg(pts, "lane"))
    if not legs:
        raise PlanningError("the corridor is too short or narrow to plan lanes along it")
    return legs
