"""Planner invariants over generated concave waters with islands and no-fly zones."""

from __future__ import annotations

import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Polygon

from geofences.projection import LocalProjection
from mission.items import Cmd, MissionType
from mission.plan import MissionPlan
from mission.planner import plan
from mission.planning.area import nofly_keepout_m
from tests.planner_cases import synthetic_water


def _fence_polygons(mp: MissionPlan, proj: LocalProjection) -> tuple[Polygon, list[Polygon]]:
    polys: list[tuple[int, list]] = []
    i = 0
    fence = list(mp.fence)
    while i < len(fence):
        n = int(fence[i].param1)
        ring = [proj.to_xy(it.lon, it.lat) for it in fence[i : i + n]]
        polys.append((fence[i].command, ring))
        i += n
    inclusions = [Polygon(r) for c, r in polys if c == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION]
    exclusions = [Polygon(r) for c, r in polys if c == Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION]
    assert len(inclusions) == 1
    return inclusions[0], exclusions


def _flown_lines(mp: MissionPlan, proj: LocalProjection) -> list[LineString]:
    """What the vehicle flies: home -> takeoff -> every waypoint -> RTL straight home."""
    home = proj.to_xy(mp.home[1], mp.home[0])
    lines = []
    for s in mp.sorties:
        pts = [home]
        for it in s.items[1:]:
            if it.command in (Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF):
                pts.append(proj.to_xy(it.lon, it.lat))
        pts.append(home)
        lines.append(LineString(pts))
    return lines


water_cases = st.builds(
    synthetic_water,
    seed=st.integers(0, 10_000),
    radius_m=st.floats(250, 700),
    lobes=st.integers(2, 5),
    islands=st.integers(0, 3),
    nofly=st.booleans(),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(water_cases)
def test_every_leg_stays_inside_the_fence_and_out_of_exclusions(kw):
    mp = plan(kw)
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    inclusion, exclusions = _fence_polygons(mp, proj)
    assert all(t.mission_type == MissionType.FENCE for t in mp.fence)
    for line in _flown_lines(mp, proj):
        assert inclusion.buffer(0.5).covers(line), "a leg leaves the inclusion fence"
        for ex in exclusions:
            assert not ex.buffer(-0.5).intersects(line), "a leg crosses an exclusion"
        for zone in kw.no_fly:
            assert not proj.geom_to_m(zone.polygon).intersects(line), "a leg enters a no-fly zone"
    # The fence never cuts into the water and fits the autopilot.
    water_m = proj.geom_to_m(kw.water)
    assert inclusion.covers(shapely.Polygon(water_m.geoms[0].exterior))
    counts = [int(t.param1) for t in mp.fence]
    assert max(counts) <= 70
    # The whole fence fits a stock copter's 560-byte fence storage
    # (4 bytes of header, 2 per polygon, 8 per vertex).
    assert 4 + 2 * (1 + len(exclusions)) + 8 * len(mp.fence) <= 560


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(water_cases)
def test_camera_swath_covers_the_water(kw):
    mp = plan(kw)
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    water_m = proj.geom_to_m(kw.water)
    for zone in kw.no_fly:
        water_m = water_m.difference(
            proj.geom_to_m(zone.polygon).buffer(nofly_keepout_m(kw.patrol.speed_m_s) + 0.5)
        )
    swath = kw.patrol.camera.footprint_m(kw.patrol.altitude_m)[0]
    seen = shapely.union_all(
        [LineString([proj.to_xy(*p) for p in s.path_lonlat]).buffer(swath / 2) for s in mp.sorties]
    )
    covered = seen.intersection(water_m).area / water_m.area
    assert covered >= 0.995, f"only {covered:.2%} of the water is seen"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(water_cases, st.floats(12, 30))
def test_sorties_fit_the_usable_endurance(kw, endurance_min):
    from dataclasses import replace

    kw = replace(kw, vehicle=replace(kw.vehicle, endurance_min=endurance_min))
    mp = plan(kw)
    usable = kw.vehicle.usable_s
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    for s, line in zip(mp.sorties, _flown_lines(mp, proj), strict=True):
        assert s.est_flight_s <= usable + 1e-6
        # Independently of the planner's estimate: flying the legs alone fits.
        assert line.length / kw.patrol.speed_m_s <= usable
        assert s.items[-1].command == Cmd.NAV_RETURN_TO_LAUNCH
