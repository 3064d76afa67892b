"""Stage 6: sorties and fence (metres) -> MAVLink mission, fence and rally items (lon/lat)."""

from __future__ import annotations

import math

from shapely.geometry import Polygon

from geofences.projection import LocalProjection
from mission.items import Cmd, Frame, MissionItem, MissionType, home_item
from mission.planning.sorties import SortiePath
from mission.planning.types import XY, Area, Leg

MAV_MOUNT_MODE_MAVLINK_TARGETING = 2
FENCE_ALT_HEADROOM_M = 20.0
LEGAL_CEILING_M = 120.0
FENCE_RADIUS_MAX_M = 10000.0  # ArduPilot's FENCE_RADIUS upper bound


def _wp(proj: LocalProjection, xy: XY, alt_m: float) -> MissionItem:
    lon, lat = proj.to_lonlat(*xy)
    return MissionItem.at(Cmd.NAV_WAYPOINT, lat, lon, alt_m, frame=Frame.GLOBAL_RELATIVE_ALT)


def sortie_items(
    sortie: SortiePath,
    proj: LocalProjection,
    home_lonlat_alt: tuple[float, float, float],
    altitude_m: float,
    speed_m_s: float,
    trigger_distance_m: float | None,
) -> tuple[MissionItem, ...]:
    """Item 0 home, takeoff, speed, nadir gimbal, waypoints (camera triggers on lanes), RTL."""
    lon0, lat0, alt0 = home_lonlat_alt
    items = [
        home_item(lat0, lon0, alt0),
        MissionItem.at(Cmd.NAV_TAKEOFF, lat0, lon0, altitude_m, frame=Frame.GLOBAL_RELATIVE_ALT),
        MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, param1=1, param2=speed_m_s, param3=-1),
        MissionItem(
            Cmd.DO_MOUNT_CONTROL, Frame.MISSION, param1=-90.0, z=MAV_MOUNT_MODE_MAVLINK_TARGETING
        ),
    ]
    last: XY | None = None
    # The way home is flown to its last corner; RTL flies the last hop.
    home_legs = [Leg(leg.points[:-1], leg.kind) for leg in sortie.home_legs]
    for leg in (*sortie.legs, *home_legs):
        pts = leg.points
        for k, xy in enumerate(pts):
            if last is None or math.dist(xy, last) >= 0.5:
                items.append(_wp(proj, xy, altitude_m))
                last = xy
            if trigger_distance_m and leg.kind == "lane" and k == 0:
                items.append(
                    MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=trigger_distance_m)
                )
        if trigger_distance_m and leg.kind == "lane":
            items.append(MissionItem(Cmd.DO_SET_CAM_TRIGG_DIST, Frame.MISSION, param1=0.0))
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION))
    return tuple(items)


def _polygon_items(poly: Polygon, cmd: Cmd, proj: LocalProjection) -> list[MissionItem]:
    coords = list(poly.exterior.coords)[:-1]
    out = []
    for x, y in coords:
        lon, lat = proj.to_lonlat(x, y)
        out.append(
            MissionItem.at(
                cmd,
                lat,
                lon,
                0.0,
                frame=Frame.GLOBAL,
                param1=len(coords),
                mission_type=MissionType.FENCE,
            )
        )
    return out


def fence_items(area: Area, proj: LocalProjection) -> tuple[MissionItem, ...]:
    items = _polygon_items(area.fence_inclusion, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, proj)
    for zone in area.fence_exclusions:
        items += _polygon_items(zone, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION, proj)
    return tuple(items)


def rally_items(
    points_xy: list[XY], proj: LocalProjection, alt_m: float
) -> tuple[MissionItem, ...]:
    out = []
    for xy in points_xy:
        lon, lat = proj.to_lonlat(*xy)
        out.append(
            MissionItem.at(
                Cmd.NAV_RALLY_POINT,
                lat,
                lon,
                alt_m,
                frame=Frame.GLOBAL_RELATIVE_ALT,
                mission_type=MissionType.RALLY,
            )
        )
    return tuple(out)


def fence_params(area: Area, altitude_m: float) -> dict[str, float]:
    """Safety parameters set before arming: FENCE_* deliberately (the stock FENCE_RADIUS=150
    circle would otherwise rule) and the low-battery failsafe."""
    # The circle is centred where the vehicle arms: it must hold the polygon from every launch.
    reach = max(
        math.hypot(x - hx, y - hy)
        for hx, hy in area.homes_xy
        for x, y in area.fence_inclusion.exterior.coords
    )
    radius = math.ceil(reach + 50.0)
    fence_type = 1 | 4  # max altitude + polygon
    if radius <= FENCE_RADIUS_MAX_M:
        fence_type |= 2  # the circle as a second, looser limit
    return {
        "FENCE_ENABLE": 1,
        "FENCE_TYPE": fence_type,
        "FENCE_ALT_MAX": min(altitude_m + FENCE_ALT_HEADROOM_M, LEGAL_CEILING_M),
        "FENCE_RADIUS": float(min(radius, FENCE_RADIUS_MAX_M)),
        "FENCE_ACTION": 1,  # RTL, or LAND if RTL is not possible
        "BATT_FS_LOW_ACT": 2,  # low battery: RTL (the default 0 does nothing)
    }
