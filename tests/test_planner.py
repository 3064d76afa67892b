"""Planner stages: camera model, lanes, fence, routing around obstacles, sorties, items."""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import replace

import pytest
import shapely
from shapely.geometry import LineString, MultiPolygon, Point, Polygon
from typer.testing import CliRunner

import geofences
from geofences.camera import Camera
from geofences.model import KeyWater, Launch, VehicleSettings
from geofences.projection import LocalProjection
from mission.errors import PlanningError
from mission.items import Cmd, Frame, MissionType
from mission.planner import plan
from mission.planning.fence import MAX_FENCE_VERTICES, enclosing_polygon, vertex_count
from mission.planning.swaths import lane_positions
from tests.planner_cases import LAT0, LON0, synthetic_water, with_patrol

PROJ = LocalProjection.around(LAT0, LON0)
CX, CY = PROJ.to_xy(LON0, LAT0)


def water_from_m(poly: Polygon, launch_xy: tuple[float, float], **kw: object) -> KeyWater:
    lon, lat = PROJ.to_lonlat(*launch_xy)
    return KeyWater(
        id="t",
        name="test water",
        water=PROJ.geom_to_lonlat(MultiPolygon([poly])),
        launch=Launch(lat, lon, 20.0),
        **kw,
    )


def flown_line(mp, proj: LocalProjection, sortie: int = 0) -> LineString:
    home = proj.to_xy(mp.home[1], mp.home[0])
    pts = [home]
    for it in mp.sorties[sortie].items[1:]:
        if it.command in (Cmd.NAV_WAYPOINT, Cmd.NAV_TAKEOFF):
            pts.append(proj.to_xy(it.lon, it.lat))
    return LineString([*pts, home])


def test_camera_footprint_spacing_and_gsd_by_hand():
    cam = Camera(6.4, 3.6, 4.5, 1920, 1080)
    width, height = cam.footprint_m(45.0)
    assert width == pytest.approx(45 * 6.4 / 4.5)  # 64 m
    assert height == pytest.approx(45 * 3.6 / 4.5)  # 36 m
    assert cam.line_spacing_m(45.0, 0.25) == pytest.approx(48.0)
    assert cam.trigger_distance_m(45.0, 0.5) == pytest.approx(18.0)
    assert cam.gsd_m(45.0) == pytest.approx(64 / 1920)


@pytest.mark.parametrize("height", [10.0, 100.0, 131.0, 175.0, 176.0])
def test_lanes_are_centred_and_leave_no_edge_strip(height):
    spacing = 44.0
    ys = lane_positions(0.0, height, spacing)
    assert ys[0] - 0.0 == pytest.approx(height - ys[-1])  # equal strips at both edges
    assert ys[0] <= spacing / 2 + 1e-9
    assert all(b - a == pytest.approx(spacing) for a, b in itertools.pairwise(ys))


def test_last_swath_is_not_missed():
    """Fields2Cover #70/#167: the last swath of a field went missing."""
    rect = Polygon([(CX, CY), (CX + 600, CY), (CX + 600, CY + 250), (CX, CY + 250)])
    kw = with_patrol(water_from_m(rect, (CX + 620, CY + 125)), sweep_angle_deg=90.0)
    mp = plan(kw)
    spacing = mp.summary.line_spacing_m
    assert mp.summary.lanes == math.ceil(250 / spacing)
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    swath = kw.patrol.camera.footprint_m(kw.patrol.altitude_m)[0]
    seen = shapely.union_all(
        [flown_line(mp, proj, i).buffer(swath / 2) for i in range(len(mp.sorties))]
    )
    top_strip = Polygon(
        [(CX, CY + 240), (CX + 600, CY + 240), (CX + 600, CY + 250), (CX, CY + 250)]
    )
    assert seen.intersection(top_strip).area / top_strip.area > 0.99
    assert mp.summary.coverage_pct >= 99.5


def test_route_between_swaths_goes_around_land():
    """Fields2Cover #194/#211: transits between swaths ignored the obstacles between them."""
    # A U-shaped lake: two arms joined at the south, land between them.
    u = Polygon(
        [
            (CX, CY),
            (CX + 700, CY),
            (CX + 700, CY + 800),
            (CX + 450, CY + 800),
            (CX + 450, CY + 200),
            (CX + 250, CY + 200),
            (CX + 250, CY + 800),
            (CX, CY + 800),
        ]
    )
    land = Polygon(
        [(CX + 250, CY + 200), (CX + 450, CY + 200), (CX + 450, CY + 800), (CX + 250, CY + 800)]
    )
    kw = with_patrol(water_from_m(u, (CX + 350, CY - 25)), sweep_angle_deg=90.0)
    mp = plan(kw)
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    for i in range(len(mp.sorties)):
        line = flown_line(mp, proj, i)
        crossing = line.intersection(land.buffer(-kw.patrol.fence_margin_m))
        assert crossing.length < 1e-6, "a leg cuts across the land between the arms"


def test_island_is_flown_around_and_fenced():
    rect = Polygon(
        [(CX, CY), (CX + 800, CY), (CX + 800, CY + 500), (CX, CY + 500)],
        [Point(CX + 400, CY + 250).buffer(80, quad_segs=8).exterior.coords],
    )
    kw = water_from_m(rect, (CX + 820, CY + 250))
    mp = plan(kw)
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    island_core = Point(proj.to_xy(*PROJ.to_lonlat(CX + 400, CY + 250))).buffer(60)
    for i in range(len(mp.sorties)):
        assert not flown_line(mp, proj, i).intersects(island_core)
    exclusions = [t for t in mp.fence if t.command == Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION]
    assert exclusions, "the island's core is an exclusion fence"


def test_fence_simplifies_a_detailed_shoreline_without_cutting_water():
    wiggly = Polygon(
        [
            (
                CX + (900 + 40 * math.sin(23 * a)) * math.cos(a),
                CY + (600 + 30 * math.cos(17 * a)) * math.sin(a),
            )
            for a in (math.tau * i / 500 for i in range(500))
        ]
    )
    fence = enclosing_polygon(wiggly, 30.0)
    assert vertex_count(fence) <= MAX_FENCE_VERTICES
    assert fence.covers(wiggly)
    # Tight: no more than a few margins beyond the water.
    assert fence.area < wiggly.buffer(120).area


def test_mission_items_follow_ardupilot_conventions():
    kw = with_patrol(synthetic_water(3), trigger_camera=True, front_overlap=0.6)
    mp = plan(kw)
    for s in mp.sorties:
        items = s.items
        assert items[0].frame == Frame.GLOBAL and items[0].lat == pytest.approx(kw.launch.lat)
        assert items[1].command == Cmd.NAV_TAKEOFF and items[1].z == kw.patrol.altitude_m
        assert items[2].command == Cmd.DO_CHANGE_SPEED and items[2].param2 == kw.patrol.speed_m_s
        assert items[-1].command == Cmd.NAV_RETURN_TO_LAUNCH
        trig = [t for t in items if t.command == Cmd.DO_SET_CAM_TRIGG_DIST]
        assert trig and trig[0].param1 == pytest.approx(
            kw.patrol.camera.trigger_distance_m(kw.patrol.altitude_m, 0.6)
        )
        assert trig[-1].param1 == 0.0  # the camera stops before the way home
        assert len(items) <= 650  # stock SITL's mission capacity
    counts = {}
    for t in mp.fence:
        assert t.mission_type == MissionType.FENCE
        counts.setdefault(t.command, []).append(int(t.param1))
    assert counts[Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION][0] == len(
        counts[Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION]
    )
    assert all(r.mission_type == MissionType.RALLY for r in mp.rally)
    assert mp.fence_params["FENCE_ENABLE"] == 1 and mp.fence_params["FENCE_TYPE"] & 4


def test_sorties_resume_where_the_previous_one_stopped():
    kw = replace(synthetic_water(11, radius_m=600), vehicle=VehicleSettings(endurance_min=12))
    mp = plan(kw)
    assert len(mp.sorties) >= 3
    usable = kw.vehicle.usable_s
    assert all(s.est_flight_s <= usable for s in mp.sorties)
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    # Together the sorties still see the whole water.
    assert mp.summary.coverage_pct >= 99.5
    # Each sortie's path starts and ends at the launch.
    home = proj.to_xy(kw.launch.lon, kw.launch.lat)
    for s in mp.sorties:
        assert math.dist(proj.to_xy(*s.path_lonlat[0]), home) < 1.0
        assert math.dist(proj.to_xy(*s.path_lonlat[-1]), home) < 1.0


def test_fixed_sweep_angle_is_honoured_and_chosen_angle_beats_a_bad_one():
    rect = Polygon([(CX, CY), (CX + 1200, CY), (CX + 1200, CY + 200), (CX, CY + 200)])
    kw = water_from_m(rect, (CX + 1220, CY + 100))
    chosen = plan(kw)
    assert chosen.summary.sweep_angle_deg == pytest.approx(90.0, abs=10)  # long lanes east-west
    forced = plan(with_patrol(kw, sweep_angle_deg=0.0))
    assert forced.summary.sweep_angle_deg == 0.0
    assert forced.summary.turns > chosen.summary.turns
    assert forced.summary.est_flight_s > 1.2 * chosen.summary.est_flight_s


def test_endurance_too_short_is_a_clear_error():
    kw = replace(synthetic_water(5, radius_m=700), vehicle=VehicleSettings(endurance_min=2))
    with pytest.raises(PlanningError, match="endurance"):
        plan(kw)


@pytest.mark.parametrize("path", geofences.sample_paths(), ids=lambda p: p.name)
def test_samples_plan_with_full_coverage(path):
    kw = geofences.load(path)
    mp = plan(kw)
    assert mp.summary.coverage_pct >= 99.5
    assert all(len(s.items) <= 650 for s in mp.sorties)
    assert all(s.est_flight_s <= kw.vehicle.usable_s for s in mp.sorties)


def test_every_pattern_plans_the_lake():
    kw = geofences.load(next(p for p in geofences.sample_paths() if "lake" in p.name))
    for pattern in ("survey", "shoreline", "corridor"):
        mp = plan(kw, pattern)
        assert mp.pattern == pattern and mp.sorties
    with pytest.raises(PlanningError, match="pattern"):
        plan(kw, "spiral")


def test_plan_cli_writes_files_and_json(tmp_path):
    from mission.cli import _mount, app

    _mount()
    lake = next(p for p in geofences.sample_paths() if "lake" in p.name)
    res = CliRunner().invoke(app, ["plan", str(lake), "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert len(out[0]["sorties"]) >= 1
    for f in out[0]["files"]:
        assert (tmp_path / f.split("/")[-1]).stat().st_size > 0
