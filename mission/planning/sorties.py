"""Stage 5: route -> sorties that fit the battery, each returning home inside the fence.

The time model: spool up and climb to altitude, fly every leg at the survey
speed, lose ``turn_s`` at the start of every lane after the first and the time
to slow down and speed up again at every waypoint (half of speed / WPNAV_ACCEL,
an average corner), fly home along a routed path, then land as ArduCopter's RTL
does: loiter over home, descend, slow down for the last metres, detect the
landing and disarm (``landing_s``). A sortie stops
The route (lanes in flying order) is cut into sorties optimally: fewest
sorties, then least flying time ("split" of route-first cluster-second: a
shortest path over the cut points). Lanes longer than a small share of the
range are cut into pieces first, so a sortie can end mid-lane and the next
resume there. Each sortie starts and ends at whichever launch point serves
it best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely

from geofences.model import VehicleSettings
from mission.errors import PlanningError
from mission.planning.transit import DistanceField, TransitRouter, path_length
from mission.planning.types import XY, Leg


@dataclass(frozen=True)
class SortiePath:
    legs: tuple[Leg, ...]  # from the launch to the last survey point (transits and lanes)
    home_legs: tuple[Leg, ...]  # the routed way back to the launch
    est_flight_s: float
    turns: int
    launch: int = 0  # index into the key water's launch points

    @property
    def length_m(self) -> float:
        return sum(leg_length(leg) for leg in (*self.legs, *self.home_legs))


def leg_length(leg: Leg) -> float:
    return path_length(leg.points)


WPNAV_ACCEL_M_S2 = 2.5  # ArduCopter's default horizontal acceleration
# ArduCopter 4.7 defaults around take-off and RTL (seen on the SITL in ../shared/sitl;
# leaving them out planned the pond 20 s short of the 239 s it flew):
SPOOL_UP_S = 3.0  # motors spool up before the take-off climb
RTL_LOIT_S = 5.0  # RTL_LOIT_TIME: hover over home before descending
LAND_ALT_LOW_M = 10.0  # below it the descent slows to LAND_SPEED
LAND_SPEED_M_S = 0.5
LAND_DETECT_S = 2.0  # on the ground until the land detector disarms
ROUTED_HOME_CORNERS = 8
PIECES_PER_RANGE = 24  # lanes are cut into pieces of at most range / this
SPLIT_RETRIES = 6


class _Budget:
    """Time to get home and land from any point: a straight hop when clear, else the grid."""

    def __init__(self, router: TransitRouter, home: XY, speed: float, descend_s: float) -> None:
        self.router, self.home, self.speed, self.descend_s = router, home, speed, descend_s
        self.corner_s = 0.5 * speed / WPNAV_ACCEL_M_S2
        self._field: DistanceField | None = None

    @property
    def field(self) -> DistanceField:
        if self._field is None:
            self._field = DistanceField(self.router.region, self.home)
        return self._field

    def home_path(self, p: XY) -> list[XY]:
        if self.router.is_clear(p, self.home):
            return [p, self.home]
        return self.field.path(p, self.router.is_clear) or self.router.path(p, self.home)

    def from_home(self, p: XY) -> list[XY]:
        return self.home_path(p)[::-1]

    def home_times(self, pts: np.ndarray) -> np.ndarray:
        """Flying time (no landing) between the launch and each point: straight where clear,
        else the grid distance with a few corners; inf where it cannot get there."""
        if not len(pts):
            return np.zeros(0)
        home = np.broadcast_to(np.asarray(self.home, dtype=float), pts.shape)
        lines = shapely.linestrings(np.stack([pts, home], axis=1))
        same = np.hypot(*(pts - home).T) < 1e-6
        clear = same | shapely.covers(self.router.region, lines)
        out = np.hypot(*(pts - home).T) / self.speed + 2 * self.corner_s
        if not clear.all():
            far = self.field.distances(pts[~clear])
            out[~clear] = far / self.speed + ROUTED_HOME_CORNERS * self.corner_s
        return out


def landing_s(altitude_m: float, vehicle: VehicleSettings) -> float:
    """From arriving over home at ``altitude_m`` to disarmed on the ground (RTL)."""
    fast_m = max(0.0, altitude_m - LAND_ALT_LOW_M)
    slow_m = min(altitude_m, LAND_ALT_LOW_M)
    return RTL_LOIT_S + fast_m / vehicle.descent_m_s + slow_m / LAND_SPEED_M_S + LAND_DETECT_S


def climb_s(altitude_m: float, vehicle: VehicleSettings) -> float:
    """From arming to the first waypoint's altitude over the launch."""
    return SPOOL_UP_S + altitude_m / vehicle.climb_m_s


@dataclass(frozen=True)
class Piece:
    """A stretch of one lane: the unit the route is cut into sorties at."""

    points: tuple[XY, ...]
    lane: int  # the lane (index into the route's lanes) it is part of


def cut_lanes(lanes: list[Leg], max_m: float) -> list[Piece]:
    """Each lane as consecutive pieces no longer than ``max_m`` (cut at interpolated points)."""
    out: list[Piece] = []
    for li, leg in enumerate(lanes):
        cur: list[XY] = [leg.points[0]]
        run = 0.0
        for a, b in zip(leg.points, leg.points[1:], strict=False):
            seg = math.dist(a, b)
            start = 0.0
            while run + (seg - start) > max_m:
                t = start + (max_m - run)
                p = (a[0] + (b[0] - a[0]) * t / seg, a[1] + (b[1] - a[1]) * t / seg)
                cur.append(p)
                out.append(Piece(tuple(cur), li))
                cur, run, start = [p], 0.0, t
            run += seg - start
            cur.append(b)
        if len(cur) > 1 and path_length(cur) > 0.5:
            out.append(Piece(tuple(cur), li))
        elif out and out[-1].lane == li:  # a sliver at the end: add it to the last piece
            out[-1] = Piece((*out[-1].points, *cur[1:]), li)
    return out


@dataclass
class SplitResult:
    sorties: list[SortiePath]
    unreached: list[Piece] = field(default_factory=list)  # no launch can fly these and return
    no_route: list[Piece] = field(default_factory=list)  # no way inside the fence gets there


def split_sorties(
    route: list[Leg],
    homes: tuple[XY, ...],
    router: TransitRouter,
    speed_m_s: float,
    altitude_m: float,
    vehicle: VehicleSettings,
) -> SplitResult:
    """Cut the route's lanes (in order) into the fewest sorties, then the shortest flight.

    Pieces no launch can fly to and get back from within the usable endurance are
    left out and returned as ``unreached``.
    """
    usable = vehicle.usable_s
    budgets = [_Budget(router, h, speed_m_s, landing_s(altitude_m, vehicle)) for h in homes]
    corner = budgets[0].corner_s
    lanes = [leg for leg in route if leg.kind == "lane"]
    pieces = cut_lanes(lanes, usable * speed_m_s / PIECES_PER_RANGE)
    if not pieces:
        return SplitResult([], [])
    starts = np.array([p.points[0] for p in pieces], dtype=float)
    ends = np.array([p.points[-1] for p in pieces], dtype=float)
    out_s = np.stack([b.home_times(starts) for b in budgets])  # (launches, pieces)
    back_s = np.stack([b.home_times(ends) + b.descend_s for b in budgets])
    fly_s = np.array(
        [path_length(p.points) / speed_m_s + corner * (len(p.points) - 1) for p in pieces]
    )
    up_s = climb_s(altitude_m, vehicle)
    alone = up_s + (out_s + back_s).min(axis=0) + fly_s
    keep = alone <= usable
    unreached = [p for p, k, a in zip(pieces, keep, alone, strict=True) if not k and a < np.inf]
    no_route = [p for p, a in zip(pieces, alone, strict=True) if a == np.inf]
    pieces = [p for p, k in zip(pieces, keep, strict=True) if k]
    if not pieces:
        return SplitResult([], unreached, no_route)
    out_s, back_s, fly_s = out_s[:, keep], back_s[:, keep], fly_s[keep]
    links = _links(pieces, router, speed_m_s, corner, vehicle.turn_s)
    limit = usable
    for _ in range(SPLIT_RETRIES):
        cuts = _best_cuts(out_s, back_s, fly_s, links[1], up_s, limit)
        sorties = [
            _build(pieces[i:j], links[0][i + 1 : j], budgets[h], h, speed_m_s, up_s, vehicle)
            for i, j, h in cuts
        ]
        over = max(s.est_flight_s for s in sorties) - usable
        if over <= 1e-6:
            return SplitResult(sorties, unreached, no_route)
        limit -= over + 1.0  # the estimate was short (a routed way): plan with less
    raise PlanningError(
        "internal error: could not cut the route into sorties that fit the endurance"
    )


def _links(
    pieces: list[Piece], router: TransitRouter, speed: float, corner: float, turn_s: float
) -> tuple[list[list[XY] | None], np.ndarray]:
    """The way from each piece to the next (None: the same lane goes on) and its time."""
    n = len(pieces)
    paths: list[list[XY] | None] = [None] * n
    times = np.zeros(n)
    new = [k for k in range(1, n) if pieces[k].lane != pieces[k - 1].lane]
    if new:
        a = np.array([pieces[k - 1].points[-1] for k in new], dtype=float)
        b = np.array([pieces[k].points[0] for k in new], dtype=float)
        clear = shapely.covers(router.region, shapely.linestrings(np.stack([a, b], axis=1)))
        for k, ok in zip(new, clear, strict=True):
            pa, pb = pieces[k - 1].points[-1], pieces[k].points[0]
            path = [pa, pb] if ok or math.dist(pa, pb) < 1e-6 else router.path(pa, pb)
            paths[k] = path
            times[k] = path_length(path) / speed + corner * len(path) + turn_s
    return paths, times


BIG_S = 1e9  # one more sortie outweighs any flying time


def _best_cuts(
    out_s: np.ndarray,
    back_s: np.ndarray,
    fly_s: np.ndarray,
    link_s: np.ndarray,
    up_s: float,
    usable: float,
) -> list[tuple[int, int, int]]:
    """Sorties (first piece, end piece exclusive, launch) with the fewest sorties, then the
    least flying time: a shortest path over the cut points between pieces."""
    n = len(fly_s)
    total = np.zeros(n + 1)
    total[1:] = np.cumsum(link_s + fly_s)
    enter = total[:-1] + link_s  # time into the route when piece i starts (its link excluded)
    head = out_s - enter[None, :]  # (launches, n): a sortie starting at piece i
    tail = back_s + total[None, 1:]  # a sortie ending after piece j - 1
    cost = np.full(n + 1, np.inf)
    cost[0] = 0.0
    choice = np.zeros((n + 1, 2), dtype=np.int64)
    lo = 0
    for j in range(1, n + 1):
        while total[j] - enter[lo] + up_s > usable and lo < j - 1:
            lo += 1
        t = up_s + (head[:, lo:j] + tail[:, j - 1 : j]).astype(float)  # (launches, j - lo)
        h = np.argmin(t, axis=0)
        tt = t[h, np.arange(j - lo)]
        score = cost[lo:j] + BIG_S + tt
        score[tt > usable] = np.inf
        k = int(np.argmin(score))
        if not math.isfinite(score[k]):
            # Every piece fits a sortie of its own (checked before): only rounding gets here.
            k = j - 1 - lo
            score[k] = cost[j - 1] + BIG_S + tt[k]
        cost[j] = score[k]
        choice[j] = (lo + k, int(h[k]))
    cuts = []
    j = n
    while j > 0:
        i, h = int(choice[j][0]), int(choice[j][1])
        cuts.append((i, j, h))
        j = i
    return cuts[::-1]


def _build(
    pieces: list[Piece],
    links: list[list[XY] | None],
    budget: _Budget,
    launch: int,
    speed: float,
    up_s: float,
    vehicle: VehicleSettings,
) -> SortiePath:
    """One sortie over consecutive pieces, with its exact time estimate."""
    corner = budget.corner_s
    first = pieces[0].points[0]
    approach = budget.from_home(first)
    t = up_s + path_length(approach) / speed + corner * len(approach)
    legs: list[Leg] = [Leg(tuple(approach), "transit")] if len(approach) > 1 else []
    lane_pts: list[XY] = list(pieces[0].points)
    turns = 0

    def close_lane() -> float:
        legs.append(Leg(tuple(lane_pts), "lane"))
        return path_length(lane_pts) / speed + corner * (len(lane_pts) - 1)

    for piece, link in zip(pieces[1:], links, strict=True):
        if link is None:  # the same lane goes on: one leg, no waypoint at the cut
            lane_pts.extend(piece.points[1:])
            continue
        t += close_lane()
        if len(link) > 1 and path_length(link) > 0.01:
            legs.append(Leg(tuple(link), "transit"))
        t += path_length(link) / speed + corner * len(link) + vehicle.turn_s
        turns += 1
        lane_pts = list(piece.points)
    t += close_lane()
    back = budget.home_path(lane_pts[-1])
    home_legs = (Leg(tuple(back), "transit"),) if len(back) > 1 else ()
    total = t + path_length(back) / speed + corner * len(back) + budget.descend_s
    return SortiePath(tuple(legs), home_legs, total, turns, launch)
