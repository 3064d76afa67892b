"""Key water -> MissionPlan: the planner's stages run in order. Pure computation."""

from __future__ import annotations

import math
import time

from shapely.geometry import LineString

from geofences.model import PATTERNS, KeyWater
from geofences.projection import LocalProjection
from mission.errors import PlanningError
from mission.plan import MissionPlan, PlanSummary, Sortie
from mission.planning import area as area_stage
from mission.planning import cells, coverage, items, patterns, route, sorties, swaths, sweep
from mission.planning.transit import NoRouteError, TransitRouter
from mission.planning.types import Area, Leg


def survey_route(
    area: Area, router: TransitRouter, kw: KeyWater, spacing: float
) -> tuple[list[Leg], float]:
    lane_region = area.coverage.buffer(area_stage.shore_overfly_m(kw.patrol.fence_margin_m))
    lane_region = lane_region.intersection(area.transit.buffer(-1.0))  # lane ends strictly inside
    choice = sweep.choose_sweep(
        lane_region,
        area.coverage,
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
    extra = swaths.fill_in_lanes(regular, area.coverage, lane_region, swath_w)
    survey_cells = cells.decompose(choice.lanes) + [[lane] for lane in extra]
    ordered = route.order_cells(survey_cells, area.home_xy)
    return ordered, choice.bearing_deg


def plan(kw: KeyWater, pattern: str | None = None) -> MissionPlan:
    """Plan a patrol of ``kw``; ``pattern`` overrides the file's.

    A PlanningError names the key-water file and gives places in the operator's
    terms (lat/lon and metres from the launch), not projected metres.
    """
    where = kw.source or kw.id
    try:
        return _plan(kw, pattern)
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


def _plan(kw: KeyWater, pattern: str | None) -> MissionPlan:
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
    if pattern == "survey":
        lane_legs, bearing = survey_route(area, router, kw, spacing)
        target = area.coverage
    elif pattern == "shoreline":
        inset = p.shore_inset_m if p.shore_inset_m is not None else swath_w / 2.0
        lane_legs = route.order_loops(patterns.shoreline_loops(area.coverage, inset), area.home_xy)
        # The shoreline pattern watches the band along every bank, one swath wide.
        target = area.coverage.difference(area.coverage.buffer(-(inset + swath_w / 2.0)))
        coverage_of = "shore band"
    else:
        along = patterns.corridor_lanes(area.coverage, spacing)
        lane_region = area.coverage.buffer(area_stage.shore_overfly_m(p.fence_margin_m))
        lane_region = lane_region.intersection(area.transit.buffer(-1.0))
        extra = swaths.fill_in_lanes(
            [LineString(leg.points) for leg in along], area.coverage, lane_region, swath_w
        )
        along += [Leg((ln.a, ln.b), "lane") for ln in extra]
        lane_legs = route.order_lines(along, area.home_xy)
        target = area.coverage

    paths = sorties.split_sorties(
        lane_legs, area.home_xy, router, p.speed_m_s, p.altitude_m, kw.vehicle
    )
    home = (kw.launch.lon, kw.launch.lat, kw.launch.alt_amsl_m)
    trigger = cam.trigger_distance_m(p.altitude_m, p.front_overlap) if p.trigger_camera else None
    out_sorties = []
    all_legs: list[Leg] = []
    for i, sp in enumerate(paths, start=1):
        legs = [*sp.legs, *sp.home_legs]
        all_legs.extend(legs)
        path_ll = tuple(proj.to_lonlat(*xy) for leg in legs for xy in leg.points)
        out_sorties.append(
            Sortie(
                index=i,
                items=items.sortie_items(sp, proj, home, p.altitude_m, p.speed_m_s, trigger),
                path_lonlat=path_ll,
                length_m=sp.length_m,
                est_flight_s=sp.est_flight_s,
            )
        )
    covered = coverage.swath_coverage(all_legs, target, swath_w)
    n_lanes = sum(1 for leg in lane_legs if leg.kind == "lane")
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
    )
    return MissionPlan(
        key_water_id=kw.id,
        key_water_name=kw.name,
        pattern=pattern,
        home=(kw.launch.lat, kw.launch.lon, kw.launch.alt_amsl_m),
        altitude_m=p.altitude_m,
        sorties=tuple(out_sorties),
        fence=items.fence_items(area, proj),
        rally=items.rally_items([area.home_xy], proj, p.altitude_m),
        summary=summary,
        fence_params=items.fence_params(area, p.altitude_m),
    )
