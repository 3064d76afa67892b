"""What a flight did, against what was planned. Pure: a track in, figures out.

``FlightTrack`` collects positions and events while ``flight.follow`` runs;
``flight_report`` compares them with the mission and the fence: waypoints
reached, the largest horizontal distance from the planned path, fence
breaches (reported by the vehicle, and track points outside the fence),
battery used and how far from launch the vehicle landed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import shapely
from shapely.geometry import LineString, Point, Polygon

from geofences.projection import LocalProjection
from mission.items import Cmd, MissionItem

_PATH_CMDS = frozenset({Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF, Cmd.NAV_LAND})
AIRBORNE_M = 0.5  # above this relative altitude the vehicle counts as flying


@dataclass
class FlightTrack:
    positions: list[tuple[float, float, float]] = field(default_factory=list)  # lat, lon, alt_rel_m
    reached: set[int] = field(default_factory=set)
    fence_breaches: int = 0
    battery_start_pct: float | None = None
    battery_end_pct: float | None = None
    consumed_start_mah: float | None = None
    consumed_end_mah: float | None = None
    final_position: tuple[float, float] | None = None
    # The vehicle's own clock (time_boot_ms, simulated time on a SITL) at the first and
    # the last position in the air: the flown time, whatever the speed-up or the load
    # on this side (the position's own timestamp, not when we got to read it).
    first_boot_s: float | None = None
    last_boot_s: float | None = None

    def add_position(self, tel: Any, msg: Any = None) -> None:
        """Record the latest position; ``msg``: the GLOBAL_POSITION_INT it came from."""
        if tel.lat is None or tel.lon is None:
            return
        # A battery only drains in flight: the fullest reading is the start, so a reading
        # left from before a battery swap does not count.
        if tel.battery_pct is not None:
            self.battery_start_pct = max(self.battery_start_pct or 0.0, tel.battery_pct)
        if tel.battery_consumed_mah is not None:
            self.consumed_start_mah = min(
                self.consumed_start_mah if self.consumed_start_mah is not None else math.inf,
                tel.battery_consumed_mah,
            )
        self.positions.append((tel.lat, tel.lon, tel.alt_rel_m or 0.0))
        if msg is not None and msg.relative_alt / 1000.0 >= AIRBORNE_M:
            boot_s = msg.time_boot_ms / 1000.0
            if self.first_boot_s is None:
                self.first_boot_s = boot_s
            self.last_boot_s = boot_s

    @property
    def flown_s(self) -> float | None:
        """Time in the air (above AIRBORNE_M) by the vehicle's clock."""
        if self.first_boot_s is None or self.last_boot_s is None:
            return None
        return self.last_boot_s - self.first_boot_s

    def finish(self, tel: Any) -> None:
        self.battery_end_pct = tel.battery_pct
        self.consumed_end_mah = tel.battery_consumed_mah
        if tel.lat is not None and tel.lon is not None:
            self.final_position = (tel.lat, tel.lon)


@dataclass(frozen=True)
class FlightReport:
    completed: bool
    reason: str
    waypoints_total: int  # navigation items after home (takeoff, waypoints, land/RTL)
    waypoints_reached: int
    max_off_path_m: float | None
    fence_breaches: int  # breaches the vehicle reported
    track_outside_fence: int  # track points outside the inclusion fence / inside an exclusion
    battery_used_pct: float | None
    battery_used_mah: float | None
    landing_from_launch_m: float | None
    track_points: int
    wall_s: float
    planned_s: float | None = None  # the planner's estimate of the sortie's flight time
    flown_s: float | None = None  # in the air, by the vehicle's clock
    battery_start_pct: float | None = None
    battery_planned_pct: float | None = None  # the estimate's share of a full pack

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def planned_path(
    items: Sequence[MissionItem], home: tuple[float, float]
) -> list[tuple[float, float]]:
    """Lon/lat vertices of the planned path: home, each positioned nav item, home again (RTL)."""
    path = [(home[1], home[0])]
    for item in items[1:]:
        if item.command in _PATH_CMDS and (item.x or item.y):
            path.append((item.lon, item.lat))
        elif item.command == Cmd.NAV_RETURN_TO_LAUNCH:
            path.append((home[1], home[0]))
    if path[-1] != (home[1], home[0]):
        path.append((home[1], home[0]))
    return path


def fence_polygons(fence: Sequence[MissionItem]) -> tuple[list[Polygon], list[Polygon]]:
    """Inclusion and exclusion polygons (lon/lat) from fence items (param1 = vertex count)."""
    inc: list[Polygon] = []
    exc: list[Polygon] = []
    i = 0
    while i < len(fence):
        item = fence[i]
        n = int(item.param1)
        if (
            item.command
            in (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
            and n >= 3
        ):
            ring = [(v.lon, v.lat) for v in fence[i : i + n]]
            (inc if item.command == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION else exc).append(
                Polygon(ring)
            )
            i += n
        else:
            i += 1
    return inc, exc


def flight_report(
    track: FlightTrack,
    items: Sequence[MissionItem],
    home: tuple[float, float],
    fence: Sequence[MissionItem] = (),
    *,
    completed: bool,
    reason: str,
    wall_s: float,
    planned_s: float | None = None,
    planned_battery_pct: float | None = None,
) -> FlightReport:
    """Compare a flown ``track`` with the mission ``items`` (item 0 = home) and the fence."""
    nav = [
        seq
        for seq, it in enumerate(items)
        if seq > 0 and (it.command in _PATH_CMDS or it.command == Cmd.NAV_RETURN_TO_LAUNCH)
    ]
    proj = LocalProjection.around(home[0], home[1])
    off_path = None
    outside = 0
    if track.positions:
        lons = [p[1] for p in track.positions]
        lats = [p[0] for p in track.positions]
        pts = shapely.points(lons, lats)
        path = LineString(planned_path(items, home))
        pts_m = proj.geom_to_m(shapely.multipoints(pts))
        off_path = float(shapely.distance(proj.geom_to_m(path), shapely.get_parts(pts_m)).max())
        inc, exc = fence_polygons(fence)
        if inc or exc:
            inside_inc = (
                shapely.covers(shapely.union_all(inc), pts)
                if inc
                else [True] * len(track.positions)
            )
            inside_exc = (
                shapely.intersects(shapely.union_all(exc), pts)
                if exc
                else [False] * len(track.positions)
            )
            outside = int(sum((not a) or b for a, b in zip(inside_inc, inside_exc, strict=True)))
    landing = None
    if track.final_position is not None:
        landing = float(
            Point(proj.to_xy(track.final_position[1], track.final_position[0])).distance(
                Point(proj.to_xy(home[1], home[0]))
            )
        )
    used_pct = None
    if track.battery_start_pct is not None and track.battery_end_pct is not None:
        used_pct = track.battery_start_pct - track.battery_end_pct
    used_mah = None
    if track.consumed_start_mah is not None and track.consumed_end_mah is not None:
        used_mah = track.consumed_end_mah - track.consumed_start_mah
    return FlightReport(
        completed=completed,
        reason=reason,
        waypoints_total=len(nav),
        waypoints_reached=len(track.reached & set(nav)),
        max_off_path_m=off_path,
        fence_breaches=track.fence_breaches,
        track_outside_fence=outside,
        battery_used_pct=used_pct,
        battery_used_mah=used_mah,
        landing_from_launch_m=landing,
        track_points=len(track.positions),
        wall_s=wall_s,
        planned_s=planned_s,
        flown_s=track.flown_s,
        battery_start_pct=track.battery_start_pct,
        battery_planned_pct=planned_battery_pct,
    )
