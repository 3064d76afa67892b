"""Hand-built KeyWater and MissionPlan for the export tests (a small lake near 29.25 N, 115.80 E).

Built from the shared types only, so the export tests do not depend on the
planner; ``test_export_write_all`` also runs the real planner on a sample file.
"""

from __future__ import annotations

import itertools
import math

from shapely.geometry import MultiPolygon, Point, Polygon

from geofences.model import Hotspot, KeyWater, Launch, NoFlyZone, PatrolSettings
from geofences.projection import LocalProjection
from mission.items import Cmd, Frame, MissionItem, MissionType, home_item
from mission.plan import MissionPlan, PlanSummary, Sortie

LAT0, LON0 = 29.25, 115.80
PROJ = LocalProjection.around(LAT0, LON0)
X0, Y0 = PROJ.to_xy(LON0, LAT0)
ALT_M = 40.0


def lonlat(x_m: float, y_m: float) -> tuple[float, float]:
    """Metres east/north of (LAT0, LON0) -> (lon, lat)."""
    return PROJ.to_lonlat(X0 + x_m, Y0 + y_m)


def _poly_m(points_m: list[tuple[float, float]], holes_m=()) -> Polygon:
    return Polygon([lonlat(*p) for p in points_m], [[lonlat(*p) for p in h] for h in holes_m])


def sample_keywater() -> KeyWater:
    shore = [(0, 0), (900, -60), (1000, 400), (700, 650), (150, 600), (-80, 300)]
    island = [(400, 250), (520, 250), (520, 340), (400, 340)]
    nofly = _poly_m([(750, 420), (900, 420), (900, 560), (750, 560)])
    lon, lat = lonlat(-120, 120)
    return KeyWater(
        id="test-lake",
        name="Test lake",
        water=MultiPolygon([_poly_m(shore, [island])]),
        launch=Launch(lat=lat, lon=lon, alt_amsl_m=21.5),
        priority=2,
        no_fly=(NoFlyZone("bridge", nofly),),
        hotspots=(Hotspot("beach", Point(*lonlat(100, 50)), 40.0),),
        patrol=PatrolSettings(altitude_m=ALT_M, speed_m_s=7.5),
    )


def _wp(x_m: float, y_m: float, **kw) -> MissionItem:
    lon, lat = lonlat(x_m, y_m)
    return MissionItem.at(Cmd.NAV_WAYPOINT, lat, lon, ALT_M, frame=Frame.GLOBAL_RELATIVE_ALT, **kw)


def _sortie(index: int, lanes_y: list[float], launch: Launch) -> Sortie:
    pts = []
    for k, y in enumerate(lanes_y):
        row = [(60.0, y), (880.0, y)]
        pts += row if k % 2 == 0 else row[::-1]
    items = [
        home_item(launch.lat, launch.lon, launch.alt_amsl_m),
        MissionItem.at(
            Cmd.NAV_TAKEOFF, launch.lat, launch.lon, ALT_M, frame=Frame.GLOBAL_RELATIVE_ALT
        ),
        MissionItem(Cmd.DO_CHANGE_SPEED, Frame.MISSION, param1=1, param2=7.5, param3=-1),
        MissionItem(Cmd.DO_MOUNT_CONTROL, Frame.MISSION, param1=-90.0, z=2),
    ]
    # A NaN param4 (yaw: keep) exercises null in .plan files and NaN in .waypoints.
    items += [_wp(x, y, param4=math.nan if i == 1 else 0.0) for i, (x, y) in enumerate(pts)]
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH, Frame.MISSION))
    path = [(launch.lon, launch.lat)] + [lonlat(x, y) for x, y in pts]
    length = sum(math.dist(a, b) for a, b in itertools.pairwise(pts))
    return Sortie(index, tuple(items), tuple(path), length, length / 7.5 + 60.0)


def _ring_items(points_m, cmd: Cmd) -> list[MissionItem]:
    out = []
    for x, y in points_m:
        lon, lat = lonlat(x, y)
        out.append(
            MissionItem.at(
                cmd,
                lat,
                lon,
                0.0,
                frame=Frame.GLOBAL,
                param1=len(points_m),
                mission_type=MissionType.FENCE,
            )
        )
    return out


FENCE_INCLUSION_M = [(-150, -100), (950, -110), (1050, 420), (720, 700), (120, 660), (-160, 320)]
FENCE_EXCLUSION_M = [(745, 415), (905, 415), (905, 565), (745, 565)]
RALLY_M = [(-120, 120), (1000, 300)]


def sample_plan(sorties: int = 2) -> MissionPlan:
    kw = sample_keywater()
    lanes = [0.0 + 60.0 * k for k in range(1, 9)]
    chunks = [lanes[i::sorties] for i in range(sorties)]
    fence = _ring_items(FENCE_INCLUSION_M, Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION)
    fence += _ring_items(FENCE_EXCLUSION_M, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
    rally = []
    for x, y in RALLY_M:
        lon, lat = lonlat(x, y)
        rally.append(
            MissionItem.at(
                Cmd.NAV_RALLY_POINT,
                lat,
                lon,
                30.0,
                frame=Frame.GLOBAL_RELATIVE_ALT,
                mission_type=MissionType.RALLY,
            )
        )
    plan_sorties = tuple(_sortie(i + 1, chunk, kw.launch) for i, chunk in enumerate(chunks))
    return MissionPlan(
        key_water_id=kw.id,
        key_water_name=kw.name,
        pattern="survey",
        home=(kw.launch.lat, kw.launch.lon, kw.launch.alt_amsl_m),
        altitude_m=ALT_M,
        sorties=plan_sorties,
        fence=tuple(fence),
        rally=tuple(rally),
        summary=PlanSummary(
            area_km2=0.5312,
            path_km=sum(s.length_m for s in plan_sorties) / 1000,
            lanes=len(lanes),
            turns=len(lanes) - 1,
            est_flight_s=sum(s.est_flight_s for s in plan_sorties),
            sorties=sorties,
            coverage_pct=97.64,
            sweep_angle_deg=90.0,
            line_spacing_m=60.0,
            gsd_cm=3.57,
        ),
        fence_params={"FENCE_ENABLE": 1, "FENCE_TYPE": 6},
    )


def test_sample_plan_is_consistent() -> None:
    plan = sample_plan()
    kw = sample_keywater()
    assert kw.water.is_valid and len(kw.water.geoms[0].interiors) == 1
    for sortie in plan.sorties:
        assert sortie.items[0].frame == Frame.GLOBAL
        assert sortie.items[-1].command == Cmd.NAV_RETURN_TO_LAUNCH
    counts = [int(it.param1) for it in plan.fence]
    assert counts == [len(FENCE_INCLUSION_M)] * 6 + [len(FENCE_EXCLUSION_M)] * 4
