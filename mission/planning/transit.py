"""Shortest legs inside the transit region (a polygon with holes), by visibility graph.

Most legs are straight; only those that would leave the region are routed.
A shortest path bends only at reflex corners of the free space, so those are
the graph's nodes (inset further than the simplification tolerance, so edges
between neighbours never clip a corner); visibility is tested lazily, all
candidate edges from a node in one vectorised shapely call.
"""

from __future__ import annotations

import heapq
import math

import numpy as np
import shapely
from shapely.geometry import LineString, Polygon
from shapely.geometry.polygon import orient

from mission.errors import PlanningError
from mission.planning.types import XY

NODE_INSET_M = 1.0  # graph nodes sit just inside the region, never on its edge


class TransitRouter:
    def __init__(self, region: shapely.Geometry, simplify_m: float = 0.4) -> None:
        self.region = region
        shapely.prepare(self.region)
        self.nodes = _reflex_nodes(region, simplify_m)
        self._visible: dict[int, np.ndarray] = {}

    def is_clear(self, a: XY, b: XY) -> bool:
        if a == b:
            return bool(self.region.covers(shapely.Point(a)))
        return bool(self.region.covers(LineString([a, b])))

    def path(self, a: XY, b: XY) -> list[XY]:
        """Shortest polyline from ``a`` to ``b`` inside the region (both ends included)."""
        if self.is_clear(a, b):
            return [a, b]
        goal_vis = self._visible_from(b)
        dist = {-1: 0.0}
        prev: dict[int, int] = {}
        heap: list[tuple[float, float, int]] = [(_d(a, b), 0.0, -1)]
        done: set[int] = set()
        while heap:
            _, g, u = heapq.heappop(heap)
            if u in done:
                continue
            done.add(u)
            pu = a if u == -1 else self.nodes[u]
            if u >= 0 and goal_vis[u]:
                return self._unwind(prev, u, a, b)
            vis = self._visible_from(a) if u == -1 else self._node_visibility(u)
            for v in np.flatnonzero(vis):
                v = int(v)
                if v in done:
                    continue
                nd = g + _d(pu, self.nodes[v])
                if nd < dist.get(v, math.inf):
                    dist[v] = nd
                    prev[v] = u
                    heapq.heappush(heap, (nd + _d(self.nodes[v], b), nd, v))
        raise PlanningError(
            f"no route inside the fence from ({a[0]:.0f}, {a[1]:.0f}) to ({b[0]:.0f}, {b[1]:.0f}) "
            "(metres); the water may be split by a no-fly zone"
        )

    def _unwind(self, prev: dict[int, int], last: int, a: XY, b: XY) -> list[XY]:
        out = [b, self.nodes[last]]
        u = last
        while prev.get(u, -1) != -1:
            u = prev[u]
            out.append(self.nodes[u])
        out.append(a)
        return out[::-1]

    def _visible_from(self, p: XY) -> np.ndarray:
        if not self.nodes:
            return np.zeros(0, dtype=bool)
        pts = np.array(self.nodes)
        segs = shapely.linestrings(np.stack([np.broadcast_to(p, pts.shape), pts], axis=1))
        return shapely.covers(self.region, segs)

    def _node_visibility(self, u: int) -> np.ndarray:
        if u not in self._visible:
            vis = self._visible_from(self.nodes[u])
            vis[u] = False
            self._visible[u] = vis
        return self._visible[u]


def _d(p: XY, q: XY) -> float:
    return math.hypot(q[0] - p[0], q[1] - p[1])


def _reflex_nodes(region: shapely.Geometry, simplify_m: float) -> list[XY]:
    inset = region.buffer(-NODE_INSET_M, join_style="mitre").simplify(simplify_m)
    polys = [inset] if isinstance(inset, Polygon) else list(getattr(inset, "geoms", []))
    nodes: list[XY] = []
    for poly in polys:
        if not isinstance(poly, Polygon) or poly.is_empty:
            continue
        poly = orient(poly, 1.0)  # shell CCW, holes CW: the free space is on the left
        for ring in [poly.exterior, *poly.interiors]:
            c = np.asarray(ring.coords)[:-1]
            if len(c) < 3:
                continue
            prev, nxt = np.roll(c, 1, axis=0), np.roll(c, -1, axis=0)
            cross = (c[:, 0] - prev[:, 0]) * (nxt[:, 1] - c[:, 1]) - (c[:, 1] - prev[:, 1]) * (
                nxt[:, 0] - c[:, 0]
            )
            for x, y in c[cross < 0]:
                if region.covers(shapely.Point(x, y)):
                    nodes.append((float(x), float(y)))
    return nodes
