"""Pure kinematics of the simulated copter (sitl/sim/flight.py) and its battery model."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitl.sim import battery as batt
from sitl.sim.flight import Limits, Pose, distance_bearing, offset, step_towards, turn_exit_speed

LIM = Limits(speed_xy=10.0, speed_up=2.5, speed_down=1.5, accel_xy=2.5, accel_z=1.0)
HOME = (29.2505, 115.7953)


def fly_to(
    pose: Pose, lat: float, lon: float, alt: float, dt: float = 0.05, limit_s: float = 600.0
):
    t, track = 0.0, [pose]
    while t < limit_s:
        d, _ = distance_bearing(pose.lat, pose.lon, lat, lon)
        if (
            d < 0.01
            and abs(pose.alt_m - alt) < 0.01
            and pose.ground_speed < 0.05
            and abs(pose.vu) < 0.05
        ):
            return pose, t, track
        pose = step_towards(pose, lat, lon, alt, LIM, dt)
        track.append(pose)
        t += dt
    raise AssertionError("did not arrive")


@settings(deadline=None)
@given(
    bearing=st.floats(0, 359.999),
    dist=st.floats(0.5, 20_000),
    lat=st.floats(-70, 70),
    lon=st.floats(-179, 179),
)
def test_offset_and_distance_are_inverse(bearing, dist, lat, lon):
    lat2, lon2 = offset(lat, lon, bearing, dist)
    d, b = distance_bearing(lat, lon, lat2, lon2)
    assert d == pytest.approx(dist, rel=1e-9, abs=1e-6)
    assert abs((b - bearing + 180) % 360 - 180) < 1e-6


def test_a_100_m_leg_takes_accelerate_cruise_decelerate_time():
    target = offset(*HOME, 90.0, 100.0)
    end, t, track = fly_to(Pose(*HOME, 30.0), *target, 30.0)
    # jerk-limited as SITL: ~6.5 s to reach 10 m/s, ~6 s and a slow last metre to stop
    assert 18.0 < t < 21.5
    assert max(p.ground_speed for p in track) <= 10.0 + 1e-9
    assert distance_bearing(end.lat, end.lon, *target)[0] < 0.01


def test_climb_and_move_follow_a_straight_line():
    target = offset(*HOME, 0.0, 50.0)
    start = Pose(*HOME, 10.0)
    _, _, track = fly_to(start, *target, 40.0)
    worst = 0.0
    for p in track:
        d, b = distance_bearing(*HOME, p.lat, p.lon)
        along = d * math.cos(math.radians(b))
        cross = abs(d * math.sin(math.radians(b)))
        expected_alt = 10.0 + 30.0 * min(1.0, max(0.0, along / 50.0))
        worst = max(worst, cross, abs(p.alt_m - expected_alt))
        assert p.vu <= 2.5 + 1e-9
    assert worst < 3.0  # the climb limit (2.5 m/s) sets the pace; speed ramps make small deviations


@settings(max_examples=40, deadline=None)
@given(bearing=st.floats(0, 360), dist=st.floats(1, 300), alt=st.floats(0, 120))
def test_never_overshoots_and_respects_limits(bearing, dist, alt):
    target = offset(*HOME, bearing, dist)
    pose = Pose(*HOME, 20.0)
    for _ in range(4000):
        before = distance_bearing(pose.lat, pose.lon, *target)[0]
        pose = step_towards(pose, *target, alt, LIM, 0.05)
        after = distance_bearing(pose.lat, pose.lon, *target)[0]
        assert after <= before + 1e-6
        assert pose.ground_speed <= 10.0 + 1e-6 and -1.5 - 1e-6 <= pose.vu <= 2.5 + 1e-6
        if after < 1e-3 and abs(pose.alt_m - alt) < 1e-3:
            break
    else:
        raise AssertionError("did not arrive")


def test_turn_exit_speed():
    assert turn_exit_speed(10.0, 90.0, 90.0) == 10.0
    assert turn_exit_speed(10.0, 0.0, 60.0) == pytest.approx(2.5)  # cos^2, as SITL slows
    assert turn_exit_speed(10.0, 350.0, 20.0) == pytest.approx(
        10.0 * math.cos(math.radians(30)) ** 2
    )
    assert turn_exit_speed(10.0, 0.0, 90.0) == 0.0
    assert turn_exit_speed(10.0, 0.0, 180.0) == 0.0


def test_battery_draws_what_sitl_draws_at_cruise():
    b = batt.Battery(capacity_mah=3300)
    cruise = batt.draw_a(armed=True, flying=True, ground_speed=10.0, climb_rate=0.0)
    assert cruise == pytest.approx(batt.CRUISE_A)  # SITL: 30.5 A at 10 m/s
    minutes = b.capacity_mah / cruise * 60 / 1000
    assert 6 < minutes < 7  # SITL's stock 3300 mAh pack
    half = batt.drain(b, cruise, minutes * 60 / 2)
    assert half.remaining_pct == pytest.approx(50.0, abs=0.5)
    assert 12.6 > half.voltage_v > batt.drain(b, cruise, minutes * 60 * 0.9).voltage_v > 10.5
    assert batt.draw_a(False, False, 0, 0) <= batt.draw_a(True, False, 0, 0) < cruise
    assert batt.with_remaining(b, 20).remaining_pct == pytest.approx(20.0)


def test_a_short_leg_caps_the_speed_through_a_waypoint():
    # SITL, 10 m/s legs, straight on: 5.7 m/s between a 29 m and a 41 m leg, full speed
    # between long legs; a sharp turn still decides when it is the tighter limit.
    assert turn_exit_speed(10.0, 90.0, 90.0, 29.2) == pytest.approx(5.7, abs=0.15)
    assert turn_exit_speed(10.0, 90.0, 90.0, 150.0) == 10.0
    assert turn_exit_speed(10.0, 0.0, 60.0, 60.0) == pytest.approx(2.5)
    assert turn_exit_speed(10.0, 0.0, 0.0, 3.0) == pytest.approx(1.5)
