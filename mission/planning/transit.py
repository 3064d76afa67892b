"""Shortest legs inside the transit region (a polygon with holes), by visibility graph.

Most legs are straight; only those that would leave the region are routed.
A shortest path bends only at reflex corners of the free space, so those are
the graph's nodes (inset further than the simplification tolerance, so edges
between neighbours never clip a corner); visibility is tested lazily, all
candidate edges from a node in one vectorised shapely call.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.polygon import orient

from mission.errors import PlanningError
from mission.planning.types import XY

ELLIPSE_FACTOR, ELLIPSE_SLACK_M = 1.5, 300.0  # the local search's bound on a detour
NODE_INSET_M = 1.0  # graph nodes sit just inside the region, never on its edge


class NoRouteError(PlanningError):
    """No path inside the transit region between two points (metres, local projection).

    The planner turns it into the operator's terms (lat/lon, metres from the launch).
    """

    def __init__(self, a: XY, b: XY) -> None:
        self.a, self.b = a, b
        super().__init__(
            f"no route inside the fence from ({a[0]:.0f}, {a[1]:.0f}) to "
            f"({b[0]:.0f}, {b[1]:.0f}) (projected metres)"
        )


class _VisibilityGraph:
    """Nodes plus lazily computed visibility between them; A* over it."""

    def __init__(self, region: shapely.Geometry, nodes: list[XY]) -> None:
        self.region, self.nodes = region, nodes
        self._pts = np.array(nodes) if nodes else np.zeros((0, 2))
        self._visible: dict[int, np.ndarray] = {}
        self._seen_from: dict[XY, np.ndarray] = {}  # e.g. home: the end of many searches

    def search(self, a: XY, b: XY) -> list[XY] | None:
        goal_vis = self.visible_from(b)
        dist = {-1: 0.0}
        prev: dict[int, int] = {}
        heap: list[tuple[float, float, int]] = [(math.dist(a, b), 0.0, -1)]
        done: set[int] = set()
        while heap:
            _, g, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            pu = a if u == -1 else self.nodes[u]
            # With the straight-line heuristic, the first node popped that sees
            # the goal closes the shortest path.
            if u >= 0 and goal_vis[u]:
                return self._unwind(prev, u, a, b)
            vis = self.visible_from(a) if u == -1 else self._node_visibility(u)
            for v in np.flatnonzero(vis):
                v = int(v)
                if v in done:
                    continue
                nd = g + math.dist(pu, self.nodes[v])
                if nd < dist.get(v, math.inf):
                    dist[v] = nd
                    prev[v] = u
                    heapq.heappush(heap, (nd + math.dist(self.nodes[v], b), nd, v))
        return None

    def _unwind(self, prev: dict[int, int], last: int, a: XY, b: XY) -> list[XY]:
        out = [b, self.nodes[last]]
        u = last
        while prev.get(u, -1) != -1:
            u = prev[u]
            out.append(self.nodes[u])
        out.append(a)
        return out[::-1]

    def visible_from(self, p: XY) -> np.ndarray:
        if p in self._seen_from:
            return self._seen_from[p]
        if not self.nodes:
            return np.zeros(0, dtype=bool)
        segs = shapely.linestrings(
            np.stack([np.broadcast_to(p, self._pts.shape), self._pts], axis=1)
        )
        vis = shapely.covers(self.region, segs)
        if len(self._seen_from) < 256:
            self._seen_from[p] = vis
        return vis

    def _node_visibility(self, u: int) -> np.ndarray:
        if u not in self._visible:
            vis = self.visible_from(self.nodes[u])
            vis[u] = False
            self._visible[u] = vis
        return self._visible[u]


class TransitRouter:
    """Shortest legs inside ``region``: straight when clear, else A* over corner nodes.

    The first graph has the shell's reflex corners and a few corners of each
    island's hull; a path that needs an island's inner corners (a target deep
    in a bay) falls back to a graph of every reflex corner.
    """

    def __init__(self, region: shapely.Geometry, simplify_m: float = 0.4) -> None:
        self.region = region
        shapely.prepare(self.region)
        self._simplify_m = simplify_m
        self._coarse = _VisibilityGraph(region, _corner_nodes(region, simplify_m))
        self._fine: _VisibilityGraph | None = None

    @property
    def nodes(self) -> list[XY]:
        return self._coarse.nodes

    def _near_search(self, a: XY, b: XY) -> list[XY] | None:
        """A* over only the corners inside an ellipse around a and b.

        A path no longer than the ellipse's size bound lies wholly inside it, so
        one found within the bound is the true shortest; most detours around an
        island are local, and a small graph costs a fraction of the full one.
        """
        limit = ELLIPSE_FACTOR * math.dist(a, b) + ELLIPSE_SLACK_M
        pts = self._coarse._pts
        if not len(pts):
            return None
        reach = np.hypot(*(pts - a).T) + np.hypot(*(pts - b).T)
        near = [self.nodes[i] for i in np.flatnonzero(reach <= limit)]
        found = _VisibilityGraph(self.region, near).search(a, b)
        if found is None or path_length(found) > limit:
            return None
        return found

    def is_clear(self, a: XY, b: XY) -> bool:
        if a == b:
            return bool(self.region.covers(shapely.Point(a)))
        return bool(self.region.covers(LineString([a, b])))

    def path(self, a: XY, b: XY) -> list[XY]:
        """Shortest polyline from ``a`` to ``b`` inside the region (both ends included)."""
        if self.is_clear(a, b):
            return [a, b]
        found = self._near_search(a, b)
        if found is None:
            found = self._coarse.search(a, b)
        if found is None:
            if self._fine is None:
                self._fine = _VisibilityGraph(
                    self.region, _all_reflex_nodes(self.region, self._simplify_m)
                )
            found = self._fine.search(a, b)
        if found is None:
            raise NoRouteError(a, b)
        return found


def path_length(pts: Sequence[XY]) -> float:
    """Length of a polyline in metres."""
    return sum(math.dist(a, b) for a, b in itertools.pairwise(pts))


def _corner_nodes(region: shapely.Geometry, simplify_m: float) -> list[XY]:
    polys = [region] if isinstance(region, Polygon) else list(getattr(region, "geoms", []))
    nodes: list[XY] = []
    for poly in polys:
        if not isinstance(poly, Polygon) or poly.is_empty:
            continue
        # The shell's reflex corners, just inside it.
        shell = Polygon(poly.exterior)
        inset = shell.buffer(-NODE_INSET_M, join_style="mitre").simplify(simplify_m)
        for part in [inset] if isinstance(inset, Polygon) else getattr(inset, "geoms", []):
            if isinstance(part, Polygon) and not part.is_empty:
                nodes.extend(_ring_reflex(orient(part, 1.0).exterior))
        # Around an island, paths bend only at its convex hull: a few corners of
        # a slightly grown, simplified hull (bigger islands, coarser hulls).
        for ring in poly.interiors:
            hull = Polygon(ring).convex_hull
            tol = min(max(0.1 * math.sqrt(hull.area), simplify_m), 30.0)
            grown = hull.buffer(NODE_INSET_M + tol, join_style="mitre").simplify(tol)
            nodes.extend((float(x), float(y)) for x, y in np.asarray(grown.exterior.coords)[:-1])
    return _inside(region, nodes)


def _all_reflex_nodes(region: shapely.Geometry, simplify_m: float) -> list[XY]:
    inset = region.buffer(-NODE_INSET_M, join_style="mitre").simplify(simplify_m)
    nodes: list[XY] = []
    for poly in [inset] if isinstance(inset, Polygon) else getattr(inset, "geoms", []):
        if isinstance(poly, Polygon) and not poly.is_empty:
            poly = orient(poly, 1.0)  # shell CCW, holes CW: the free space is on the left
            for ring in [poly.exterior, *poly.interiors]:
                nodes.extend(_ring_reflex(ring))
    return _inside(region, nodes)


def _inside(region: shapely.Geometry, nodes: list[XY]) -> list[XY]:
    if not nodes:
        return []
    pts = np.array(nodes)
    keep = shapely.covers(region, shapely.points(pts))
    return [(float(x), float(y)) for x, y in pts[keep]]


def _ring_reflex(ring: shapely.LinearRing) -> list[XY]:
    """Vertices where the ring turns right (free space on its left): paths bend there."""
    c = np.asarray(ring.coords)[:-1]
    if len(c) < 3:
        return []
    prev, nxt = np.roll(c, 1, axis=0), np.roll(c, -1, axis=0)
    cross = (c[:, 0] - prev[:, 0]) * (nxt[:, 1] - c[:, 1]) - (c[:, 1] - prev[:, 1]) * (
        nxt[:, 0] - c[:, 0]
    )
    return [(float(x), float(y)) for x, y in c[cross < 0]]


class DistanceField:
    """Flying distance to one point from anywhere in the region, on a grid.

    Used for the endurance budget, which asks "how far home from here?" for
    every lane point: one Dijkstra over an 8-connected grid answers all of
    them. Grid paths are never shorter than the true shortest path by more
    than the padding added, so the budget stays on the safe side.
    """

    MAX_CELLS = 150_000

    def __init__(self, region: shapely.Geometry, target: XY, min_cell_m: float = 5.0) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import dijkstra

        minx, miny, maxx, maxy = region.bounds
        cell = max(min_cell_m, math.sqrt((maxx - minx) * (maxy - miny) / self.MAX_CELLS))
        nx, ny = int((maxx - minx) / cell) + 2, int((maxy - miny) / cell) + 2
        xs, ys = minx + cell * np.arange(nx), miny + cell * np.arange(ny)
        gx, gy = np.meshgrid(xs, ys)
        inside = shapely.contains_xy(region, gx, gy)
        idx = -np.ones(inside.shape, dtype=np.int64)
        idx[inside] = np.arange(int(inside.sum()))
        rows, cols, w = [], [], []
        for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
            a = idx[0 : ny - dy, max(0, -dx) : nx - max(0, dx)]
            b = idx[dy:ny, max(0, dx) : nx - max(0, -dx)]
            ok = (a >= 0) & (b >= 0)
            rows.append(a[ok])
            cols.append(b[ok])
            w.append(np.full(int(ok.sum()), cell * math.hypot(dx, dy)))
        r, c, wt = np.concatenate(rows), np.concatenate(cols), np.concatenate(w)
        n = int(inside.sum())
        graph = coo_matrix((np.r_[wt, wt], (np.r_[r, c], np.r_[c, r])), shape=(n, n)).tocsr()
        self._cell, self._minx, self._miny, self._idx = cell, minx, miny, idx
        self._xs, self._ys = xs, ys
        start = self._nearest_cell(target)
        if start is None:
            self._dist, self._pred = np.full(n, np.inf), np.full(n, -9999)
        else:
            self._dist, self._pred = dijkstra(graph, indices=start, return_predecessors=True)
        self._centres = np.column_stack([gx[inside], gy[inside]])
        self.target = target

    def _nearest_cell(self, p: XY) -> int | None:
        i = round((p[1] - self._miny) / self._cell)
        j = round((p[0] - self._minx) / self._cell)
        best: tuple[float, int] | None = None
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                ii, jj = i + di, j + dj
                if 0 <= ii < self._idx.shape[0] and 0 <= jj < self._idx.shape[1]:
                    k = int(self._idx[ii, jj])
                    if k >= 0:
                        d = math.hypot(self._xs[jj] - p[0], self._ys[ii] - p[1])
                        if best is None or d < best[0]:
                            best = (d, k)
        return None if best is None else best[1]

    def path(self, p: XY, is_clear: Callable[[XY, XY], bool]) -> list[XY] | None:
        """A short path from ``p`` to the target: the grid path, string-pulled.

        From each corner, jump to the furthest grid point still in plain view
        (binary search), so the result bends only where it must.
        """
        k = self._nearest_cell(p)
        if k is None or math.isinf(self._dist[k]):
            return None
        chain = [k]
        while self._pred[chain[-1]] >= 0:
            chain.append(int(self._pred[chain[-1]]))
        pts: list[XY] = [p] + [tuple(self._centres[c]) for c in chain] + [self.target]
        out = [p]
        i = 0
        while i < len(pts) - 1:
            lo, hi = i + 1, len(pts) - 1
            if not is_clear(pts[i], pts[lo]):
                return None  # the grid cut a corner: let the exact router answer
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if is_clear(pts[i], pts[mid]):
                    lo = mid
                else:
                    hi = mid - 1
            out.append(pts[lo])
            i = lo
        return [(float(x), float(y)) for x, y in out]

    def distances(self, pts: np.ndarray) -> np.ndarray:
        """``distance`` for many points at once ((n, 2) array in, (n,) out)."""
        pts = np.asarray(pts, dtype=float).reshape(-1, 2)
        i0 = np.round((pts[:, 1] - self._miny) / self._cell).astype(np.int64)
        j0 = np.round((pts[:, 0] - self._minx) / self._cell).astype(np.int64)
        best_d = np.full(len(pts), np.inf)
        best_k = np.full(len(pts), -1, dtype=np.int64)
        ny, nx = self._idx.shape
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                ii, jj = i0 + di, j0 + dj
                ok = (ii >= 0) & (ii < ny) & (jj >= 0) & (jj < nx)
                k = np.full(len(pts), -1, dtype=np.int64)
                k[ok] = self._idx[ii[ok], jj[ok]]
                ok &= k >= 0
                d = np.full(len(pts), np.inf)
                d[ok] = np.hypot(self._xs[jj[ok]] - pts[ok, 0], self._ys[ii[ok]] - pts[ok, 1])
                better = d < best_d
                best_d[better], best_k[better] = d[better], k[better]
        out = np.full(len(pts), np.inf)
        found = best_k >= 0
        out[found] = self._dist[best_k[found]] + 2.0 * self._cell
        return out

    def distance(self, p: XY) -> float:
        """Conservative flying distance from ``p`` to the target (inf if not on the grid)."""
        k = self._nearest_cell(p)
        if k is None:
            return math.inf
        return float(self._dist[k]) + 2.0 * self._cell
