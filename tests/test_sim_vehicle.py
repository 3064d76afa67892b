"""The simulated vehicle driven with raw pymavlink messages, as ArduPilot SITL would be.

Each test checks a behaviour recorded in ARDUPILOT_NOTES.md. Times that the
notes give in simulated seconds are checked against the vehicle's own clock
(time_boot_ms / snapshot().t_sim), not against wall time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

import pytest
from pymavlink import mavutil

from mission.items import Cmd, Frame, MissionItem, MissionType, home_item, same_item
from sitl.sim.flight import distance_bearing, offset

FAST = {"speedup": 50.0}
GCS_SYS, GCS_COMP = 255, 190


class Gcs:
    """A minimal ground station on pymavlink, with timeouts on every wait."""

    def __init__(self, url: str, sysid: int = GCS_SYS, compid: int = GCS_COMP) -> None:
        self.conn = mavutil.mavlink_connection(
            url, source_system=sysid, source_component=compid, autoreconnect=False
        )
        self.mav = self.conn.mav
        if url.startswith("udpin"):
            self.conn.wait_heartbeat(timeout=5)

    def close(self) -> None:
        self.conn.close()

    def recv(self, types: str | Iterable[str], timeout: float = 3.0, cond=None):
        types = [types] if isinstance(types, str) else list(types)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = self.conn.recv_match(
                type=types, blocking=True, timeout=max(0.01, deadline - time.monotonic())
            )
            if msg is not None and (cond is None or cond(msg)):
                return msg
        raise AssertionError(f"no {types} within {timeout} s")

    def collect(self, seconds: float, types: Iterable[str] | None = None) -> list:
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            msg = self.conn.recv_match(blocking=True, timeout=0.05)
            if (
                msg is not None
                and msg.get_type() != "BAD_DATA"
                and (types is None or msg.get_type() in types)
            ):
                out.append(msg)
        return out

    def command(self, command: int, *params: float, timeout: float = 3.0):
        p = [*params, *([0.0] * (7 - len(params)))]
        self.mav.command_long_send(1, 1, command, 0, *p)
        return self.recv("COMMAND_ACK", timeout, cond=lambda m: m.command == command)

    def interval(self, msg_id: int, hz: float) -> None:
        assert self.command(511, msg_id, 1e6 / hz if hz > 0 else -1).result == 0

    def set_mode(self, mode: int) -> int:
        return self.command(176, 1, mode).result

    def arm(self) -> tuple[int, list[str]]:
        self.mav.command_long_send(1, 1, 400, 0, 1, 0, 0, 0, 0, 0, 0)
        texts: list[str] = []
        while True:
            msg = self.recv(["COMMAND_ACK", "STATUSTEXT"])
            if msg.get_type() == "STATUSTEXT":
                texts.append(msg.text)
            elif msg.command == 400:
                if msg.result != 0:  # the reason follows or precedes the ACK
                    texts += [m.text for m in self.collect(0.2, ["STATUSTEXT"])]
                return msg.result, texts

    def param(self, name: str) -> float:
        self.mav.param_request_read_send(1, 1, name.encode(), -1)
        return self.recv("PARAM_VALUE", cond=lambda m: m.param_id == name).param_value

    def set_param(self, name: str, value: float, ptype: int = 9) -> float:
        self.mav.param_set_send(1, 1, name.encode(), value, ptype)
        return self.recv("PARAM_VALUE", cond=lambda m: m.param_id == name).param_value

    def upload(self, items: list[MissionItem], mission_type: int = 0, timeout: float = 10.0):
        """Answer every request at once; returns (ack, requests); texts go to ``self.texts``."""
        self.mav.mission_count_send(1, 1, len(items), mission_type)
        requests, self.texts = [], []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.recv(
                ["MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_ACK", "STATUSTEXT"],
                max(0.1, deadline - time.monotonic()),
                cond=lambda m: getattr(m, "mission_type", mission_type) == mission_type,
            )
            if msg.get_type() == "STATUSTEXT":
                self.texts.append(msg.text)
                continue
            if msg.get_type() == "MISSION_ACK":
                if msg.type == 13 and requests:
                    continue  # a duplicate answer to a re-request (high speedup); goes on
                return msg, requests
            requests.append(msg)
            self.send_item(items[msg.seq], msg.seq, mission_type)

    def send_item(self, it: MissionItem, seq: int, mission_type: int = 0) -> None:
        self.mav.mission_item_int_send(
            1,
            1,
            seq,
            it.frame,
            it.command,
            0,
            it.autocontinue,
            it.param1,
            it.param2,
            it.param3,
            it.param4,
            it.x,
            it.y,
            it.z,
            mission_type,
        )

    def download(self, mission_type: int = 0) -> list[MissionItem]:
        self.mav.mission_request_list_send(1, 1, mission_type)
        count = self.recv("MISSION_COUNT", cond=lambda m: m.mission_type == mission_type).count
        items = []
        for seq in range(count):
            self.mav.mission_request_int_send(1, 1, seq, mission_type)
            m = self.recv(
                "MISSION_ITEM_INT",
                cond=lambda m, s=seq: m.seq == s and m.mission_type == mission_type,
            )
            items.append(
                MissionItem(
                    command=m.command,
                    frame=m.frame,
                    param1=m.param1,
                    param2=m.param2,
                    param3=m.param3,
                    param4=m.param4,
                    x=m.x,
                    y=m.y,
                    z=m.z,
                    mission_type=mission_type,
                )
            )
        self.mav.mission_ack_send(1, 1, 0, mission_type)
        return items


@pytest.fixture
def gcs(sim_vehicle):
    g = Gcs(sim_vehicle.url)
    g.recv("HEARTBEAT")
    yield g
    g.close()


def wait_ready(endpoint, ekf: bool = True) -> None:
    """Until pre-arm (24 s sim) or EKF using GPS (42 s sim)."""
    t = 42.5 if ekf else 24.5
    endpoint.vehicle.wait_for(
        lambda s: s.t_sim >= t and s.home is not None, 10, "vehicle readiness"
    )


def square_mission(home, alt: float = 30.0, leg_m: float = 100.0) -> list[MissionItem]:
    lat, lon = home[0], home[1]
    corners = [offset(lat, lon, 0.0, leg_m)]
    corners.append(offset(*corners[0], 90.0, leg_m))
    corners.append(offset(*corners[1], 180.0, leg_m))
    return [
        home_item(lat, lon, home[2]),
        MissionItem.at(Cmd.NAV_TAKEOFF, lat, lon, alt),
        MissionItem(
            command=Cmd.DO_CHANGE_SPEED, frame=Frame.MISSION, param1=1, param2=10.0, param3=-1
        ),
        *[MissionItem.at(Cmd.NAV_WAYPOINT, la, lo, alt) for la, lo in corners],
        MissionItem(command=Cmd.NAV_RETURN_TO_LAUNCH, frame=Frame.MISSION),
    ]


def square_fence(home, half_m: float, vertices: int = 4) -> list[MissionItem]:
    lat, lon = home[0], home[1]
    out = []
    for k in range(vertices):
        brg = 45.0 + k * 360.0 / vertices
        la, lo = offset(lat, lon, brg, half_m * math.sqrt(2))
        out.append(
            MissionItem.at(
                Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
                la,
                lo,
                0.0,
                param1=vertices,
                mission_type=MissionType.FENCE,
            )
        )
    return out


# --- start-up and telemetry ------------------------------------------------------------------


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_only_heartbeat_statustext_and_one_origin_and_home_arrive_unrequested(sim_vehicle, gcs):
    msgs = gcs.collect(1.2)  # 60 s simulated: past home (20 s) and EKF (42 s)
    kinds = [m.get_type() for m in msgs]
    assert set(kinds) <= {"HEARTBEAT", "STATUSTEXT", "GPS_GLOBAL_ORIGIN", "HOME_POSITION"}
    assert kinds.count("HOME_POSITION") == 1 and kinds.count("GPS_GLOBAL_ORIGIN") == 1
    home = next(m for m in msgs if m.get_type() == "HOME_POSITION")
    assert (home.latitude, home.longitude) == (
        round(sim_vehicle.home[0] * 1e7),
        round(sim_vehicle.home[1] * 1e7),
    )
    hb = next(m for m in msgs if m.get_type() == "HEARTBEAT")
    assert (hb.type, hb.autopilot, hb.custom_mode) == (2, 3, 0)  # quadrotor, ArduPilot, STABILIZE


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_readiness_follows_the_simulated_clock(sim_vehicle, gcs):
    gcs.interval(24, 10)  # GPS_RAW_INT
    gcs.interval(193, 10)  # EKF_STATUS_REPORT
    msgs = gcs.collect(1.3, ["GPS_RAW_INT", "EKF_STATUS_REPORT", "HOME_POSITION"])
    first_fix = (
        min(m.time_usec for m in msgs if m.get_type() == "GPS_RAW_INT" and m.fix_type >= 3) / 1e6
    )
    home_t = next(m for m in msgs if m.get_type() == "HOME_POSITION").time_usec / 1e6
    assert 10.0 <= first_fix < 11.0
    assert 20.0 <= home_t < 21.0
    ekf = [m.flags for m in msgs if m.get_type() == "EKF_STATUS_REPORT"]
    assert ekf[0] & 16 == 0 and ekf[-1] & 16  # POS_HORIZ_ABS only once the EKF uses GPS (42 s)


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_message_interval_is_in_simulated_time_and_can_be_stopped(sim_vehicle, gcs):
    gcs.interval(33, 4)  # GLOBAL_POSITION_INT at 4 Hz simulated
    msgs = gcs.collect(0.6, ["GLOBAL_POSITION_INT"])
    span_s = (msgs[-1].time_boot_ms - msgs[0].time_boot_ms) / 1000
    assert span_s > 10  # 0.6 s wall at x50
    assert abs((len(msgs) - 1) / span_s - 4.0) < 0.8
    gcs.interval(33, 0)
    gcs.collect(0.1)
    assert gcs.collect(0.3, ["GLOBAL_POSITION_INT"]) == []
    ack = gcs.command(511, 12345, 1e5)  # a message the vehicle cannot stream
    assert ack.result == 4


def test_request_data_stream_position(sim_vehicle, gcs):
    gcs.mav.request_data_stream_send(1, 1, 6, 10, 1)  # POSITION at 10 Hz
    assert gcs.recv("GLOBAL_POSITION_INT", 2.0)
    assert not any(m.get_type() == "VFR_HUD" for m in gcs.collect(0.3))


def test_autopilot_version_and_home_on_request(sim_vehicle, gcs):
    assert gcs.command(512, 148).result == 0
    version = gcs.recv("AUTOPILOT_VERSION")
    assert version.capabilities & 4 and version.capabilities & 8192 and version.capabilities & 16384
    assert gcs.command(410).result == 4  # no home yet at x20 in the first second


# --- parameters --------------------------------------------------------------------------------


def test_params_read_set_and_list(sim_vehicle, gcs):
    assert gcs.param("FENCE_RADIUS") == 150.0
    assert gcs.param("WPNAV_SPEED") == 1000.0
    assert gcs.set_param("FENCE_ALT_MAX", 60.5) == 60.5
    assert gcs.param("FENCE_ALT_MAX") == 60.5
    assert gcs.set_param("FENCE_ENABLE", 1.4, ptype=2) == 1.0  # INT8 rounds
    assert sim_vehicle.vehicle.snapshot().params["FENCE_ENABLE"] == 1.0
    gcs.mav.param_request_read_send(1, 1, b"SYSID_THISMAV", -1)  # renamed MAV_SYSID in 4.7
    assert "Unknown parameter SYSID_THISMAV" in gcs.recv("STATUSTEXT").text
    assert gcs.param("MAV_SYSID") == 1.0
    gcs.mav.param_request_list_send(1, 1)
    values = gcs.collect(1.0, ["PARAM_VALUE"])
    assert values and len({v.param_index for v in values}) == values[0].param_count


# --- the mission protocol ------------------------------------------------------------------


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_mission_upload_uses_plain_request_and_item_0_is_the_real_home(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    mission = square_mission(sim_vehicle.home)
    far = offset(sim_vehicle.home[0], sim_vehicle.home[1], 45.0, 1000.0)
    mission[0] = home_item(far[0], far[1], 500.0)  # ignored on upload
    ack, requests = gcs.upload(mission)
    assert ack.type == 0
    assert {r.get_type() for r in requests} == {"MISSION_REQUEST"}
    assert [r.seq for r in requests] == list(range(len(mission)))
    back = gcs.download()
    assert len(back) == len(mission)
    home = sim_vehicle.vehicle.snapshot().home
    assert (back[0].x, back[0].y) == (round(home[0] * 1e7), round(home[1] * 1e7)) and back[
        0
    ].frame == 0
    assert back[0].z == pytest.approx(sim_vehicle.home[2], abs=0.01)
    assert all(same_item(a, b) for a, b in zip(mission[1:], back[1:], strict=True))
    assert back[-1].frame == 0  # RTL comes back in frame 0
    assert back[1].frame == Frame.GLOBAL_RELATIVE_ALT


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_fence_and_rally_round_trip(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    fence = square_fence(sim_vehicle.home, 200.0, vertices=12)
    ack, requests = gcs.upload(fence, MissionType.FENCE)
    assert ack.type == 0 and {r.get_type() for r in requests} == {"MISSION_REQUEST"}
    back = gcs.download(MissionType.FENCE)
    assert [(b.command, b.x, b.y, b.param1) for b in back] == [
        (f.command, f.x, f.y, 12.0) for f in fence
    ]
    lat, lon = sim_vehicle.home[:2]
    rally = [
        MissionItem.at(
            Cmd.NAV_RALLY_POINT, *offset(lat, lon, b, 80.0), 25.4, mission_type=MissionType.RALLY
        )
        for b in (0.0, 120.0, 240.0)
    ]
    assert gcs.upload(rally, MissionType.RALLY)[0].type == 0
    back = gcs.download(MissionType.RALLY)
    assert [(b.x, b.y) for b in back] == [(r.x, r.y) for r in rally]
    assert [b.z for b in back] == [25.0] * 3  # rally altitude is stored in whole metres
    assert (
        gcs.download(MissionType.MISSION)[0].command == Cmd.NAV_WAYPOINT
    )  # mission untouched: home only


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_no_space_above_650_items(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    gcs.mav.mission_count_send(1, 1, 651, 0)
    assert gcs.recv("MISSION_ACK").type == 4
    assert gcs.recv("STATUSTEXT", cond=lambda m: m.text == "Only 650 items are supported")
    wp = MissionItem.at(Cmd.NAV_WAYPOINT, *sim_vehicle.home[:2], 30.0)
    ack, _ = gcs.upload([home_item(*sim_vehicle.home)] + [wp] * 649)
    assert ack.type == 0
    assert sim_vehicle.vehicle.snapshot().params["MIS_TOTAL"] == 650


@pytest.mark.parametrize("sim_vehicle", [{"boot_s": 0.8, "speedup": 1.0}], indirect=True)
def test_upload_during_start_up_gets_no_space_then_succeeds(sim_vehicle, gcs):
    items = square_mission(sim_vehicle.home)
    gcs.mav.mission_count_send(1, 1, len(items), 0)
    assert gcs.recv("MISSION_ACK").type == 4
    time.sleep(0.9)
    assert gcs.upload(items)[0].type == 0


@pytest.mark.parametrize("sim_vehicle", [{"speedup": 5.0}], indirect=True)
def test_silent_uploader_is_re_requested_every_second_and_cancelled_after_8(sim_vehicle, gcs):
    gcs.collect(0.6)  # past start-up
    gcs.mav.mission_count_send(1, 1, 3, 0)
    msgs = gcs.collect(2.2, ["MISSION_REQUEST", "MISSION_ACK", "STATUSTEXT", "HEARTBEAT"])
    requests = [m for m in msgs if m.get_type() == "MISSION_REQUEST"]
    assert requests and all(r.seq == 0 for r in requests)
    assert 7 <= len(requests) <= 10  # first + one per simulated second until 8 s
    ack = next(m for m in msgs if m.get_type() == "MISSION_ACK")
    assert ack.type == 15  # OPERATION_CANCELLED
    assert any(m.get_type() == "STATUSTEXT" and m.text == "Mission upload timeout" for m in msgs)


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_items_only_from_the_uploader_and_in_sequence(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    items = square_mission(sim_vehicle.home)
    gcs.mav.mission_count_send(1, 1, len(items), 0)
    assert gcs.recv("MISSION_REQUEST").seq == 0
    gcs.send_item(items[1], 1)  # out of sequence
    assert gcs.recv("MISSION_ACK").type == 13  # INVALID_SEQUENCE, the upload goes on
    spoof = mavutil.mavlink.MAVLink(gcs.conn, srcSystem=200, srcComponent=1)
    it = items[0]
    spoof.mission_item_int_send(
        1, 1, 0, it.frame, it.command, 0, 1, 0, 0, 0, 0, it.x, it.y, it.z, 0
    )
    denied = gcs.recv("MISSION_ACK")
    assert denied.type == 14 and denied.target_system == 200  # DENIED to the stranger
    spoof.mission_count_send(1, 1, 2, 0)
    assert gcs.recv("MISSION_ACK", cond=lambda m: m.target_system == 200).type == 14
    for seq, item in enumerate(items):
        gcs.send_item(item, seq)
        if seq < len(items) - 1:
            assert gcs.recv("MISSION_REQUEST").seq == seq + 1
    assert gcs.recv("MISSION_ACK").type == 0


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_fence_validation(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    good = square_fence(sim_vehicle.home, 100.0)
    wrong_count = [*good[:3], MissionItem(**{**good[3].__dict__, "param1": 5.0})]
    ack, _ = gcs.upload(wrong_count, MissionType.FENCE)
    assert ack.type == 1 and "Fence validation failed" in gcs.texts
    bowtie = [good[0], good[2], good[1], good[3]]
    assert gcs.upload(bowtie, MissionType.FENCE)[0].type == 1
    assert gcs.upload(good[:2], MissionType.FENCE)[0].type == 1  # fewer than 3 vertices
    assert gcs.download(MissionType.FENCE) == []  # nothing stored by failed uploads
    # 560 bytes of fence storage: 69 vertices fit in one polygon, 70 do not
    assert gcs.upload(square_fence(sim_vehicle.home, 150.0, 69), MissionType.FENCE)[0].type == 0
    assert gcs.upload(square_fence(sim_vehicle.home, 150.0, 70), MissionType.FENCE)[0].type == 1
    assert "Fence exceeds storage size" in gcs.texts
    assert len(gcs.download(MissionType.FENCE)) == 69


@pytest.mark.parametrize(
    "sim_vehicle", [{"speedup": 50.0, "params": {"BRD_SD_FENCE": 4}}], indirect=True
)
def test_fence_storage_on_sd_holds_longer_shorelines(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    big = square_fence(sim_vehicle.home, 150.0, 200)  # vertex counts are uint8: <= 255
    assert gcs.upload(big, MissionType.FENCE)[0].type == 0
    assert len(gcs.download(MissionType.FENCE)) == 200


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_injected_nack_leaves_old_and_new_items_mixed(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    old = square_mission(sim_vehicle.home, alt=30.0)
    assert gcs.upload(old)[0].type == 0
    new = square_mission(sim_vehicle.home, alt=50.0)
    sim_vehicle.vehicle.reject_mission_item(4, result=6)  # INVALID_PARAM1
    ack, requests = gcs.upload(new)
    assert ack.type == 6 and requests[-1].seq == 4
    back = gcs.download()
    assert back[3].z == 50.0 and back[4].z == 30.0  # not atomic, as on ArduPilot


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_ignored_item_is_requested_again(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    sim_vehicle.vehicle.ignore_next("MISSION_ITEM_INT")
    ack, requests = gcs.upload(square_mission(sim_vehicle.home))
    assert ack.type == 0
    assert [r.seq for r in requests][:2] == [0, 0]


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_clear_all_keeps_home(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)
    assert gcs.upload(square_mission(sim_vehicle.home))[0].type == 0
    gcs.mav.mission_clear_all_send(1, 1, 0)
    assert gcs.recv("MISSION_ACK").type == 0
    assert len(gcs.download()) == 1


# --- arming ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_arming_refusals_carry_the_reason(sim_vehicle, gcs):
    wait_ready(sim_vehicle, ekf=False)  # pre-arm ok, EKF not yet using GPS
    assert gcs.set_mode(4) == 0  # GUIDED is accepted before a position fix
    result, texts = gcs.arm()
    assert result == 4 and "Arm: Need Position Estimate" in texts
    wait_ready(sim_vehicle)
    assert gcs.set_mode(3) == 0
    result, texts = gcs.arm()
    assert result == 4 and "Arm: AUTO mode not armable" in texts
    assert gcs.set_mode(4) == 0
    lat, lon = sim_vehicle.home[:2]
    away = [
        MissionItem.at(
            Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            *offset(lat, lon, b, 100.0),
            0,
            param1=4,
            mission_type=MissionType.FENCE,
        )
        for b in (0, 90, 180, 270)
    ]
    away = [
        MissionItem.at(
            it.command,
            *offset(it.lat, it.lon, 90.0, 300.0),
            0,
            param1=4,
            mission_type=MissionType.FENCE,
        )
        for it in away
    ]  # a fence that excludes home
    assert gcs.upload(away, MissionType.FENCE)[0].type == 0
    gcs.set_param("FENCE_ENABLE", 1, ptype=2)
    result, texts = gcs.arm()
    assert result == 4 and "Arm: Vehicle breaching Polygon fence" in texts
    gcs.set_param("FENCE_ENABLE", 0, ptype=2)
    sim_vehicle.vehicle.refuse_arming("Battery 1 unhealthy")
    result, texts = gcs.arm()
    assert result == 4 and "Arm: Battery 1 unhealthy" in texts
    sim_vehicle.vehicle.refuse_arming(None)
    assert gcs.arm()[0] == 0


@pytest.mark.parametrize("sim_vehicle", [FAST], indirect=True)
def test_auto_without_mission_start_announces_takeoff_then_disarms(sim_vehicle, gcs):
    wait_ready(sim_vehicle)
    assert gcs.upload(square_mission(sim_vehicle.home))[0].type == 0
    assert gcs.command(300).result == 0  # accepted while disarmed, does nothing
    assert gcs.set_mode(4) == 0 and gcs.arm()[0] == 0
    armed_at = sim_vehicle.vehicle.snapshot().t_sim
    assert gcs.set_mode(3) == 0
    assert gcs.recv("STATUSTEXT", cond=lambda m: m.text == "Mission: 1 Takeoff")
    snap = sim_vehicle.vehicle.wait_for(lambda s: not s.armed, 5, "auto-disarm")
    assert snap.landed and snap.alt_m == 0.0
    assert 10.0 <= snap.t_sim - armed_at < 11.5  # DISARM_DELAY 10 s simulated


# --- flight ------------------------------------------------------------------------------------


def fly(gcs: Gcs, endpoint, items: list[MissionItem]) -> None:
    wait_ready(endpoint)
    assert gcs.upload(items)[0].type == 0
    assert gcs.set_mode(4) == 0
    assert gcs.arm()[0] == 0
    assert gcs.set_mode(3) == 0
    assert gcs.command(300).result == 0


@pytest.mark.parametrize("sim_vehicle", [{"speedup": 100.0}], indirect=True)
def test_auto_flight_reaches_every_waypoint_and_lands_at_home(sim_vehicle, gcs):
    items = square_mission(sim_vehicle.home)
    gcs.interval(42, 2)  # MISSION_CURRENT
    fly(gcs, sim_vehicle, items)
    reached: list[int] = []
    while True:
        msg = gcs.recv(["MISSION_ITEM_REACHED", "MISSION_CURRENT"], 10.0)
        if msg.get_type() == "MISSION_ITEM_REACHED":
            reached.append(msg.seq)
        elif msg.mission_state == 5:
            break
    # As ArduCopter 4.7 SITL: NAV_TAKEOFF completes without a MISSION_ITEM_REACHED;
    # then speed, 3 waypoints, and RTL after touchdown.
    assert reached == list(range(2, len(items)))
    assert msg.seq == 0
    snap = sim_vehicle.vehicle.wait_for(lambda s: not s.armed, 5, "disarm after the mission")
    assert snap.mode == "AUTO"  # the final RTL item keeps AUTO
    assert distance_bearing(snap.lat, snap.lon, *sim_vehicle.home[:2])[0] < 1.0
    assert snap.max_alt_m == pytest.approx(30.0, abs=0.5)
    # takeoff 30 m at 2.5 m/s + 400 m at <= 10 m/s + descent: about 2.5 min simulated, as on SITL
    assert 90 < snap.t_sim - 42.5 < 200
    assert 300 < snap.distance_flown_m < 460


@pytest.mark.parametrize("sim_vehicle", [{"speedup": 100.0}], indirect=True)
def test_fence_breach_switches_to_rtl(sim_vehicle, gcs):
    home = sim_vehicle.home
    fence = square_fence(home, 60.0)
    wait_ready(sim_vehicle, ekf=False)
    assert gcs.upload(fence, MissionType.FENCE)[0].type == 0
    gcs.set_param("FENCE_ENABLE", 1, ptype=2)
    gcs.interval(162, 5)  # FENCE_STATUS
    fly(
        gcs, sim_vehicle, square_mission(home, leg_m=150.0)
    )  # the first corner is outside the fence
    assert gcs.recv("STATUSTEXT", 10.0, cond=lambda m: m.text == "Polygon fence breached")
    hb = gcs.recv("HEARTBEAT", 3.0, cond=lambda m: m.custom_mode == 6)  # RTL
    assert hb.base_mode & 128
    status = gcs.recv("FENCE_STATUS", cond=lambda m: m.breach_count >= 1)
    assert status.breach_type == 3  # boundary
    snap = sim_vehicle.vehicle.wait_for(lambda s: not s.armed, 10, "landing after the breach")
    assert snap.mode == "RTL" and snap.fence_breach_count == 1
    assert distance_bearing(snap.lat, snap.lon, *home[:2])[0] < 1.0


@pytest.mark.parametrize("sim_vehicle", [{"speedup": 100.0}], indirect=True)
def test_battery_drains_in_flight_and_low_battery_returns(sim_vehicle, gcs):
    gcs.interval(1, 2)  # SYS_STATUS
    wait_ready(sim_vehicle)
    ground = sim_vehicle.vehicle.snapshot().consumed_mah
    gcs.set_param("BATT_FS_LOW_ACT", 2, ptype=2)  # RTL
    fly(gcs, sim_vehicle, square_mission(sim_vehicle.home, leg_m=300.0))
    gcs.recv("MISSION_ITEM_REACHED", 10.0, cond=lambda m: m.seq == 3)
    a = sim_vehicle.vehicle.snapshot()
    b = sim_vehicle.vehicle.wait_for(lambda s: s.t_sim > a.t_sim + 20, 5, "20 s of flight")
    per_s_flying = (b.consumed_mah - a.consumed_mah) / (b.t_sim - a.t_sim)
    assert ground / 42.5 < per_s_flying / 10  # flying draws > 10x the idle current
    assert 27.0 / 3.6 < per_s_flying < 32.0 / 3.6  # 27-32 A, as SITL's stock battery draws
    status = gcs.recv("SYS_STATUS")
    assert 50 <= status.battery_remaining < 100 and 11.0 < status.voltage_battery / 1000 < 12.7
    sim_vehicle.vehicle.set_battery_remaining(1.0)
    assert (
        "Battery 1 is low" in gcs.recv("STATUSTEXT", 5.0, cond=lambda m: "Battery" in m.text).text
    )
    gcs.recv("HEARTBEAT", 3.0, cond=lambda m: m.custom_mode == 6)


@pytest.mark.parametrize("sim_vehicle", [{"speedup": 100.0}], indirect=True)
def test_guided_takeoff_then_land_disarms(sim_vehicle, gcs):
    wait_ready(sim_vehicle)
    assert gcs.set_mode(4) == 0 and gcs.arm()[0] == 0
    assert gcs.command(22, 0, 0, 0, 0, 0, 0, 12.0).result == 0
    sim_vehicle.vehicle.wait_for(lambda s: s.alt_m > 11.9, 5, "takeoff to 12 m")
    assert gcs.command(21).result == 0  # NAV_LAND -> LAND
    snap = sim_vehicle.vehicle.wait_for(lambda s: not s.armed, 5, "landing")
    assert snap.landed and snap.mode == "LAND"
    assert gcs.command(400, 0).result == 0  # disarming when disarmed is fine


# --- the link itself -------------------------------------------------------------------------


def test_garbage_and_nan_parameters_do_not_stop_the_vehicle(sim_vehicle, gcs):
    gcs.conn.write(bytes(range(256)) * 4 + bytes(600))  # zeros end any half-read frame
    nan = float("nan")
    assert gcs.command(400, 1, nan).result == 4  # not ready: refused, with a reason
    assert gcs.command(176, nan, nan).result == 0  # mode 0 (STABILIZE): already there
    assert gcs.command(511, nan, nan).result == 4
    assert gcs.command(31000).result == 3  # UNSUPPORTED
    gcs.mav.param_set_send(1, 1, b"FENCE_RADIUS", nan, 9)
    assert gcs.param("FENCE_RADIUS") == 150.0
    assert gcs.recv("HEARTBEAT")
    assert sim_vehicle.vehicle.handler_errors == []


def test_dropped_link_goes_silent_then_recovers(sim_vehicle, gcs):
    sim_vehicle.vehicle.drop_link(0.5)
    gcs.collect(0.05)
    assert gcs.collect(0.35) == []
    assert gcs.recv("HEARTBEAT", 2.0)


def test_one_tcp_client_at_a_time_and_reconnect(sim_vehicle, gcs):
    second = Gcs(sim_vehicle.url)
    try:
        assert second.collect(0.5) == []
        gcs.close()
        assert second.recv("HEARTBEAT", 3.0)  # served once the first has gone
    finally:
        second.close()


@pytest.mark.parametrize("sim_vehicle", [{"udp": True}], indirect=True)
def test_udp_vehicle_sends_to_a_listening_gcs(sim_vehicle):
    assert sim_vehicle.url.startswith("udpin:127.0.0.1:")
    g = Gcs(sim_vehicle.url)
    try:
        assert g.param("FENCE_TYPE") == 7.0
    finally:
        g.close()


@pytest.mark.parametrize("sim_vehicle", [{"signing_key": bytes(range(32))}], indirect=True)
def test_signing_vehicle_ignores_unsigned_messages(sim_vehicle, gcs):
    gcs.mav.param_request_read_send(1, 1, b"FENCE_TYPE", -1)
    assert not [m for m in gcs.collect(0.4) if m.get_type() == "PARAM_VALUE"]
    gcs.conn.setup_signing(bytes(range(32)), sign_outgoing=True)
    assert gcs.param("FENCE_TYPE") == 7.0
