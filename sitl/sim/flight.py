"""Pure kinematics of the simulated copter: straight 3D legs on the WGS84 ellipsoid.

Position is latitude/longitude (degrees) plus altitude above home (metres);
velocity is north/east/up in m/s. Each step moves towards a target with
ArduPilot's position-controller limits (WPNAV_SPEED, climb WPNAV_SPEED_UP,
descent WPNAV_SPEED_DN, WPNAV_ACCEL): the horizontal and vertical motions are
scaled so the path is a straight line, speed is limited so the vehicle can
slow down to ``exit_speed`` at the target, and velocity changes by at most
the acceleration limit per second. Geodesy is pyproj.Geod (exact on the
ellipsoid). No I/O, no clock: the caller passes ``dt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pyproj import Geod

GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Pose:
    lat: float
    lon: float
    alt_m: float  # above home
    vn: float = 0.0
    ve: float = 0.0
    vu: float = 0.0
    yaw_deg: float = 0.0

    @property
    def ground_speed(self) -> float:
        return math.hypot(self.vn, self.ve)


@dataclass(frozen=True)
class Limits:
    speed_xy: float  # m/s
    speed_up: float
    speed_down: float
    accel_xy: float  # m/s/s
    accel_z: float


def distance_bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """Geodesic distance (m) and initial bearing (degrees 0..360) from point 1 to point 2."""
    az, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return float(dist), float(az % 360.0)


def offset(lat: float, lon: float, bearing_deg: float, dist_m: float) -> tuple[float, float]:
    """The point ``dist_m`` metres from (lat, lon) along ``bearing_deg``."""
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing_deg, dist_m)
    return float(lat2), float(lon2)


def turn_exit_speed(speed: float, leg_in_deg: float, leg_out_deg: float) -> float:
    """Speed allowed through a waypoint between legs: full straight on, zero at 90 deg or more."""
    turn = abs((leg_out_deg - leg_in_deg + 180.0) % 360.0 - 180.0)
    return max(0.0, speed * math.cos(math.radians(turn))) if turn < 90.0 else 0.0


def _limit(desired: float, current: float, max_change: float) -> float:
    return current + max(-max_change, min(max_change, desired - current))


def step_towards(
    pose: Pose,
    lat: float,
    lon: float,
    alt_m: float,
    limits: Limits,
    dt: float,
    exit_speed: float = 0.0,
) -> Pose:
    """One step of ``dt`` seconds towards (lat, lon, alt_m) along a straight 3D line."""
    dist_xy, bearing = distance_bearing(pose.lat, pose.lon, lat, lon)
    dz = alt_m - pose.alt_m
    v_z_max = limits.speed_up if dz > 0 else limits.speed_down
    t_xy = dist_xy / limits.speed_xy if limits.speed_xy > 0 else math.inf
    t_z = abs(dz) / v_z_max if v_z_max > 0 else math.inf
    t = max(t_xy if dist_xy > 1e-6 else 0.0, t_z if abs(dz) > 1e-6 else 0.0)
    if t <= 0.0 or math.isinf(t):
        want_xy, want_z = 0.0, 0.0
    else:
        want_xy = dist_xy / t
        want_z = dz / t
    # slow down in time to leave the target at exit_speed (sqrt(v^2 + 2ad))
    want_xy = min(want_xy, math.sqrt(exit_speed**2 + 2.0 * limits.accel_xy * dist_xy))
    want_z = math.copysign(min(abs(want_z), math.sqrt(2.0 * limits.accel_z * abs(dz))), dz)

    rad = math.radians(bearing)
    dv_max = limits.accel_xy * dt
    dvn, dve = want_xy * math.cos(rad) - pose.vn, want_xy * math.sin(rad) - pose.ve
    mag = math.hypot(dvn, dve)
    if mag > dv_max > 0:
        dvn, dve = dvn * dv_max / mag, dve * dv_max / mag
    vn, ve = pose.vn + dvn, pose.ve + dve
    vu = _limit(want_z, pose.vu, limits.accel_z * dt)

    speed = math.hypot(vn, ve)
    step_xy = speed * dt
    if step_xy >= dist_xy and (want_xy > 0.0 or dist_xy < 1e-6):
        new_lat, new_lon = lat, lon  # arrive this step; leave at no more than exit_speed
        if speed > exit_speed:
            scale = exit_speed / speed
            vn, ve = vn * scale, ve * scale
    elif step_xy > 0.0:
        new_lat, new_lon = offset(pose.lat, pose.lon, math.degrees(math.atan2(ve, vn)), step_xy)
    else:
        new_lat, new_lon = pose.lat, pose.lon
    step_z = vu * dt
    if abs(dz) < 1e-9 or (want_z != 0.0 and abs(step_z) >= abs(dz)):
        new_alt, vu = alt_m, 0.0  # at the target altitude: no vertical exit speed
    else:
        new_alt = pose.alt_m + step_z
    yaw = math.degrees(math.atan2(ve, vn)) % 360.0 if math.hypot(vn, ve) > 0.5 else pose.yaw_deg
    return replace(pose, lat=new_lat, lon=new_lon, alt_m=new_alt, vn=vn, ve=ve, vu=vu, yaw_deg=yaw)


def settle_on_ground(pose: Pose) -> Pose:
    """Touchdown: altitude 0 and no velocity."""
    return replace(pose, alt_m=0.0, vn=0.0, ve=0.0, vu=0.0)
