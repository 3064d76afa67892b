"""Stage 5: route -> sorties that fit the battery, each returning home inside the fence.

The time model: climb to altitude, fly every leg at the survey speed, lose
``turn_s`` at the start of every lane after the first and the time to slow
down and speed up again at every waypoint (half of speed / WPNAV_ACCEL, an
average corner), fly home along a routed path, descend. A sortie stops
(mid-lane if need be) at the last point from which it can still get home
within the usable endurance; the next sortie resumes there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from geofences.model import VehicleSettings
from mission.errors import PlanningError
from mission.planning.transit import DistanceField, TransitRouter, path_length
from mission.planning.types import XY, Leg


@dataclass(frozen=True)
class SortiePath:
    legs: tuple[Leg, ...]  # from home to the last survey point (transits and lanes)
    home_legs: tuple[Leg, ...]  # the routed way back home
    est_flight_s: float
    turns: int

    @property
    def length_m(self) -> float:
        return sum(leg_length(leg) for leg in (*self.legs, *self.home_legs))


def leg_length(leg: Leg) -> float:
    return path_length(leg.points)


WPNAV_ACCEL_M_S2 = 2.5  # ArduCopter's default horizontal acceleration
ROUTED_HOME_CORNERS = 8


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

    def home_s(self, p: XY) -> float:
        if self.router.is_clear(p, self.home):
            return math.dist(p, self.home) / self.speed + 2 * self.corner_s + self.descend_s
        dist = self.field.distance(p)
        if math.isinf(dist):
            path = self.home_path(p)
            return path_length(path) / self.speed + len(path) * self.corner_s + self.descend_s
        # A routed way home bends a few times: budget for it.
        return dist / self.speed + ROUTED_HOME_CORNERS * self.corner_s + self.descend_s


def split_sorties(
    route: list[Leg],
    home: XY,
    router: TransitRouter,
    speed_m_s: float,
    altitude_m: float,
    vehicle: VehicleSettings,
) -> list[SortiePath]:
    usable = vehicle.usable_s
    climb_s = altitude_m / vehicle.climb_m_s
    budget = _Budget(router, home, speed_m_s, altitude_m / vehicle.descent_m_s)
    # Flatten lanes into (point, kind-of-leg-arriving, new-lane?) steps; transits are
    # re-routed from wherever a sortie starts, so only lane geometry is kept.
    lanes = [leg for leg in route if leg.kind == "lane"]
    sorties: list[SortiePath] = []
    lane_i, point_i = 0, 0  # next lane and the point within it to fly to
    resume: XY | None = None  # mid-lane restart point
    while lane_i < len(lanes):
        legs: list[Leg] = []
        t = climb_s
        pos = home
        turns = 0
        flew_lane = False
        while lane_i < len(lanes):
            lane = lanes[lane_i]
            start = resume if resume is not None else lane.points[point_i]
            # Reach the lane (or the resume point) through the transit region.
            if math.dist(pos, start) <= 0.01:
                approach = [pos]
            elif pos == home:
                approach = budget.from_home(start)
            else:
                approach = router.path(pos, start)
            t_approach = (
                path_length(approach) / speed_m_s
                + budget.corner_s * len(approach)
                + (vehicle.turn_s if flew_lane else 0)
            )
            if t + t_approach + budget.home_s(start) > usable:
                break
            # Fly as much of the lane as fits.
            pts: list[XY] = [start]
            t_lane = t + t_approach
            finished = True
            k = point_i + 1
            while k < len(lane.points):
                nxt = lane.points[k]
                seg_s = math.dist(pts[-1], nxt) / speed_m_s + budget.corner_s
                if t_lane + seg_s + budget.home_s(nxt) <= usable:
                    pts.append(nxt)
                    t_lane += seg_s
                    k += 1
                    continue
                cut = _furthest_reachable(pts[-1], nxt, t_lane, usable, speed_m_s, budget)
                if cut is not None:
                    t_lane += math.dist(pts[-1], cut) / speed_m_s + budget.corner_s
                    pts.append(cut)
                finished = False
                break
            if len(pts) < 2 and not finished:
                break
            if len(approach) > 1:
                legs.append(Leg(tuple(approach), "transit"))
            if flew_lane:
                turns += 1
            legs.append(Leg(tuple(pts), "lane"))
            flew_lane = True
            t = t_lane
            pos = pts[-1]
            if finished:
                lane_i, point_i, resume = lane_i + 1, 0, None
            else:
                point_i, resume = k - 1, pts[-1]
                break
        if not flew_lane:
            raise PlanningError(
                f"the vehicle's usable endurance ({usable / 60:.1f} min) cannot reach the next "
                f"survey lane and return at {speed_m_s:g} m/s (patrol.speed_m_s); raise "
                "vehicle.endurance_min or move the launch closer"
            )
        back = budget.home_path(pos)
        home_legs = (Leg(tuple(back), "transit"),) if len(back) > 1 else ()
        total = t + path_length(back) / speed_m_s + budget.corner_s * len(back) + budget.descend_s
        sorties.append(SortiePath(tuple(legs), home_legs, total, turns))
    return sorties


def _furthest_reachable(
    a: XY, b: XY, t0: float, usable: float, speed: float, budget: _Budget
) -> XY | None:
    """The point on a->b furthest from ``a`` from which home is still within budget."""
    lo, hi = 0.0, 1.0
    best: XY | None = None
    for _ in range(20):
        mid = (lo + hi) / 2
        p = (a[0] + (b[0] - a[0]) * mid, a[1] + (b[1] - a[1]) * mid)
        if t0 + math.dist(a, p) / speed + budget.corner_s + budget.home_s(p) <= usable:
            lo, best = mid, p
        else:
            hi = mid
    if best is None or math.dist(a, best) < 1.0:
        return None
    return best
