"""What the simulated vehicle stores of uploaded items, and its mission protocol state machine."""

from __future__ import annotations

import math

from mission.items import Cmd, Frame, MissionItem, MissionType, home_item
from sitl.sim.mission_server import MissionServer
from sitl.sim.storage import Result, store_item

HOME = (29.2505, 115.7953, 21.0)


def test_copter_waypoint_keeps_only_whole_second_hold_time():
    wp = MissionItem.at(
        Cmd.NAV_WAYPOINT, 29.25, 115.79, 30.004, param1=2.7, param2=5.0, param4=90.0
    )
    res, stored = store_item(wp)
    assert res == Result.ACCEPTED
    assert (stored.param1, stored.param2, stored.param3, stored.param4) == (2.0, 0.0, 0.0, 0.0)
    assert (
        stored.z == 30.0
        and stored.frame == Frame.GLOBAL_RELATIVE_ALT
        and (stored.x, stored.y) == (wp.x, wp.y)
    )


def test_frames_and_params_as_ardupilot_reads_them_back():
    rtl = MissionItem(command=Cmd.NAV_RETURN_TO_LAUNCH, frame=Frame.GLOBAL_RELATIVE_ALT, param1=3)
    assert store_item(rtl)[1] == MissionItem(command=Cmd.NAV_RETURN_TO_LAUNCH, frame=Frame.GLOBAL)
    land = MissionItem.at(Cmd.NAV_LAND, 29.25, 115.79, 0.0)
    assert store_item(land)[1].param4 == 1.0
    speed = MissionItem(
        command=Cmd.DO_CHANGE_SPEED, frame=Frame.MISSION, param1=1, param2=7.5, param3=-1, param4=9
    )
    assert store_item(speed)[1] == MissionItem(
        command=Cmd.DO_CHANGE_SPEED, frame=Frame.GLOBAL, param1=1, param2=7.5, param3=-1
    )
    absolute = MissionItem.at(Cmd.NAV_WAYPOINT, 29.25, 115.79, 60.0, frame=Frame.GLOBAL_INT)
    assert store_item(absolute)[1].frame == Frame.GLOBAL


def test_refusals_carry_the_mission_result():
    ok = MissionItem.at(Cmd.NAV_WAYPOINT, 29.25, 115.79, 30.0)
    assert store_item(MissionItem(command=31337))[0] == Result.UNSUPPORTED
    assert store_item(MissionItem(**{**ok.__dict__, "frame": 1}))[0] == Result.UNSUPPORTED_FRAME
    assert store_item(MissionItem(**{**ok.__dict__, "x": 91 * 10**7}))[0] == Result.INVALID_PARAM5_X
    assert (
        store_item(MissionItem(**{**ok.__dict__, "y": -181 * 10**7}))[0] == Result.INVALID_PARAM6_Y
    )
    assert (
        store_item(MissionItem(**{**ok.__dict__, "param1": math.inf}))[0] == Result.INVALID_PARAM1
    )
    assert (
        store_item(MissionItem(**{**ok.__dict__, "param4": math.nan}))[0] == Result.ACCEPTED
    )  # yaw may be NaN
    fence_wp = MissionItem(**{**ok.__dict__, "mission_type": MissionType.FENCE})
    assert store_item(fence_wp)[0] == Result.UNSUPPORTED


def test_rally_and_fence_storage():
    rally = MissionItem.at(Cmd.NAV_RALLY_POINT, 29.25, 115.79, 25.9, mission_type=MissionType.RALLY)
    assert store_item(rally)[1].z == 25.0
    vertex = MissionItem.at(
        Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
        29.25,
        115.79,
        40.0,
        param1=5,
        mission_type=MissionType.FENCE,
    )
    stored = store_item(vertex)[1]
    assert (stored.frame, stored.z, stored.param1) == (Frame.GLOBAL, 0.0, 5.0)
    circle = MissionItem.at(
        Cmd.NAV_FENCE_CIRCLE_INCLUSION,
        29.25,
        115.79,
        0.0,
        param1=120.5,
        mission_type=MissionType.FENCE,
    )
    assert store_item(circle)[1].param1 == 120.5


def _upload(server: MissionServer, items, now=0.0, src=(255, 190), mission_type=0):
    out = server.on_count(src, len(items), mission_type, now)
    for seq, item in enumerate(items):
        assert out[-1][0] == "mission_request" and out[-1][1]["seq"] == seq
        out = server.on_item(src, item, seq, now)
    return out


def test_server_resends_each_simulated_second_and_cancels_after_eight():
    server = MissionServer(home=lambda: HOME)
    server.ready = True
    assert server.on_count((255, 190), 3, 0, 100.0)[0][0] == "mission_request"
    assert server.update(100.9) == []
    assert server.update(101.01)[0][1]["seq"] == 0
    resent = [server.update(100.0 + t / 10) for t in range(11, 81)]
    assert sum(1 for out in resent if out) == 6  # 102.02, 103.03 ... one per second after the last
    out = server.update(108.01)
    assert [o[0] for o in out] == ["statustext", "mission_ack"] and out[1][1]["type"] == 15
    assert out[0][1]["text"] == "Mission upload timeout" and server.uploads == {}


def test_server_mission_item_zero_reads_back_as_home():
    server = MissionServer(home=lambda: HOME)
    server.ready = True
    wp = MissionItem.at(Cmd.NAV_WAYPOINT, 29.26, 115.80, 30.0)
    out = _upload(server, [home_item(0.0, 0.0, 900.0), wp])
    assert out[-1][1]["type"] == 0
    item0 = server.on_request((255, 190), 0, 0, as_int=True)[0][1]
    assert (item0["x"], item0["y"], item0["z"], item0["frame"]) == (292505000, 1157953000, 21.0, 0)
    assert server.on_request((255, 190), 5, 0, as_int=True)[-1][1]["type"] == Result.ERROR
    as_float = server.on_request((255, 190), 1, 0, as_int=False)[0]
    assert as_float[0] == "mission_item" and abs(as_float[1]["x"] - 29.26) < 1e-5
