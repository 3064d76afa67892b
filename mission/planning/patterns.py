"""The non-lawnmower patterns: a shoreline loop and river corridor lanes (lane legs only)."""

from __future__ import annotations

import numpy as np
import shapely
import shapely.ops
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.geometry import LineString, MultiPolygon, Polygon

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
    # Every Voronoi edge inside the water, as its two end points (vectorised).
    parts = shapely.get_parts(shapely.get_parts(inner))
    parts = parts[(shapely.get_type_id(parts) == 1) & (shapely.length(parts) > 0)]
    if not len(parts):
        raise PlanningError("cannot find a centreline for the corridor; is the water a river?")
    ends = np.stack(
        [
            shapely.get_coordinates(shapely.get_point(parts, 0)),
            shapely.get_coordinates(shapely.get_point(parts, -1)),
        ],
        axis=1,
    )
    coords = ends.reshape(-1, 2)
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


STATION_M = 10.0  # distance between cross-sections along the centreline
WIDTH_PERCENTILE = 90.0  # of the cross-section widths: sets the number of lanes


def _extend_ends(line: LineString, poly: Polygon, trim_m: float) -> LineString:
    """Cut the medial axis's hooks into the end corners, then run straight to the banks."""
    if line.length <= 3 * trim_m:
        return line
    core = shapely.ops.substring(line, trim_m, line.length - trim_m)
    c = np.asarray(core.coords)
    reach = 4 * trim_m
    head = c[0] + (c[0] - c[1]) / np.linalg.norm(c[0] - c[1]) * reach
    tail = c[-1] + (c[-1] - c[-2]) / np.linalg.norm(c[-1] - c[-2]) * reach
    longer = LineString([head, *c, tail]).intersection(poly)
    parts = [longer] if isinstance(longer, LineString) else list(getattr(longer, "geoms", []))
    parts = [p for p in parts if isinstance(p, LineString)]
    return max(parts, key=lambda p: p.intersection(core.buffer(1.0)).length) if parts else core


def _cross_sections(poly: Polygon, centre: LineString) -> tuple[np.ndarray, np.ndarray]:
    """Left and right bank points of the cross-section at each station along ``centre``."""
    stations = np.append(np.arange(0.0, centre.length, STATION_M), centre.length)
    pts = shapely.get_coordinates(shapely.line_interpolate_point(centre, stations))
    ahead = shapely.get_coordinates(
        shapely.line_interpolate_point(centre, np.minimum(stations + 5.0, centre.length))
    )
    behind = shapely.get_coordinates(
        shapely.line_interpolate_point(centre, np.maximum(stations - 5.0, 0.0))
    )
    tangent = ahead - behind
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    normal = np.column_stack([-tangent[:, 1], tangent[:, 0]])  # to the left
    span = np.hypot(*(np.subtract(poly.bounds[2:], poly.bounds[:2])))
    cuts = shapely.intersection(
        shapely.linestrings(np.stack([pts - normal * span, pts + normal * span], axis=1)), poly
    )
    left, right = np.empty_like(pts), np.empty_like(pts)
    for i, cut in enumerate(cuts):
        pieces = [cut] if isinstance(cut, LineString) else list(getattr(cut, "geoms", []))
        here = shapely.Point(pts[i])
        piece = min(pieces, key=lambda g: g.distance(here)) if pieces else None
        if piece is None or piece.is_empty:
            left[i] = right[i] = pts[i]
            continue
        a, b = np.asarray(piece.coords[0]), np.asarray(piece.coords[-1])
        # Order the ends so "left" is along +normal.
        if np.dot(a - pts[i], normal[i]) < np.dot(b - pts[i], normal[i]):
            a, b = b, a
        left[i], right[i] = a, b
    return left, right


def corridor_lanes(coverage: MultiPolygon, spacing_m: float) -> list[Leg]:
    """Lanes along each part's centreline, spread evenly across its local width.

    The river is cut into cross-sections every few metres along the centreline;
    lane k of n passes (k + 1/2) / n of the way across each, so lanes follow
    the banks as the river narrows and widens.
    """
    legs: list[Leg] = []
    for poly in _polys(coverage):
        centre = centreline(poly)
        half = float(shapely.distance(poly.exterior, shapely.points(centre.coords)).max())
        centre = _extend_ends(centre, poly, half)
        left, right = _cross_sections(poly, centre)
        widths = np.linalg.norm(left - right, axis=1)
        # Lanes for the usual width; a wider bend or bay gets fill-in lanes where they add
        # coverage, not a whole extra lane along the river.
        usual = float(np.percentile(widths, WIDTH_PERCENTILE))
        n = max(1, int(np.ceil(usual / spacing_m - 1e-9)))
        for k in range(n):
            f = (k + 0.5) / n
            lane = LineString(left + f * (right - left)).simplify(2.0)
            clipped = lane.intersection(poly)
            parts = (
                [clipped]
                if isinstance(clipped, LineString)
                else list(getattr(clipped, "geoms", []))
            )
            for part in parts:
                if isinstance(part, LineString) and part.length > spacing_m:
                    legs.append(Leg(tuple((float(x), float(y)) for x, y in part.coords), "lane"))
    if not legs:
        raise PlanningError("the corridor is too short or narrow to plan lanes along it")
    return legs
