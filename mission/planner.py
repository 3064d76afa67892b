"""Key water -> MissionPlan: the planner's stages run in order. Pure computation."""

from __future__ import annotations

import math
import time

import shapely
import shapely.ops
from shapely.geometry import LineString, MultiPolygon, Polygon

from geofences.model import PATTERNS, KeyWater
from geofences.projection import LocalProjection
from mission.errors import PlanningError
from mission.plan import MissionPlan, PlanSummary, Sortie, UnplannedPart
from mission.planning import area as area_stage
from mission.planning import (
    bounds,
    cells,
    coverage,
    items,
    patterns,
    route,
    sorties,
    swaths,
    sweep,
)
from mission.planning.transit import NoRouteError, TransitRouter
from mission.planning.types import Area, Leg, Unreached


def survey_route(
    area: Area, router: TransitRouter, kw: KeyWater, spacing: float
) -> tuple[list[Leg], float]:
    target = area.reachable
    lane_region = target.buffer(area_stage.shore_overfly_m(kw.patrol.fence_margin_m))
    lane_region = lane_region.intersection(area.transit.buffer(-1.0))  # lane ends strictly inside
    choice = sweep.choose_sweep(
        lane_region,
        target,
        spacing,
        kw.patrol.camera.footprint_m(kw.patrol.altitude_m)[0],
        area.home_xy,
        kw.patrol.speed_m_s,
        kw.vehicle.turn_s,
        kw.patrol.sweep_angle_deg,
    )
    if not choice.lanes:
        raise PlanningError("no survey lane fits inside the water")
    swath_w = kw.patrol.camera.footprint_m(kw.patrol.altitude_m)[0]
    regular = [LineString([ln.a, ln.b]) for ln in choice.lanes]
    extra = swaths.fill_in_lanes(regular, target, lane_region, swath_w)
    survey_cells = cells.decompose(choice.lanes) + [[lane] for lane in extra]
    ordered = route.order_cells(survey_cells, area.home_xy)
    return ordered, choice.bearing_deg


def plan(kw: KeyWater, pattern: str | None = None, allow_partial: bool = False) -> MissionPlan:
    """Plan a patrol of ``kw``; ``pattern`` overrides the file's.

    Every part of the water is flown, or the plan fails naming the part that
    cannot be and why; with ``allow_partial`` such parts are left out and named
    in the summary (``unplanned``) instead. A PlanningError names the key-water
    file and gives places in the operator's terms (lat/lon and metres from the
    launch), not projected metres.
    """
    where = kw.source or kw.id
    try:
        return _plan(kw, pattern, allow_partial)
    except NoRouteError as err:
        raise PlanningError(f"{where}: {_no_route_problem(kw, err)}") from err
    except PlanningError as err:
        raise PlanningError(f"{where}: {err}") from err


def _no_route_problem(kw: KeyWater, err: NoRouteError) -> str:
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    home = proj.to_xy(kw.launch.lon, kw.launch.lat)

    def place(xy: tuple[float, float]) -> str:
        lon, lat = proj.to_lonlat(*xy)
        return f"lat {lat:.6f}, lon {lon:.6f} ({math.dist(xy, home):.0f} m from the launch)"

    margin = kw.patrol.fence_margin_m
    if min(math.dist(err.a, home), math.dist(err.b, home)) < 1.0:
        why = (
            "the way between the launch and the water is too narrow to fly (the fence is "
            f"patrol.fence_margin_m = {margin:g} m either side of it, and routes keep 2 m "
            "inside the fence): raise patrol.fence_margin_m or move the launch to the bank"
        )
    else:
        why = (
            "the flyable area (the water plus patrol.fence_margin_m = "
            f"{margin:g} m, less the no-fly zones and islands) is cut in two between them: "
            "check the no-fly zones there, or raise patrol.fence_margin_m"
        )
    return f"no route inside the fence from {place(err.a)} to {place(err.b)}: {why}"


def _plan(kw: KeyWater, pattern: str | None, allow_partial: bool) -> MissionPlan:
    t0 = time.perf_counter()
    pattern = pattern or kw.patrol.pattern
    if pattern not in PATTERNS:
        raise PlanningError(f"unknown pattern {pattern!r}; use one of {', '.join(PATTERNS)}")
    p, cam = kw.patrol, kw.patrol.camera
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    area = area_stage.build_area(kw, proj)
    router = TransitRouter(area.transit)
    spacing = cam.line_spacing_m(p.altitude_m, p.side_overlap)
    swath_w = cam.footprint_m(p.altitude_m)[0]

    bearing: float | None = None
    coverage_of = "water"  # what coverage_pct is a share of
    target = area.coverage  # every part of the water, reachable or not
    if pattern == "survey":
        lane_legs, bearing = survey_route(area, router, kw, spacing)
    elif pattern == "shoreline":
        inset = p.shore_inset_m if p.shore_inset_m is not None else swath_w / 2.0
        loops = patterns.shoreline_loops(area.reachable, inset)
        lane_legs = route.order_loops(loops, area.home_xy)
        # The shoreline pattern watches the band along every bank, one swath wide.
        target = target.difference(target.buffer(-(inset + swath_w / 2.0)))
        coverage_of = "shore band"
    else:
        along = patterns.corridor_lanes(area.reachable, spacing)
        lane_region = area.reachable.buffer(area_stage.shore_overfly_m(p.fence_margin_m))
        lane_region = lane_region.intersection(area.transit.buffer(-1.0))
        extra = swaths.fill_in_lanes(
            [LineString(leg.points) for leg in along], area.reachable, lane_region, swath_w
        )
        along += [Leg((ln.a, ln.b), "lane") for ln in extra]
        lane_legs = route.order_lines(along, area.home_xy)

    split = sorties.split_sorties(
        lane_legs, area.homes_xy, router, p.speed_m_s, p.altitude_m, kw.vehicle
    )
    paths = split.sorties
    if not paths and split.no_route and not split.unreached:
        # Nothing is reachable at all: the way from the launch to the water is the problem.
        raise NoRouteError(area.home_xy, split.no_route[0].points[0])
    all_legs = [leg for sp in paths for leg in (*sp.legs, *sp.home_legs)]
    unplanned = list(area.cut_off) + _beyond_endurance(area, split, all_legs, swath_w, kw)
    if unplanned and not allow_partial:
        raise PlanningError(_unplanned_problem(kw, proj, unplanned))
    if not paths:
        raise PlanningError("no part of the water can be flown from the launch point(s)")

    homes = [(lp.lat, lp.lon, lp.alt_amsl_m) for lp in kw.launches]
    trigger = cam.trigger_distance_m(p.altitude_m, p.front_overlap) if p.trigger_camera else None
    out_sorties = []
    for i, sp in enumerate(paths, start=1):
        legs = [*sp.legs, *sp.home_legs]
        lat, lon, alt = homes[sp.launch]
        path_ll = tuple(proj.to_lonlat(*xy) for leg in legs for xy in leg.points)
        out_sorties.append(
            Sortie(
                index=i,
                items=items.sortie_items(
                    sp, proj, (lon, lat, alt), p.altitude_m, p.speed_m_s, trigger
                ),
                path_lonlat=path_ll,
                length_m=sp.length_m,
                est_flight_s=sp.est_flight_s,
                home=homes[sp.launch],
                launch=sp.launch,
            )
        )
    covered = coverage.swath_coverage(all_legs, target, swath_w)
    n_lanes = sum(1 for leg in lane_legs if leg.kind == "lane")
    budget_s = kw.vehicle.usable_s - sorties.climb_s(p.altitude_m, kw.vehicle)
    budget_s -= sorties.landing_s(p.altitude_m, kw.vehicle)
    flown_lanes = [leg for leg in all_legs if leg.kind == "lane"]
    bound = bounds.lower_bound(flown_lanes, area.homes_xy, p.speed_m_s, budget_s)
    summary = PlanSummary(
        area_km2=area.water.area / 1e6,
        path_km=sum(s.length_m for s in out_sorties) / 1000.0,
        lanes=n_lanes,
        turns=sum(sp.turns for sp in paths),
        est_flight_s=sum(s.est_flight_s for s in out_sorties),
        sorties=len(out_sorties),
        coverage_pct=100.0 * covered,
        coverage_of=coverage_of,
        sweep_angle_deg=bearing,
        line_spacing_m=spacing,
        gsd_cm=100.0 * cam.gsd_m(p.altitude_m),
        planning_ms=(time.perf_counter() - t0) * 1000.0,
        lower_bound_sorties=bound.sorties,
        lower_bound_km=bound.path_m / 1000.0,
        launches=len(homes),
        unplanned=tuple(_unplanned_part(u, proj) for u in unplanned),
    )
    return MissionPlan(
        key_water_id=kw.id,
        key_water_name=kw.name,
        pattern=pattern,
        home=homes[0],
        altitude_m=p.altitude_m,
        sorties=tuple(out_sorties),
        fence=items.fence_items(area, proj),
        rally=items.rally_items(list(area.homes_xy), proj, p.altitude_m),
        summary=summary,
        fence_params=items.fence_params(area, p.altitude_m),
        launches=tuple(homes),
    )


def _beyond_endurance(
    area: Area, split: sorties.SplitResult, flown: list[Leg], swath_w: float, kw: KeyWater
) -> list[Unreached]:
    """The water under lanes no launch can fly to (and back from, within the endurance),
    less what the flown lanes see."""
    seen = shapely.union_all(
        [LineString(leg.points).buffer(swath_w / 2.0) for leg in flown if len(leg.points) > 1]
    )
    usable_min = kw.vehicle.usable_s / 60.0
    far = (
        f"it is beyond the reach of the usable endurance ({usable_min:.1f} min at "
        f"{kw.patrol.speed_m_s:g} m/s) from every launch point"
    )
    out = []
    for pieces, why in ((split.no_route, area_stage.no_way_reason(kw)), (split.unreached, far)):
        if not pieces:
            continue
        missed = shapely.union_all([LineString(pc.points).buffer(swath_w / 2.0) for pc in pieces])
        missed = missed.difference(seen)
        for i, part in enumerate(area.water.geoms, start=1):
            region = area_stage.as_multipolygon(missed.intersection(part))
            region = MultiPolygon(
                [g for g in region.geoms if g.area >= area_stage.MIN_UNREACHED_M2]
            )
            if not region.is_empty:
                out.append(Unreached(i, region, why))
    return out


def _unplanned_part(u: Unreached, proj: LocalProjection) -> UnplannedPart:
    c = u.region.representative_point()
    lon, lat = proj.to_lonlat(c.x, c.y)
    rings = tuple(tuple(proj.to_lonlat(x, y) for x, y in g.exterior.coords) for g in u.region.geoms)
    return UnplannedPart(u.part, u.region.area / 1e6, u.reason, (lat, lon), rings)


def _unplanned_problem(kw: KeyWater, proj: LocalProjection, parts: list[Unreached]) -> str:
    """Which parts cannot be flown and why, and where another launch point would help."""
    n_parts = len(kw.water.geoms)
    home = proj.to_xy(kw.launch.lon, kw.launch.lat)
    lines = []
    for u in parts:
        c = u.region.representative_point()
        lon, lat = proj.to_lonlat(c.x, c.y)
        part = f"part {u.part} of {n_parts} of the water" if n_parts > 1 else "the water"
        lines.append(
            f"{u.region.area / 1e6:.3f} km2 of {part} around lat {lat:.6f}, lon {lon:.6f} "
            f"({math.dist((c.x, c.y), home):.0f} m from the launch) cannot be flown: {u.reason}"
        )
    advice = "; ".join(lines)
    far = [u for u in parts if "endurance" in u.reason]
    if far:
        region = shapely.union_all([u.region for u in far])
        bank = shapely.ops.nearest_points(
            shapely.union_all([Polygon(g.exterior) for g in kw_water_m(kw, proj).geoms]).boundary,
            region.centroid,
        )[0]
        lon, lat = proj.to_lonlat(bank.x, bank.y)
        advice += (
            f"; add a launch point on the bank near lat {lat:.6f}, lon {lon:.6f} (launch may "
            "be a list), or raise vehicle.endurance_min"
        )
    return advice + "; or plan the rest with --allow-partial"


def kw_water_m(kw: KeyWater, proj: LocalProjection) -> MultiPolygon:
    return area_stage.as_multipolygon(proj.geom_to_m(kw.water))
