"""Telemetry state from real pymavlink messages, and the flight report's geometry."""

from __future__ import annotations

import pytest

from geofences.projection import LocalProjection
from mission.items import Cmd, MissionItem, MissionType, home_item
from mission.link._mavlink import mavlink
from mission.link.report import FlightTrack, fence_polygons, flight_report, planned_path
from mission.link.telemetry import Telemetry

LAT, LON = 29.2485, 115.7740


def test_readiness_lists_what_is_missing_until_each_message_arrives() -> None:
    t = Telemetry()
    missing = t.missing_for_flight()
    assert [m.split(" ")[0] for m in missing] == ["heartbeat", "GPS", "EKF", "home"]
    t.update(mavlink.MAVLink_heartbeat_message(2, 3, 1 | 128, 4, 3, 3), 1.0)
    assert t.mode == "GUIDED" and t.armed and t.last_heartbeat == 1.0
    t.update(mavlink.MAVLink_gps_raw_int_message(0, 3, 0, 0, 0, 0, 0, 0, 0, 10), 1.0)
    t.update(mavlink.MAVLink_ekf_status_report_message(0x80 | 0x10, 0, 0, 0, 0, 0), 1.0)
    assert any("EKF" in m for m in t.missing_for_flight())  # constant-position mode: not yet
    t.update(mavlink.MAVLink_ekf_status_report_message(0x1F, 0, 0, 0, 0, 0), 1.0)
    assert t.missing_for_flight() == ["home position"]
    t.update(
        mavlink.MAVLink_home_position_message(
            292485000, 1157740000, 21500, 0, 0, 0, [1, 0, 0, 0], 0, 0, 0
        ),
        1.0,
    )
    assert t.missing_for_flight() == []
    assert t.home == pytest.approx((LAT, LON, 21.5))


def test_position_battery_mission_fence_and_texts() -> None:
    t = Telemetry()
    t.update(
        mavlink.MAVLink_global_position_int_message(
            0, 292485000, 1157740000, 51000, 30000, 300, 400, 0, 9000
        ),
        2.0,
    )
    assert (t.lat, t.lon, t.alt_rel_m) == pytest.approx((LAT, LON, 30.0))
    assert t.groundspeed_m_s == pytest.approx(5.0) and t.heading_deg == 90.0
    t.update(mavlink.MAVLink_mission_current_message(3, 12, 4, 1), 2.0)
    t.update(mavlink.MAVLink_mission_item_reached_message(2), 2.0)
    assert (t.mission_seq, t.mission_total, t.mission_state, t.reached) == (3, 12, 4, [2])
    t.update(mavlink.MAVLink_fence_status_message(1, 2, 3, 0, 0), 2.0)
    assert t.fence_breached and t.fence_breach_count == 2
    t.update(mavlink.MAVLink_statustext_message(3, b"PreArm: Need Position Estimate", 0, 0), 2.5)
    assert [s.text for s in t.statustexts_since(2.4)] == ["PreArm: Need Position Estimate"]
    assert t.statustexts_since(3.0) == []
    t.update(
        mavlink.MAVLink_battery_status_message(0, 0, 0, 0, [65535] * 10, -1, 1234, -1, 76), 2.0
    )
    assert (t.battery_pct, t.battery_consumed_mah) == (76.0, 1234.0)


def square_fence(d: float) -> list[MissionItem]:
    corners = [(LAT - d, LON - d), (LAT - d, LON + d), (LAT + d, LON + d), (LAT + d, LON - d)]
    return [
        MissionItem.at(Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, a, b, 0.0, param1=4).with_type(
            MissionType.FENCE
        )
        for a, b in corners
    ]


def test_report_measures_off_path_distance_fence_and_landing() -> None:
    proj = LocalProjection.around(LAT, LON)
    hx, hy = proj.to_xy(LON, LAT)

    def ll(dx: float, dy: float) -> tuple[float, float]:
        lon, lat = proj.to_lonlat(hx + dx, hy + dy)
        return lat, lon

    items = [
        home_item(LAT, LON),
        MissionItem(Cmd.NAV_TAKEOFF, z=30.0),
        MissionItem.at(Cmd.NAV_WAYPOINT, *ll(0, 200), 30.0),
        MissionItem(Cmd.DO_CHANGE_SPEED, param2=8.0),
        MissionItem.at(Cmd.NAV_WAYPOINT, *ll(200, 200), 30.0),
        MissionItem(Cmd.NAV_RETURN_TO_LAUNCH),
    ]
    path = planned_path(items, (LAT, LON))
    assert len(path) == 4 and path[0] == path[-1]
    track = FlightTrack()
    for dx, dy in [(0, 0), (0, 100), (7, 150), (0, 200), (100, 200), (100, 100), (3, 2)]:
        lat, lon = ll(dx, dy)
        track.positions.append((lat, lon, 30.0))
    track.reached = {1, 2, 4, 5}
    track.battery_start_pct, track.battery_end_pct = 100.0, 83.0
    track.final_position = ll(3, 4)
    fence = square_fence(0.0015)  # about +-165 m: the (100, 200) corner is outside
    inc, exc = fence_polygons(fence)
    assert len(inc) == 1 and not exc
    r = flight_report(track, items, (LAT, LON), fence, completed=True, reason="ok", wall_s=1.0)
    assert r.waypoints_total == 4 and r.waypoints_reached == 4
    # (100, 100) lies on the diagonal RTL leg; (7, 150) is 7 m off the first leg
    assert r.max_off_path_m == pytest.approx(7.0, abs=0.05)
    assert r.track_outside_fence == 2  # (0, 200) and (100, 200) lie north of +165 m
    assert r.battery_used_pct == 17.0
    assert r.landing_from_launch_m == pytest.approx(5.0, abs=0.01)
