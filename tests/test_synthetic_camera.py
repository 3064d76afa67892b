"""The synthetic aerial camera: scene placement, rendering geometry against georef, streams, CLI."""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import replace

import cv2
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from typer.testing import CliRunner

import geofences
from detection.georef import locate
from detection.pose import Pose, static_pose
from detection.sources import FfmpegStreamSource, FrameReader
from geofences.projection import LocalProjection
from sitl.camera import (
    Assets,
    CameraError,
    SceneError,
    StreamError,
    SyntheticCamera,
    SyntheticCameraSource,
    UdpCameraStream,
    build_scene,
    coverage_of,
    default_assets,
    frames,
    parse_udp,
    pixel_of,
    render,
)
from sitl.camera import scene as scene_mod
from sitl.camera.textures import SKY_BGR, Texture
from sitl.endpoints import free_port

GEOD = Geod(ellps="WGS84")
SAMPLES = {p.stem: p for p in geofences.sample_paths()}
LAKE = geofences.load(SAMPLES["gqc-lake"])
WATER_BGR = (200, 40, 10)
LAND_BGR = (20, 160, 30)


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> tuple[float, float]:
    az = math.degrees(math.atan2(east_m, north_m))
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, math.hypot(east_m, north_m))
    return lat2, lon2


@pytest.fixture(scope="module")
def lake_scene():
    return build_scene(LAKE, seed=0)


@pytest.fixture(scope="module")
def flat_assets() -> Assets:
    """Plain water and land colours, so a pixel says which one it shows."""

    def flat(bgr: tuple[int, int, int]) -> Texture:
        return Texture(tuple(np.full((64 >> k, 64 >> k, 3), bgr, np.uint8) for k in range(4)))

    return Assets(water=flat(WATER_BGR), land=flat(LAND_BGR))


# -- scene --------------------------------------------------------------------------------


def _check_scene(kw, sc) -> None:
    proj = LocalProjection.around(kw.water.centroid.y, kw.water.centroid.x)
    water = proj.geom_to_m(kw.water)
    xy = {p.id: proj.to_xy(p.lon, p.lat) for p in sc.people}
    kinds = [p.kind for p in sc.people]
    assert kinds.count("swimmer_waving") == 1
    for p in sc.people:
        pt = shapely.Point(xy[p.id])
        if p.in_water:
            assert water.contains(pt), p
            assert water.boundary.distance(pt) >= scene_mod.SWIM_SHORE_M - 1e-6, p
        else:
            assert not water.contains(pt), p
            assert water.distance(pt) >= scene_mod.GROUP_SHORE_M[0] - 1e-6, p
    group = [xy[p.id] for p in sc.people if p.kind == "shore_group"]
    assert len(group) >= 5
    for a, b in itertools.combinations(group, 2):
        assert math.dist(a, b) <= 10.0
    swimmers = [xy[p.id] for p in sc.people if p.in_water]
    for a, b in itertools.combinations(swimmers, 2):
        assert math.dist(a, b) >= 12.0  # separate people, separate incidents


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_scene_places_everyone_where_the_design_says(name):
    kw = geofences.load(SAMPLES[name])
    sc = build_scene(kw, seed=3)
    _check_scene(kw, sc)
    counts = {k: sum(p.kind == k for p in sc.people) for k in scene_mod.KINDS}
    assert counts == {"swimmer": 2, "swimmer_waving": 1, "shore_group": 5, "land_walker": 3}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), swimmers=st.integers(1, 5), group=st.integers(5, 8))
def test_scene_invariants_hold_for_any_seed(seed, swimmers, group):
    sc = build_scene(LAKE, seed, swimmers=swimmers, group_size=group, walkers=2)
    _check_scene(LAKE, sc)
    assert sum(p.in_water for p in sc.people) == swimmers


def test_scene_is_deterministic_from_its_seed():
    a, b, c = build_scene(LAKE, 7), build_scene(LAKE, 7), build_scene(LAKE, 8)
    assert a.people == b.people
    assert a.people != c.people
    assert len({p.id for p in a.people}) == len(a.people)


def test_swimmers_gather_near_the_hotspot():
    proj = LocalProjection.around(LAKE.water.centroid.y, LAKE.water.centroid.x)
    spot = LAKE.hotspots[0]
    spot_m = proj.geom_to_m(spot.geometry)
    for seed in range(5):
        sc = build_scene(LAKE, seed, swimmers=4)
        near = [
            p
            for p in sc.people
            if p.in_water
            and spot_m.distance(shapely.Point(proj.to_xy(p.lon, p.lat))) <= spot.radius_m
        ]
        assert len(near) >= 2
        waving = next(p for p in sc.people if p.kind == "swimmer_waving")
        assert waving in near


def test_scene_stays_where_the_camera_looks():
    from mission.planner import plan

    mp = plan(LAKE)
    path = [pt for s in mp.sorties for pt in s.path_lonlat]
    width = min(LAKE.patrol.camera.footprint_m(LAKE.patrol.altitude_m))
    seen = coverage_of(path, width * 0.8)
    sc = build_scene(LAKE, seed=1, seen=seen)
    _check_scene(LAKE, sc)
    for p in sc.people:
        assert seen.contains(shapely.Point(p.lon, p.lat)), p


def test_scene_errors_say_what_to_fix():
    with pytest.raises(SceneError, match="swimmers=0"):
        build_scene(LAKE, swimmers=0)
    with pytest.raises(SceneError, match="group_size=1"):
        build_scene(LAKE, group_size=1)
    # a ditch 10 m wide has no water 8 m from both banks
    c = LAKE.water.centroid
    proj = LocalProjection.around(c.y, c.x)
    x, y = proj.to_xy(c.x, c.y)
    ditch = proj.geom_to_lonlat(shapely.box(x, y, x + 300, y + 10))
    kw = replace(LAKE, water=shapely.MultiPolygon([ditch]), hotspots=())
    with pytest.raises(SceneError, match="no open water"):
        build_scene(kw)
    with pytest.raises(SceneError, match="no person 'nobody'"):
        build_scene(LAKE).person("nobody")


# -- rendering ----------------------------------------------------------------------------


POSES = [
    dict(yaw_deg=0.0),
    dict(yaw_deg=137.0, roll_deg=8.0, pitch_deg=-6.0),  # stabilised gimbal: still nadir
    dict(yaw_deg=-75.0, gimbal_yaw_deg=30.0),
    dict(yaw_deg=250.0, roll_deg=5.0, pitch_deg=4.0, stabilised=False),  # fixed camera: tilted
]


@pytest.mark.parametrize("attitude", POSES)
def test_georeferencing_a_rendered_foot_gives_the_person_back(lake_scene, attitude):
    cam = LAKE.patrol.camera
    proj = LocalProjection.around(LAKE.water.centroid.y, LAKE.water.centroid.x)
    checked = 0
    for k, person in enumerate(lake_scene.people):
        lat, lon = _offset(person.lat, person.lon, 6.0 - k, 4.0 + 0.5 * k)  # off-centre
        pose = Pose(t=0.0, lat=lat, lon=lon, alt_m=45.0, **attitude)
        seen = {v.id: v for v in render(lake_scene, cam, pose).people}
        v = seen[person.id]
        x1, _, x2, y2 = v.box_xyxy
        if v.visible_fraction < 1.0:
            continue
        g = locate(cam, pose, (x1 + x2) / 2.0, y2, proj)  # a detector's foot: box bottom-centre
        assert g is not None
        assert _distance_m(g.lat, g.lon, person.lat, person.lon) < 0.15, (person.id, attitude)
        checked += 1
    assert checked >= len(lake_scene.people) - 2


def test_oblique_view_round_trip_within_a_metre(lake_scene):
    cam = LAKE.patrol.camera
    proj = LocalProjection.around(LAKE.water.centroid.y, LAKE.water.centroid.x)
    person = lake_scene.person("swimmer-1")
    lat, lon = _offset(person.lat, person.lon, 0.0, -60.0)  # 60 m south, looking north
    pose = Pose(t=0.0, lat=lat, lon=lon, alt_m=40.0, yaw_deg=0.0, gimbal_pitch_deg=-35.0)
    v = {v.id: v for v in render(lake_scene, cam, pose).people}[person.id]
    x1, _, x2, y2 = v.box_xyxy
    g = locate(cam, pose, (x1 + x2) / 2.0, y2, proj)
    assert g is not None
    assert _distance_m(g.lat, g.lon, person.lat, person.lon) < 1.0


@pytest.mark.parametrize(
    "attitude",
    [
        dict(yaw_deg=33.0),
        dict(yaw_deg=270.0, gimbal_pitch_deg=-50.0),
        dict(yaw_deg=100.0, gimbal_pitch_deg=-15.0),
    ],
)
def test_water_and_land_pixels_follow_the_polygon(flat_assets, attitude):
    """Every sampled pixel shows water exactly where georef puts it inside the key water."""
    cam = LAKE.patrol.camera
    sc = replace(build_scene(LAKE, 0), people=())
    ring = list(LAKE.water.geoms[0].exterior.coords)
    lon, lat = ring[5]  # over the north-east shore
    pose = Pose(t=0.0, lat=lat, lon=lon, alt_m=50.0, **attitude)
    size = (640, 360)
    img = render(sc, cam, pose, size=size, assets=flat_assets).image
    proj = LocalProjection.around(lat, lon)
    water_m = proj.geom_to_m(LAKE.water)
    band = water_m.boundary.buffer(2.0)  # the sand strip and edge pixels: either may be right
    counts = {"water": 0, "land": 0, "sky": 0}
    for v in range(4, size[1], 23):
        for u in range(4, size[0], 31):
            g = locate(cam, pose, u, v, proj, size, max_uncertainty_m=math.inf)
            px = tuple(int(c) for c in img[v, u])
            if g is None:
                continue
            pt = shapely.Point(g.x_m, g.y_m)
            if band.contains(pt):
                continue
            expect = WATER_BGR if water_m.contains(pt) else LAND_BGR
            if px == SKY_BGR:  # the horizon guard is a little conservative
                counts["sky"] += 1
                continue
            assert px == expect, (u, v, px, expect)
            counts["water" if expect == WATER_BGR else "land"] += 1
    assert counts["water"] > 20 and counts["land"] > 20
    assert counts["sky"] <= 10


def test_sky_above_the_horizon(lake_scene):
    cam = LAKE.patrol.camera
    p = lake_scene.person("swimmer-3")
    pose = Pose(t=0.0, lat=p.lat, lon=p.lon, alt_m=30.0, yaw_deg=90.0, gimbal_pitch_deg=-5.0)
    fr = render(lake_scene, cam, pose, size=(480, 270))
    assert (fr.image[:20] == SKY_BGR).all()
    assert not (fr.image[-20:] == SKY_BGR).all(axis=-1).any()
    assert math.isinf(render(lake_scene, cam, replace(pose, gimbal_pitch_deg=30.0)).gsd_m)


def test_people_are_drawn_where_the_truth_says(lake_scene):
    cam = LAKE.patrol.camera
    empty = replace(lake_scene, people=())
    g1 = lake_scene.person("group-1")
    pose = Pose(t=0.0, lat=g1.lat, lon=g1.lon, alt_m=35.0, yaw_deg=20.0)
    fr = render(lake_scene, cam, pose)
    bare = render(empty, cam, pose).image
    assert {v.id for v in fr.people} >= {f"group-{i}" for i in range(1, 6)}
    diff = np.abs(fr.image.astype(int) - bare.astype(int)).sum(axis=2)
    inside = np.zeros(diff.shape, bool)
    for v in fr.people:
        x1, y1, x2, y2 = (int(c) for c in v.box_xyxy)
        inside[y1:y2, x1:x2] = True
        assert diff[y1:y2, x1:x2].mean() > 20, v.id  # a person, not the ground
        assert v.height_px == pytest.approx(
            lake_scene.person(v.id).height_m / cam.gsd_m(35.0), rel=0.03
        )
    assert not diff[~inside].any()  # nothing drawn outside the boxes


def test_the_waving_swimmer_holds_arms_above_the_head(lake_scene):
    cam = LAKE.patrol.camera
    for pid in ("swimmer-1", "swimmer-2", "swimmer-3"):
        p = lake_scene.person(pid)
        pose = Pose(t=0.0, lat=p.lat, lon=p.lon, alt_m=30.0)
        v = {v.id: v for v in render(lake_scene, cam, pose).people}[pid]
        tall = (v.box_xyxy[3] - v.box_xyxy[1]) / v.height_px
        if p.kind == "swimmer_waving":
            assert tall > 1.25  # hands well above the head
        else:
            assert tall == pytest.approx(1.0, abs=0.05)


def test_render_is_deterministic_and_scales_with_altitude(lake_scene):
    cam = LAKE.patrol.camera
    p = lake_scene.person("swimmer-1")
    pose = Pose(t=0.0, lat=p.lat, lon=p.lon, alt_m=40.0, yaw_deg=10.0)
    a, b = render(lake_scene, cam, pose), render(lake_scene, cam, pose)
    assert np.array_equal(a.image, b.image) and a.people == b.people
    assert a.gsd_m == pytest.approx(cam.gsd_m(40.0), rel=0.01)
    high = render(lake_scene, cam, replace(pose, alt_m=80.0))
    h40 = {v.id: v.height_px for v in a.people}[p.id]
    h80 = {v.id: v.height_px for v in high.people}[p.id]
    assert h80 == pytest.approx(h40 / 2, rel=0.01)


def test_people_at_the_frame_edge_are_clipped(lake_scene):
    cam = LAKE.patrol.camera
    p = lake_scene.person("walker-1")
    half_w = cam.footprint_m(40.0)[0] / 2
    lat, lon = _offset(p.lat, p.lon, -half_w, 0.0)  # the walker on the right edge, yaw 0
    fr = render(lake_scene, cam, Pose(t=0.0, lat=lat, lon=lon, alt_m=40.0))
    v = {v.id: v for v in fr.people}[p.id]
    assert 0.0 < v.visible_fraction < 1.0
    assert v.box_xyxy[2] <= cam.image_width_px
    assert pixel_of(cam, fr.pose, p.lat, p.lon)[0] == pytest.approx(v.foot_px[0])


def test_render_rejects_what_cannot_be_drawn(lake_scene):
    cam = LAKE.patrol.camera
    pose = Pose(t=0.0, lat=29.23, lon=115.77, alt_m=0.0)
    with pytest.raises(CameraError, match="above the water"):
        render(lake_scene, cam, pose)
    with pytest.raises(CameraError, match="too small"):
        render(lake_scene, cam, replace(pose, alt_m=10.0), size=(8, 8))


# -- time and streams ---------------------------------------------------------------------


def _camera_over(sc, person_id: str, size=(480, 270), **kw) -> SyntheticCamera:
    p = sc.person(person_id)
    pose = Pose(t=0.0, lat=p.lat, lon=p.lon, alt_m=40.0)
    return SyntheticCamera(sc, LAKE.patrol.camera, static_pose(pose), size=size, **kw)


def test_frames_are_paced_and_stamped(lake_scene, tmp_path):
    log = tmp_path / "truth.jsonl"
    with _camera_over(lake_scene, "swimmer-2", truth_log=log) as cam:
        t0 = time.time()
        got = list(frames(cam, fps=20.0, count=6))
    stamps = [c.frame.t_capture for c in got]
    assert [c.frame.index for c in got] == list(range(6))
    assert all(t0 - 0.01 <= t <= time.time() for t in stamps)
    assert np.diff(stamps) == pytest.approx([0.05] * 5, abs=0.03)
    assert all(c.frame.image.shape == (270, 480, 3) for c in got)
    assert cam.first_seen["swimmer-2"] == pytest.approx(stamps[0])
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(lines) == 6
    assert [p["id"] for p in lines[0]["people"]] == ["swimmer-2"]
    assert lines[3]["pose"]["alt_m"] == 40.0
    with pytest.raises(StreamError, match="count= or duration_s="):
        next(frames(cam))


def test_no_telemetry_gives_dark_frames_and_ground_is_clamped(lake_scene):
    poses = {"now": None}
    cam = SyntheticCamera(lake_scene, LAKE.patrol.camera, lambda t: poses["now"], size=(160, 90))
    dark = cam.capture()
    assert dark.pose is None and not dark.people and int(dark.frame.image.max()) < 60
    p = lake_scene.person("swimmer-1")
    poses["now"] = Pose(t=0.0, lat=p.lat, lon=p.lon, alt_m=0.0)  # landed: on the ground
    landed = cam.capture()
    assert landed.pose is not None and landed.pose.alt_m == 1.0


def test_source_feeds_the_frame_reader(lake_scene):
    cam = _camera_over(lake_scene, "swimmer-1")
    source = SyntheticCameraSource(cam, fps=25.0)
    with FrameReader(source) as reader:
        got = [reader.next_frame(timeout_s=2.0) for _ in range(3)]
    assert all(f is not None and f.image.shape == (270, 480, 3) for f in got)
    assert source.last is not None and source.last.people[0].id == "swimmer-1"
    t0 = time.monotonic()
    source.open()
    source.interrupt()
    with pytest.raises(Exception, match="interrupted"):
        source.read(5.0)
    assert time.monotonic() - t0 < 1.0


def test_udp_stream_carries_the_rendered_frames(lake_scene):
    cam = _camera_over(lake_scene, "group-3", size=(320, 180))
    port = free_port()
    reference = cam.capture().frame.image
    with UdpCameraStream(cam, port, fps=15.0) as stream:
        source = FfmpegStreamSource(stream.url)
        source.open()
        try:
            got = [source.read(10.0) for _ in range(5)]
        finally:
            source.close()
        stats = stream.stats
    assert stats.frames_sent >= 5 and stats.running
    img = got[-1].image
    assert img.shape == reference.shape
    assert cv2.PSNR(img, reference) > 25.0  # the same picture through H.264


def test_stream_errors_say_what_to_fix(lake_scene):
    cam = _camera_over(lake_scene, "swimmer-1")
    with pytest.raises(StreamError, match=r"1\.\.65535"):
        UdpCameraStream(cam, 70000)
    with pytest.raises(StreamError, match="fps"):
        UdpCameraStream(cam, 5600, fps=0)
    with pytest.raises(StreamError, match="HOST:PORT"):
        parse_udp("localhost:http")
    assert parse_udp("5601") == ("127.0.0.1", 5601)
    assert parse_udp("127.0.0.1:5602") == ("127.0.0.1", 5602)
    with pytest.raises(StreamError, match="truth log"):
        SyntheticCamera(lake_scene, LAKE.patrol.camera, lambda t: None, truth_log="/nonexistent/x")


def test_assets_are_shared_and_sprites_cached(lake_scene):
    a = default_assets()
    assert a is default_assets()
    p = lake_scene.person("swimmer-2")
    s1 = a.sprite(p, 60, False)
    assert a.sprite(p, 60, False) is s1
    assert np.array_equal(a.sprite(p, 60, True), s1[:, ::-1])


# -- command line -------------------------------------------------------------------------


def test_scene_command_lists_and_pictures(tmp_path):
    from sitl.camera_cli import app

    out = CliRunner().invoke(
        app,
        ["scene", str(SAMPLES["gqc-lake"]), "--seed", "2", "--json", "--pictures", str(tmp_path)],
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    # the CLI's default look is "auto": real swimmers where ../shared has them
    assert doc["people"] == build_scene(LAKE, 2, swimmer_look="auto").to_json()["people"]
    assert len(doc["pictures"]) == len(doc["people"])
    img = cv2.imread(doc["pictures"][0])
    assert img.shape == (1080, 1920, 3)
    text = CliRunner().invoke(app, ["scene", str(SAMPLES["gqc-lake"])])
    assert text.exit_code == 0 and "swimmer_waving" in text.output


@pytest.mark.slow
def test_camera_command_follows_the_vehicle(sim_vehicle_factory, tmp_path):
    from sitl.camera_cli import app

    launch = LAKE.launch
    vehicle = sim_vehicle_factory(home=(launch.lat, launch.lon, launch.alt_amsl_m))
    truth = tmp_path / "truth.jsonl"
    args = ["camera", str(SAMPLES["gqc-lake"]), "--connect", vehicle.url]
    args += ["--udp", f"127.0.0.1:{free_port()}", "--fps", "5", "--size", "320x180"]
    args += ["--duration", "3", "--truth", str(truth), "--json"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["frames_sent"] >= 8 and doc["telemetry_messages"] > 0
    poses = [json.loads(x)["pose"] for x in truth.read_text().splitlines()]
    placed = [p for p in poses if p is not None]
    assert placed, "no frame was rendered from telemetry"
    assert _distance_m(placed[-1]["lat"], placed[-1]["lon"], launch.lat, launch.lon) < 5.0


def test_camera_command_rejects_a_bad_stream_address():
    from sitl.camera_cli import app

    out = CliRunner().invoke(
        app, ["camera", str(SAMPLES["gqc-lake"]), "--connect", "tcp:127.0.0.1:1", "--udp", "x:0"]
    )
    assert isinstance(out.exception, StreamError)
    assert "HOST:PORT" in str(out.exception)


# -- the project's detector on rendered frames ----------------------------------------------


@pytest.mark.slow
def test_the_detector_finds_the_swimmers_and_reads_the_raised_arms():
    from detection.detector import Detector
    from detection.rules import arms_raised
    from sitl.demo import DEMO_RELIABLE_PX

    cam = LAKE.patrol.camera
    sc = build_scene(LAKE, seed=1)
    # as the demo runs it: the rendered people need ~100 px in the model input, not 78
    px = cam.person_height_px(30.0)
    with Detector(person_px=px, reliable_px=DEMO_RELIABLE_PX, workers=1) as det:
        for p in (q for q in sc.people if q.in_water):
            fr = render(sc, cam, Pose(0.0, p.lat + 2e-5, p.lon - 2e-5, 30.0, yaw_deg=60.0))
            truth = next(v for v in fr.people if v.id == p.id)
            hits = [d for d in det.detect(fr.image) if _iou(d.box_xyxy, truth.box_xyxy) >= 0.4]
            assert hits, f"{p.id} not detected"
            raised = arms_raised(hits[0].keypoints)
            assert (raised is True) == (p.kind == "swimmer_waving"), (p.id, raised)


def _iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
