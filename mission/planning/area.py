"""Stage 1: KeyWater (lon/lat) -> Area (metres): coverage, transit region and fence polygons."""

from __future__ import annotations

import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from shapely.ops import nearest_points

from geofences.model import KeyWater
from geofences.projection import LocalProjection
from mission.errors import PlanningError
from mission.planning.fence import fit_storage, inner_polygon
from mission.planning.sorties import WPNAV_ACCEL_M_S2
from mission.planning.types import Area

NOFLY_KEEPOUT_M = 5.0  # legs stay at least this far from an uploaded no-fly exclusion


def nofly_keepout_m(speed_m_s: float) -> float:
    """How far legs stay from a no-fly exclusion: at least the stopping distance.

    A copter overshoots a corner by about v^2 / 2a (11 m was seen at 10 m/s
    before a right-angle turn), and crossing into an exclusion is a breach.
    """
    return max(NOFLY_KEEPOUT_M, speed_m_s**2 / (2.0 * WPNAV_ACCEL_M_S2))


SHORE_OVERFLY_M = 10.0  # lanes may run this far past the shoreline (never past the fence)


def as_multipolygon(geom: shapely.Geometry) -> MultiPolygon:
    if isinstance(geom, MultiPolygon):
        return geom
    if isinstance(geom, Polygon):
        return MultiPolygon([geom]) if not geom.is_empty else MultiPolygon()
    parts = [g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon) and not g.is_empty]
    return MultiPolygon(parts)


def shore_overfly_m(fence_margin_m: float) -> float:
    return min(SHORE_OVERFLY_M, fence_margin_m / 2.0)


def build_area(kw: KeyWater, proj: LocalProjection) -> Area:
    water = as_multipolygon(proj.geom_to_m(kw.water))
    if water.is_empty:
        raise PlanningError("the water polygon is empty")
    home = Point(proj.to_xy(kw.launch.lon, kw.launch.lat))
    margin = kw.patrol.fence_margin_m
    overfly = shore_overfly_m(margin)

    outline = shapely.union_all([Polygon(p.exterior) for p in water.geoms])
    islands = [Polygon(ring) for poly in water.geoms for ring in poly.interiors]
    shore_pt = nearest_points(water, home)[0]
    # The launch is on the bank: the fence and the transit region include a
    # corridor from it to the water, or arming fails with "breaching fence".
    corridor = LineString([home, shore_pt]) if home.distance(shore_pt) > 0.1 else home
    # Islands keep only their core in the fence: lanes run right up to the shore.
    inclusion, nofly, island_cores = fit_storage(
        shapely.union_all([outline, corridor.buffer(margin)]),
        margin,
        [proj.geom_to_m(z.polygon) for z in kw.no_fly],
        islands,
        overfly + 5.0,
    )
    clear_m = nofly_keepout_m(kw.patrol.speed_m_s)
    keepout = shapely.union_all([z.buffer(clear_m) for z in nofly]) if nofly else None
    if keepout is not None and keepout.contains(home):
        raise PlanningError(
            f"the launch point is within {clear_m:.0f} m of a no-fly zone (the stopping "
            f"distance at {kw.patrol.speed_m_s:g} m/s); move the launch away from it"
        )

    transit = shapely.union_all([water.buffer(overfly), corridor.buffer(overfly)])
    transit = transit.intersection(inclusion.buffer(-2.0))
    # Every island is kept out of the route, fenced or not.
    for isl in islands:
        if (core := inner_polygon(isl, overfly + 5.0)) is not None:
            transit = transit.difference(core.buffer(2.0))
    coverage: shapely.Geometry = water
    if keepout is not None:
        transit = transit.difference(keepout)
        coverage = water.difference(keepout)
    transit = _part_with(transit, home, water, margin)
    # Water cut off from the launch by a no-fly zone cannot be surveyed.
    coverage = coverage.intersection(transit)
    return Area(
        water=water,
        coverage=as_multipolygon(coverage),
        transit=transit,
        fence_inclusion=inclusion,
        fence_exclusions=nofly + island_cores,
        home_xy=(home.x, home.y),
    )


def _part_with(
    region: shapely.Geometry, home: Point, water: MultiPolygon, margin_m: float
) -> Polygon:
    """Only the part of the transit region reachable from the launch can be flown."""
    parts = [g for g in getattr(region, "geoms", [region]) if isinstance(g, Polygon)]
    parts = [p for p in parts if not p.is_empty]
    if not parts:
        raise PlanningError(
            "no flyable area is left inside the fence; check the no-fly zones and "
            "patrol.fence_margin_m"
        )
    flyable = (
        f"the area the drone may fly (the water plus patrol.fence_margin_m = {margin_m:g} m, "
        "less 2 m kept inside the fence and the no-fly zones)"
    )
    reach = [p for p in parts if p.distance(home) < 1.0]
    # Every route starts at the launch: one outside the flyable region, or in a scrap of it
    # that does not reach the water, has none.
    if not reach:
        gap = min(p.distance(home) for p in parts)
        raise PlanningError(
            f"the launch point is {gap:.0f} m outside {flyable}: raise "
            "patrol.fence_margin_m or move the launch to the bank"
        )
    if not reach[0].intersects(water):
        raise PlanningError(
            f"the launch point is cut off from the water: {flyable} leaves no way from the "
            "launch to the water: raise patrol.fence_margin_m or move the launch to the bank"
        )
    return reach[0]
