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
from mission.planning.types import Area, Unreached

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


MIN_UNREACHED_M2 = 25.0  # scraps smaller than this are shoreline slivers, not water left out


def build_area(kw: KeyWater, proj: LocalProjection) -> Area:
    water = as_multipolygon(proj.geom_to_m(kw.water))
    if water.is_empty:
        raise PlanningError("the water polygon is empty")
    homes = [Point(proj.to_xy(p.lon, p.lat)) for p in kw.launches]
    margin = kw.patrol.fence_margin_m
    overfly = shore_overfly_m(margin)
    clear_m = nofly_keepout_m(kw.patrol.speed_m_s)
    zones = [proj.geom_to_m(z.polygon) for z in kw.no_fly]
    zone_keepout = shapely.union_all([z.buffer(clear_m + 1.0) for z in zones]) if zones else None

    outline = shapely.union_all([Polygon(p.exterior) for p in water.geoms])
    islands = [Polygon(ring) for poly in water.geoms for ring in poly.interiors]
    # Each launch is on a bank: the fence and the transit region include a corridor
    # from it to the water, or arming fails with "breaching fence".
    corridors = [_corridor(home, water) for home in homes]
    # Parts of the water no launch is beside are joined to the rest over the land between
    # (the fence takes the way in), unless a no-fly zone is in the way.
    links = _links(water, homes, zone_keepout, overfly)
    ways = corridors + links
    # Islands keep only their core in the fence: lanes run right up to the shore.
    inclusion, nofly, island_cores = fit_storage(
        shapely.union_all([outline, *(w.buffer(margin) for w in ways)]),
        margin,
        zones,
        islands,
        overfly + 5.0,
    )
    keepout = shapely.union_all([z.buffer(clear_m) for z in nofly]) if nofly else None
    for i, home in enumerate(homes):
        if keepout is not None and keepout.contains(home):
            raise PlanningError(
                f"{_launch_name(kw, i)} is within {clear_m:.0f} m of a no-fly zone (the "
                f"stopping distance at {kw.patrol.speed_m_s:g} m/s); move it away from the zone"
            )

    transit = shapely.union_all([water.buffer(overfly), *(w.buffer(overfly) for w in ways)])
    transit = transit.intersection(inclusion.buffer(-2.0))
    # Every island is kept out of the route, fenced or not.
    for isl in islands:
        if (core := inner_polygon(isl, overfly + 5.0)) is not None:
            transit = transit.difference(core.buffer(2.0))
    coverage: shapely.Geometry = water
    if keepout is not None:
        transit = transit.difference(keepout)
        coverage = water.difference(keepout)
    transit = _parts_with(kw, transit, homes, water, margin)
    coverage = as_multipolygon(coverage)
    reachable = as_multipolygon(coverage.intersection(transit))
    return Area(
        water=water,
        coverage=coverage,
        transit=transit,
        fence_inclusion=inclusion,
        fence_exclusions=nofly + island_cores,
        homes_xy=tuple((h.x, h.y) for h in homes),
        reachable=reachable,
        cut_off=_cut_off(water, coverage, transit, kw, zones),
    )


def no_way_reason(kw: KeyWater) -> str:
    return (
        "no way inside the fence reaches it from any launch point (the flyable area is the "
        f"water plus patrol.fence_margin_m = {kw.patrol.fence_margin_m:g} m, less islands and "
        "no-fly zones): raise patrol.fence_margin_m, check the no-fly zones there, or add a "
        "launch point beside it"
    )


def _launch_name(kw: KeyWater, i: int) -> str:
    if not kw.extra_launches:
        return "the launch point"
    name = kw.launches[i].name
    return f"launch point {i + 1}" + (f" ({name})" if name else "")


def _corridor(home: Point, water: MultiPolygon) -> shapely.Geometry:
    shore_pt = nearest_points(water, home)[0]
    return LineString([home, shore_pt]) if home.distance(shore_pt) > 0.1 else home


def _links(
    water: MultiPolygon,
    homes: list[Point],
    keepout: shapely.Geometry | None,
    overfly_m: float,
) -> list[LineString]:
    """Straight ways joining every part of the water to a part a launch is beside (Prim's
    tree, shortest joins first); a join through a no-fly zone is not made."""
    parts = list(water.geoms)
    if len(parts) < 2:
        return []
    joined = {min(range(len(parts)), key=lambda i: parts[i].distance(h)) for h in homes}
    links: list[LineString] = []
    while len(joined) < len(parts):
        options = sorted(
            (parts[a].distance(parts[b]), a, b)
            for a in joined
            for b in range(len(parts))
            if b not in joined
        )
        for gap, a, b in options:
            if gap <= 2 * overfly_m:
                break  # the water's own margins already join them
            line = LineString(nearest_points(parts[a], parts[b]))
            if keepout is None or not line.buffer(overfly_m).intersects(keepout):
                links.append(line)
                break
        else:
            return links  # the rest are cut off by no-fly zones
        joined.add(b)
    return links


def _cut_off(
    water: MultiPolygon,
    coverage: MultiPolygon,
    transit: shapely.Geometry,
    kw: KeyWater,
    zones: list[Polygon],
) -> tuple[Unreached, ...]:
    out = []
    left = coverage.difference(transit)
    if left.area < MIN_UNREACHED_M2:
        return ()
    for i, part in enumerate(water.geoms, start=1):
        region = as_multipolygon(left.intersection(part))
        region = MultiPolygon([g for g in region.geoms if g.area >= MIN_UNREACHED_M2])
        if region.is_empty:
            continue
        near = [z.name for z, g in zip(kw.no_fly, zones, strict=True) if g.distance(region) < 50]
        why = (
            f"no-fly zone {' and '.join(repr(n) for n in near)} cuts it off from every launch"
            if near
            else no_way_reason(kw)
        )
        out.append(Unreached(i, region, why))
    return tuple(out)


def _parts_with(
    kw: KeyWater, region: shapely.Geometry, homes: list[Point], water: MultiPolygon, margin_m: float
) -> Polygon | MultiPolygon:
    """Only the parts of the transit region some launch reaches can be flown."""
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
    kept: list[Polygon] = []
    for i, home in enumerate(homes):
        reach = [p for p in parts if p.distance(home) < 1.0]
        # Every route starts at a launch: one outside the flyable region, or in a scrap of
        # it that does not reach the water, has none.
        if not reach:
            gap = min(p.distance(home) for p in parts)
            raise PlanningError(
                f"{_launch_name(kw, i)} is {gap:.0f} m outside {flyable}: raise "
                "patrol.fence_margin_m or move the launch to the bank"
            )
        if not reach[0].intersects(water):
            raise PlanningError(
                f"{_launch_name(kw, i)} is cut off from the water: {flyable} leaves no way "
                "from the launch to the water: raise patrol.fence_margin_m or move the launch "
                "to the bank"
            )
        if not any(reach[0].equals(k) for k in kept):
            kept.append(reach[0])
    return kept[0] if len(kept) == 1 else MultiPolygon(kept)
