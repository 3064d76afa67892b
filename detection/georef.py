"""Pixel -> ground: where an image point lies on the water surface, and how sure we are.

Pure computation. The camera is a pinhole (``geofences.camera.Camera``) with
the principal point at the image centre; the water is a flat plane ``alt_m``
below the camera. Frames, all right-handed:

- world NED: x north, y east, z down (converted to east/north metres at the end);
- vehicle body FRD: x forward, y right, z down, rotated from NED by yaw, pitch, roll (Z-Y-X);
- gimbal: like the body, rotated by gimbal yaw, pitch, roll (-90 pitch looks straight down);
- camera (OpenCV): x image right, y image down, z along the optical axis.

A stabilised gimbal holds its pitch and roll in the earth frame, so the camera is
``Rz(yaw + gimbal yaw) Ry(gimbal pitch) Rx(gimbal roll)``; a camera fixed to the
body adds the vehicle's pitch and roll.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod

from detection.pose import Pose
from geofences.camera import Camera
from geofences.projection import LocalProjection

# gimbal axes (forward, right, down) -> camera axes (right, down, forward)
_GIMBAL_FROM_CAMERA = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])

# Radius holding ~95 % of a circular 2-D normal error (sqrt(-2 ln 0.05) sigma).
_RADIUS_95 = math.sqrt(-2.0 * math.log(0.05))

_WGS84 = Geod(ellps="WGS84")

# An oblique view reaches the horizon: its footprint stops this far from the point below the
# camera. From 25-60 m up, the 100 m uncertainty limit of ``locate`` stops placing people at
# about 300-400 m (measured), so no group is seen beyond it.
FOOTPRINT_MAX_RANGE_M = 300.0
FOOTPRINT_EDGE_POINTS = 8  # points per image edge: a tilted camera's edges curve on the ground


@dataclass(frozen=True)
class PoseErrors:
    """One-sigma errors of the inputs, for the uncertainty radius. Defaults: a small
    patrol drone with GNSS, a barometer and a stabilised gimbal."""

    attitude_deg: float = 1.0  # each axis of the camera's orientation
    altitude_m: float = 1.0
    pixel_px: float = 4.0  # where the foot point is in the box
    position_m: float = 2.0  # horizontal GNSS error of the vehicle


@dataclass(frozen=True)
class GroundPoint:
    """A point on the water: WGS84 and local metres (the projection's x east, y north)."""

    lat: float
    lon: float
    x_m: float
    y_m: float
    range_m: float  # horizontal distance from the camera
    uncertainty_m: float  # radius holding the true point with ~95 % probability


def _rx(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _zyx(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    return _rz(math.radians(yaw_deg)) @ _ry(math.radians(pitch_deg)) @ _rx(math.radians(roll_deg))


def camera_to_ned(pose: Pose) -> np.ndarray:
    """Rotation taking camera-frame vectors to world NED."""
    if pose.stabilised:
        gimbal = _zyx(
            pose.yaw_deg + pose.gimbal_yaw_deg, pose.gimbal_pitch_deg, pose.gimbal_roll_deg
        )
    else:
        body = _zyx(pose.yaw_deg, pose.pitch_deg, pose.roll_deg)
        gimbal = body @ _zyx(pose.gimbal_yaw_deg, pose.gimbal_pitch_deg, pose.gimbal_roll_deg)
    return gimbal @ _GIMBAL_FROM_CAMERA


def intrinsics(camera: Camera, image_size: tuple[int, int] | None) -> tuple[float, ...]:
    """(fx, fy, cx, cy) in pixels of an image of ``image_size`` (width, height).

    A stream may be scaled from the camera's native size; the field of view is the same.
    """
    w, h = image_size or (camera.image_width_px, camera.image_height_px)
    fx = camera.fx_px * w / camera.image_width_px
    fy = camera.fy_px * h / camera.image_height_px
    return fx, fy, w / 2.0, h / 2.0


def _rays(rot: np.ndarray, k: tuple[float, ...], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """World NED viewing rays (3 x n: north, east, down) of pixels ``u``, ``v``."""
    fx, fy, cx, cy = k
    return rot @ np.vstack([(u - cx) / fx, (v - cy) / fy, np.ones_like(u)])


def _ground_offset(
    rot: np.ndarray, k: tuple[float, ...], u: float, v: float, alt_m: float
) -> tuple[float, float] | None:
    ray = _rays(rot, k, np.array([u], float), np.array([v], float))[:, 0]
    if ray[2] <= 1e-9:  # at or above the horizon: never meets the water
        return None
    s = alt_m / ray[2]
    return float(ray[1] * s), float(ray[0] * s)  # east, north


def ground_offset_m(
    camera: Camera,
    pose: Pose,
    u: float,
    v: float,
    image_size: tuple[int, int] | None = None,
) -> tuple[float, float] | None:
    """(east, north) metres from the point below the camera to where pixel (u, v) meets the
    water, or None when the pixel looks at or above the horizon."""
    return _ground_offset(camera_to_ned(pose), intrinsics(camera, image_size), u, v, pose.alt_m)


def uncertainty_m(
    camera: Camera,
    pose: Pose,
    u: float,
    v: float,
    image_size: tuple[int, int] | None = None,
    errors: PoseErrors = PoseErrors(),
) -> float:
    """95 % radius of the ground point's error, from first-order propagation of ``errors``.

    Each input is moved by its one-sigma error and the shifts of the ground point
    are summed in quadrature. Infinite when a plausible error tips the ray over the horizon.
    """
    k = intrinsics(camera, image_size)
    rot = camera_to_ned(pose)
    base = _ground_offset(rot, k, u, v, pose.alt_m)
    if base is None:
        return math.inf
    da = math.radians(errors.attitude_deg)
    moved = [
        _ground_offset(_rx(da) @ rot, k, u, v, pose.alt_m),  # about north (roll-like)
        _ground_offset(_ry(da) @ rot, k, u, v, pose.alt_m),  # about east (pitch-like)
        _ground_offset(_rz(da) @ rot, k, u, v, pose.alt_m),  # about down (heading)
        _ground_offset(rot, k, u + errors.pixel_px, v, pose.alt_m),
        _ground_offset(rot, k, u, v + errors.pixel_px, pose.alt_m),
    ]
    if any(m is None for m in moved):
        return math.inf
    var = sum((m[0] - base[0]) ** 2 + (m[1] - base[1]) ** 2 for m in moved if m is not None)
    var += (math.hypot(*base) * errors.altitude_m / pose.alt_m) ** 2  # offset scales with height
    var += errors.position_m**2
    # the summed squared 2-D shifts are the variance of both axes together: per axis, var / 2
    return _RADIUS_95 * math.sqrt(var / 2.0)


def locate(
    camera: Camera,
    pose: Pose,
    u: float,
    v: float,
    projection: LocalProjection,
    image_size: tuple[int, int] | None = None,
    *,
    errors: PoseErrors = PoseErrors(),
    max_uncertainty_m: float = 100.0,
) -> GroundPoint | None:
    """Where pixel (u, v) meets the water, or None when it cannot be placed usefully
    (above the horizon, or so close to it that the error exceeds ``max_uncertainty_m``)."""
    offset = ground_offset_m(camera, pose, u, v, image_size)
    if offset is None:
        return None
    unc = uncertainty_m(camera, pose, u, v, image_size, errors)
    if unc > max_uncertainty_m:
        return None
    east, north = offset
    lon, lat = offset_to_lonlat(pose, np.array([east]), np.array([north]))
    x, y = projection.to_xy(float(lon[0]), float(lat[0]))
    return GroundPoint(
        lat=float(lat[0]),
        lon=float(lon[0]),
        x_m=x,
        y_m=y,
        range_m=math.hypot(east, north),
        uncertainty_m=unc,
    )


def offset_to_lonlat(
    pose: Pose, east: np.ndarray, north: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of points ``east``, ``north`` metres from the point below the camera.

    Along the ellipsoid, not on the UTM grid: grid north is off true north by the
    meridian convergence (about 0.6 degrees at Gongqingcheng), a metre per 100 m of range.
    """
    ones = np.ones(len(east))
    lon, lat, _ = _WGS84.fwd(
        pose.lon * ones, pose.lat * ones, np.degrees(np.arctan2(east, north)), np.hypot(east, north)
    )
    return np.asarray(lon), np.asarray(lat)


def ground_footprint(
    camera: Camera,
    pose: Pose,
    projection: LocalProjection,
    image_size: tuple[int, int] | None = None,
    max_range_m: float = FOOTPRINT_MAX_RANGE_M,
) -> shapely.Geometry | None:
    """The water-level ground an image covers, in ``projection``'s metres: its border projected
    through the camera, cut at ``max_range_m`` from the point below the camera. None when no
    part of the image looks below the horizon."""
    w, h = image_size or (camera.image_width_px, camera.image_height_px)
    n = FOOTPRINT_EDGE_POINTS
    steps = np.linspace(0.0, 1.0, n, endpoint=False)
    u = np.concatenate([steps * w, np.full(n, w), (1 - steps) * w, np.zeros(n)])
    v = np.concatenate([np.zeros(n), steps * h, np.full(n, h), (1 - steps) * h])
    north, east, down = _rays(camera_to_ned(pose), intrinsics(camera, (w, h)), u, v)
    flat = np.hypot(north, east)
    if not (down > 1e-9).any():
        return None
    # Past the horizon (or past twice the cut) a border point goes to twice the cut along its
    # bearing; the disc then cuts the polygon at the range.
    far = 2.0 * max_range_m
    with np.errstate(divide="ignore", invalid="ignore"):
        dist = np.where(down > 1e-9, pose.alt_m * flat / down, far)
    dist = np.minimum(dist, far)
    bearing = np.arctan2(east, north)
    ring = np.column_stack([dist * np.sin(bearing), dist * np.cos(bearing)])
    local = shapely.make_valid(shapely.Polygon(ring))
    cut = local.intersection(shapely.Point(0.0, 0.0).buffer(max_range_m, quad_segs=16))
    if cut.is_empty or cut.area <= 0.0:
        return None

    def to_lonlat(offsets: np.ndarray) -> np.ndarray:
        return np.column_stack(offset_to_lonlat(pose, offsets[:, 0], offsets[:, 1]))

    return projection.geom_to_m(shapely.transform(cut, to_lonlat))
