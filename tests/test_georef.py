"""Pixel -> ground against hand-computed cases: nadir, oblique, yawed, rolled, pitched."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from detection.georef import PoseErrors, camera_to_ned, ground_offset_m, locate, uncertainty_m
from detection.pose import Pose
from geofences.camera import PRESETS, Camera
from geofences.projection import LocalProjection

CAM = PRESETS["generic-1080p"]  # 6.17 x 3.47 mm sensor, 4.5 mm lens, 1920 x 1080
LAT, LON = 29.2330, 115.7780
W, H = CAM.image_width_px, CAM.image_height_px


def pose(**kw: float) -> Pose:
    base = dict(t=0.0, lat=LAT, lon=LON, alt_m=40.0)
    base.update(kw)
    return Pose(**base)  # type: ignore[arg-type]


def offset(p: Pose, u: float, v: float, size: tuple[int, int] | None = None) -> tuple[float, float]:
    out = ground_offset_m(CAM, p, u, v, size)
    assert out is not None
    return out


def test_nadir_centre_is_below_the_camera() -> None:
    assert offset(pose(), W / 2, H / 2) == pytest.approx((0.0, 0.0), abs=1e-9)


def test_nadir_edges_span_the_footprint() -> None:
    # straight down, heading north: image right is east, image up is north
    width_m, height_m = CAM.footprint_m(40.0)  # 40 * 6.17 / 4.5, 40 * 3.47 / 4.5
    assert offset(pose(), W, H / 2) == pytest.approx((width_m / 2, 0.0), abs=1e-9)
    assert offset(pose(), 0, H / 2) == pytest.approx((-width_m / 2, 0.0), abs=1e-9)
    assert offset(pose(), W / 2, 0) == pytest.approx((0.0, height_m / 2), abs=1e-9)
    assert offset(pose(), W / 2, H) == pytest.approx((0.0, -height_m / 2), abs=1e-9)
    assert width_m / 2 == pytest.approx(27.4222, abs=1e-4)


def test_oblique_centre_lies_ahead() -> None:
    assert offset(pose(gimbal_pitch_deg=-45), W / 2, H / 2) == pytest.approx((0.0, 40.0))
    ahead = 40.0 / math.tan(math.radians(30))
    assert offset(pose(gimbal_pitch_deg=-30), W / 2, H / 2) == pytest.approx((0.0, ahead))


def test_oblique_pixel_above_centre_lies_further() -> None:
    # 100 px above the centre looks atan(100 / fy) higher than the optical axis
    fy = CAM.fy_px
    depression = math.radians(45) - math.atan(100 / fy)
    assert offset(pose(gimbal_pitch_deg=-45), W / 2, H / 2 - 100) == pytest.approx(
        (0.0, 40.0 / math.tan(depression))
    )


def test_yawed_heading_turns_the_view() -> None:
    assert offset(pose(yaw_deg=90, gimbal_pitch_deg=-45), W / 2, H / 2) == pytest.approx(
        (40.0, 0.0)
    )
    assert offset(pose(yaw_deg=-135, gimbal_pitch_deg=-45), W / 2, H / 2) == pytest.approx(
        (-40.0 / math.sqrt(2), -40.0 / math.sqrt(2))
    )
    # gimbal yaw adds to the heading
    assert offset(pose(yaw_deg=60, gimbal_yaw_deg=30, gimbal_pitch_deg=-45), W / 2, H / 2) == (
        pytest.approx((40.0, 0.0))
    )


def test_yawed_nadir_rotates_image_axes() -> None:
    # heading east at nadir: image right points south
    half_w = CAM.footprint_m(40.0)[0] / 2
    assert offset(pose(yaw_deg=90), W, H / 2) == pytest.approx((0.0, -half_w), abs=1e-9)


def test_rolled_body_camera_looks_to_the_low_side() -> None:
    # right wing down 10 deg: the belly (and a camera fixed to it) faces left = west
    e, n = offset(pose(roll_deg=10, stabilised=False), W / 2, H / 2)
    assert (e, n) == pytest.approx((-40.0 * math.tan(math.radians(10)), 0.0), abs=1e-9)


def test_pitched_body_camera_looks_forward_when_nose_up() -> None:
    e, n = offset(pose(pitch_deg=10, stabilised=False), W / 2, H / 2)
    assert (e, n) == pytest.approx((0.0, 40.0 * math.tan(math.radians(10))), abs=1e-9)


def test_stabilised_gimbal_ignores_vehicle_roll_and_pitch() -> None:
    level = offset(pose(gimbal_pitch_deg=-50), 300, 200)
    tilted = offset(pose(gimbal_pitch_deg=-50, roll_deg=12, pitch_deg=-8), 300, 200)
    assert tilted == pytest.approx(level)


def test_gimbal_roll_at_nadir_turns_the_image_about_the_centre() -> None:
    # rolling about the optical axis (pointing down) by +30 is a clockwise turn seen
    # from above: image right (east) turns to bearing 120
    half_w = CAM.footprint_m(40.0)[0] / 2
    p = pose(gimbal_roll_deg=30)
    assert offset(p, W / 2, H / 2) == pytest.approx((0.0, 0.0), abs=1e-9)
    c, s = math.cos(math.radians(30)), math.sin(math.radians(30))
    assert offset(p, W, H / 2) == pytest.approx((half_w * c, -half_w * s))


def test_scaled_stream_maps_like_native_resolution() -> None:
    p = pose(gimbal_pitch_deg=-60, yaw_deg=20)
    native = offset(p, 1440, 270)
    half = offset(p, 720, 135, (960, 540))
    assert half == pytest.approx(native)


def test_above_horizon_is_none() -> None:
    p = pose(gimbal_pitch_deg=0)
    assert ground_offset_m(CAM, p, W / 2, 0) is None  # above the horizon
    assert ground_offset_m(CAM, p, W / 2, H / 2) is None  # exactly at it
    assert ground_offset_m(CAM, p, W / 2, H) is not None  # below it


def test_locate_places_lat_lon_at_range_and_bearing() -> None:
    proj = LocalProjection.around(LAT, LON)
    p = pose(yaw_deg=90, gimbal_pitch_deg=-45)
    g = locate(CAM, p, W / 2, H / 2, proj)
    assert g is not None
    az, _, dist = Geod(ellps="WGS84").inv(LON, LAT, g.lon, g.lat)
    assert dist == pytest.approx(40.0, abs=1e-6)
    assert az == pytest.approx(90.0, abs=1e-6)
    assert g.range_m == pytest.approx(40.0)
    x0, y0 = proj.to_xy(LON, LAT)
    # UTM grid distance: scale factor ~0.9996-1.0004 near the central meridian
    assert math.hypot(g.x_m - x0, g.y_m - y0) == pytest.approx(40.0, rel=1e-3)


def test_uncertainty_at_nadir_centre_by_hand() -> None:
    e = PoseErrors(attitude_deg=1.0, altitude_m=1.0, pixel_px=4.0, position_m=2.0)
    alt = 40.0
    tilt = alt * math.tan(math.radians(1.0))  # two tilt axes; heading error moves nothing here
    px = 4.0 * alt / CAM.fx_px  # u and v (fx == fy within 0.1 % for this camera)
    px_v = 4.0 * alt / CAM.fy_px
    var = 2 * tilt**2 + px**2 + px_v**2 + 0.0 + 2.0**2  # altitude error moves the centre 0 m
    expected = math.sqrt(-2 * math.log(0.05)) * math.sqrt(var / 2)
    assert uncertainty_m(CAM, pose(alt_m=alt), W / 2, H / 2, None, e) == pytest.approx(
        expected, rel=1e-3
    )


def test_uncertainty_grows_with_obliqueness_and_height() -> None:
    steep = uncertainty_m(CAM, pose(gimbal_pitch_deg=-80), W / 2, H / 2)
    shallow = uncertainty_m(CAM, pose(gimbal_pitch_deg=-20), W / 2, H / 2)
    low = uncertainty_m(CAM, pose(alt_m=20), W / 2, H / 2)
    high = uncertainty_m(CAM, pose(alt_m=80), W / 2, H / 2)
    assert steep < shallow
    assert low < high
    assert math.isinf(uncertainty_m(CAM, pose(gimbal_pitch_deg=-0.5), W / 2, H / 2))


def test_locate_refuses_points_too_uncertain() -> None:
    proj = LocalProjection.around(LAT, LON)
    p = pose(gimbal_pitch_deg=-3)
    assert locate(CAM, p, W / 2, H / 2, proj, max_uncertainty_m=50) is None
    assert locate(CAM, p, W / 2, H / 2, proj, max_uncertainty_m=1e6) is not None


@settings(max_examples=60, deadline=None)
@given(
    yaw=st.floats(-180, 180),
    g_pitch=st.floats(-90, -15),
    g_yaw=st.floats(-60, 60),
    roll=st.floats(-20, 20),
    pitch=st.floats(-20, 20),
    alt=st.floats(5, 150),
    u=st.floats(0, 1920),
    v=st.floats(0, 1080),
    stabilised=st.booleans(),
)
def test_ground_point_projects_back_to_its_pixel(
    yaw: float,
    g_pitch: float,
    g_yaw: float,
    roll: float,
    pitch: float,
    alt: float,
    u: float,
    v: float,
    stabilised: bool,
) -> None:
    p = pose(
        yaw_deg=yaw,
        gimbal_pitch_deg=g_pitch,
        gimbal_yaw_deg=g_yaw,
        roll_deg=roll,
        pitch_deg=pitch,
        alt_m=alt,
        stabilised=stabilised,
    )
    out = ground_offset_m(CAM, p, u, v)
    if out is None:
        return
    east, north = out
    # pinhole projection of the NED point (north, east, alt) back into the camera
    cam = camera_to_ned(p).T @ np.array([north, east, alt])
    assert cam[2] > 0
    assert cam[0] / cam[2] * CAM.fx_px + W / 2 == pytest.approx(u, abs=1e-6)
    assert cam[1] / cam[2] * CAM.fy_px + H / 2 == pytest.approx(v, abs=1e-6)


def test_rotation_is_orthonormal() -> None:
    r = camera_to_ned(
        pose(yaw_deg=33, roll_deg=7, pitch_deg=-4, gimbal_pitch_deg=-61, stabilised=False)
    )
    assert r @ r.T == pytest.approx(np.eye(3))
    assert np.linalg.det(r) == pytest.approx(1.0)


def test_custom_camera_intrinsics() -> None:
    cam = Camera(10.0, 10.0, 10.0, 1000, 1000)  # half-width 5 mm at 10 mm: 0.5 m per m
    e, n = ground_offset_m(cam, pose(alt_m=10.0), 1000, 500)  # type: ignore[misc]
    assert (e, n) == pytest.approx((5.0, 0.0))
