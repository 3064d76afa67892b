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

import itertools
import math
from dataclasses import dataclass, replace

from pyproj import Geod

GEOD = Geod(ellps="WGS84")

# Fitted to ArduCopter 4.7 SITL's speed profiles (stock WPNAV_ACCEL 250, WPNAV_JERK 1):
# it takes ~5 s from 3.3 to 9.9 m/s (peak ~2 m/s/s) and ~5 s to stop from 10 m/s.
JERK_XY = 1.0  # m/s/s/s, WPNAV_JERK
STOP_JERK_XY = 2.0  # the jerk that plans a stop: the controller's lag softens it to ~5 s
BRAKE_JERK_XY = 4.0  # m/s/s/s: how fast the tracker may start braking
STOP_LEAD_S = 0.8  # s: plan the stop from where the vehicle will be once the braking bites
VEL_GAIN = 2.0  # 1/s: acceleration asked per m/s of velocity error (PSC_VELXY_P)
STOP_ACCEL_Z = 0.6  # m/s/s: SITL eases into a target altitude at about sqrt(1.2 d) m/s


@dataclass(frozen=True)
class Pose:
    lat: float
    lon: float
    alt_m: float  # above home
    vn: float = 0.0
    ve: float = 0.0
    vu: float = 0.0
    yaw_deg: float = 0.0
    an: float = 0.0  # horizontal acceleration north/east, m/s/s (limited by the jerk)
    ae: float = 0.0

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
    jerk_xy: float = JERK_XY  # m/s/s/s: how fast the horizontal acceleration may change


def distance_bearing(lat1: float, lon1: float, lat2: float, lon2: float) -> tuple[float, float]:
    """Geodesic distance (m) and initial bearing (degrees 0..360) from point 1 to point 2."""
    az, _, dist = GEOD.inv(lon1, lat1, lon2, lat2)
    return float(dist), float(az % 360.0)


def offset(lat: float, lon: float, bearing_deg: float, dist_m: float) -> tuple[float, float]:
    """The point ``dist_m`` metres from (lat, lon) along ``bearing_deg``."""
    lon2, lat2, _ = GEOD.fwd(lon, lat, bearing_deg, dist_m)
    return float(lat2), float(lon2)


# SITL passes a waypoint no faster than the shorter of its two legs lets its S-curve
# reach, whatever the turn: (shorter leg m, speed through the waypoint m/s), read off
# the sample river's first sortie at 10 m/s (ArduCopter 4.7 defaults, WPNAV_ACCEL 250,
# WPNAV_JERK 1); e.g. straight on between a 29 m and a 41 m leg: 5.7 m/s.
SHORT_LEG_SPEED = (
    (0.0, 0.0),
    (3.0, 1.5),
    (10.0, 2.7),
    (17.0, 3.9),
    (23.0, 4.85),
    (30.0, 5.8),
    (40.0, 7.05),
    (50.0, 8.2),
    (60.0, 9.25),
    (80.0, 10.0),
)


def short_leg_speed(leg_m: float) -> float:
    """The fastest SITL passes a waypoint whose shorter leg is ``leg_m`` long."""
    pts = SHORT_LEG_SPEED
    if leg_m >= pts[-1][0]:
        return math.inf
    for (l0, v0), (l1, v1) in itertools.pairwise(pts):
        if leg_m <= l1:
            return v0 + (v1 - v0) * (max(leg_m, l0) - l0) / (l1 - l0)
    return math.inf


def turn_exit_speed(
    speed: float, leg_in_deg: float, leg_out_deg: float, shorter_leg_m: float = math.inf
) -> float:
    """Speed through a waypoint between legs: full straight on, zero at 90 deg or more.

    cos^2 of the turn, as SITL's S-curves slow for corners (10 m/s legs: 5.2 m/s
    through a 41 deg turn, 2.2 m/s through 57 deg), and no more than the shorter
    leg allows (``short_leg_speed``).
    """
    turn = abs((leg_out_deg - leg_in_deg + 180.0) % 360.0 - 180.0)
    by_turn = max(0.0, speed * math.cos(math.radians(turn)) ** 2) if turn < 90.0 else 0.0
    return min(by_turn, short_leg_speed(shorter_leg_m))


def stop_speed(dist: float, exit_speed: float, accel: float, jerk: float) -> float:
    """Fastest speed from which a jerk-limited S-curve slows to ``exit_speed`` within ``dist``."""

    def need(v: float) -> float:  # distance to slow from v to exit_speed, from zero accel
        dv = v - exit_speed
        t = dv / accel + accel / jerk if dv >= accel * accel / jerk else 2.0 * math.sqrt(dv / jerk)
        return 0.5 * (v + exit_speed) * t

    lo, hi = exit_speed, exit_speed + 50.0
    if need(hi) <= dist:
        return hi
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if need(mid) <= dist else (lo, mid)
    return lo


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
    # slow down in time to leave the target at exit_speed (a jerk-limited S-curve)
    if want_xy > exit_speed:
        stop_jerk = max(limits.jerk_xy, STOP_JERK_XY)
        ahead = max(0.0, dist_xy - STOP_LEAD_S * pose.ground_speed)  # the tracker's lag
        want_xy = min(want_xy, stop_speed(ahead, exit_speed, limits.accel_xy, stop_jerk))
    stop_z = min(limits.accel_z, STOP_ACCEL_Z)
    want_z = math.copysign(min(abs(want_z), math.sqrt(2.0 * stop_z * abs(dz))), dz)

    # Along the leg: speed error -> acceleration, at most accel_xy, no more than the jerk can
    # take back to zero by the time the error is gone (sqrt(2 J e): no overshoot), changing
    # at most jerk_xy per second. Across it: plain P on the sideways speed, so the vehicle
    # never circles a point it passed beside.
    un, ue = math.cos(math.radians(bearing)), math.sin(math.radians(bearing))
    v_along = pose.vn * un + pose.ve * ue
    err = want_xy - v_along
    a_want = math.copysign(
        min(limits.accel_xy, math.sqrt(2.0 * limits.jerk_xy * abs(err)), VEL_GAIN * abs(err)), err
    )
    a_prev = pose.an * un + pose.ae * ue
    # braking may bite harder than the speed-up ramps (SITL stops from 10 m/s in ~5 s)
    jerk = limits.jerk_xy if a_want > a_prev else max(limits.jerk_xy, BRAKE_JERK_XY)
    a_along = a_prev + max(-jerk * dt, min(jerk * dt, a_want - a_prev))
    side_n, side_e = pose.vn - v_along * un, pose.ve - v_along * ue
    side = math.hypot(side_n, side_e)
    k_side = min(VEL_GAIN, limits.accel_xy / side) if side > 1e-9 else 0.0
    an, ae = a_along * un - k_side * side_n, a_along * ue - k_side * side_e
    vn, ve = pose.vn + an * dt, pose.ve + ae * dt
    vu = _limit(want_z, pose.vu, limits.accel_z * dt)

    speed = math.hypot(vn, ve)
    step_xy = speed * dt
    if dist_xy < 0.01 or (step_xy >= dist_xy and want_xy > 0.0):  # within 1 cm: there
        new_lat, new_lon = lat, lon  # arrive this step; leave at no more than exit_speed
        if speed > exit_speed:
            scale = exit_speed / speed
            vn, ve = vn * scale, ve * scale
            an, ae = an * scale, ae * scale
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
    return replace(
        pose,
        lat=new_lat,
        lon=new_lon,
        alt_m=new_alt,
        vn=vn,
        ve=ve,
        vu=vu,
        yaw_deg=yaw,
        an=an,
        ae=ae,
    )


def settle_on_ground(pose: Pose) -> Pose:
    """Touchdown: altitude 0 and no velocity."""
    return replace(pose, alt_m=0.0, vn=0.0, ve=0.0, vu=0.0, an=0.0, ae=0.0)
