"""The vehicle link against the simulated vehicle on loopback: transfers, params, arming, NACKs."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from mission.items import Cmd, Frame, MissionItem, MissionType, home_item
from mission.link import flight, params, transfer
from mission.link.connection import Connection, open_link
from mission.link.errors import ArmRefused, ConnectFailed, LinkLost, MissionRejected, ParamError
from sitl.sim import SimConfig, SimVehicle
from sitl.sim.autopilot import Readiness

LAT, LON = 29.2485, 115.7740
FAST_READY = Readiness(gps_fix_s=1.0, home_s=2.0, prearm_s=2.5, ekf_s=3.0)


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / 111_132.0,
        lon + east_m / (111_320.0 * math.cos(math.radians(lat))),
    )


def survey(n: int, alt: float = 30.0) -> list[MissionItem]:
    """Home, takeoff, n-3 waypoints on a 10 m grid, RTL: n items in all."""
    items = [home_item(LAT, LON, 20.0), MissionItem(Cmd.NAV_TAKEOFF, z=alt)]
    for i in range(n - 3):
        items.append(
            MissionItem.at(Cmd.NAV_WAYPOINT, *offset(LAT, LON, (i // 30) * 10, (i % 30) * 10), alt)
        )
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH))
    return items


def polygon_fence(n: int, radius_m: float) -> list[MissionItem]:
    items = []
    for k in range(n):
        a = 2 * math.pi * k / n
        lat, lon = offset(LAT, LON, radius_m * math.cos(a), radius_m * math.sin(a))
        items.append(
            MissionItem.at(
                Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, lat, lon, 0.0, param1=n, frame=Frame.GLOBAL
            ).with_type(MissionType.FENCE)
        )
    return items


def rally(n: int) -> list[MissionItem]:
    return [
        MissionItem.at(Cmd.NAV_RALLY_POINT, *offset(LAT, LON, 40 * k, -30), 25.0).with_type(
            MissionType.RALLY
        )
        for k in range(n)
    ]


SD_STORAGE = {"BRD_SD_MISSION": 64}  # mission in a file: ~4368 items instead of 650


@pytest.fixture
def vehicle() -> Iterator[SimVehicle]:
    v = SimVehicle(
        SimConfig(home=(LAT, LON, 20.0), speedup=20, readiness=FAST_READY, params=SD_STORAGE)
    ).start()
    yield v
    v.stop()


@pytest.fixture
def link(vehicle: SimVehicle) -> Iterator[Connection]:
    conn = open_link(vehicle.url, ready_timeout_s=20)
    yield conn
    conn.close()


def test_round_trip_of_700_items_and_rally(vehicle: SimVehicle, link: Connection) -> None:
    mission, points = survey(700), rally(5)
    st_r = transfer.upload(link, points, MissionType.RALLY)
    st_m = transfer.upload(link, mission)
    assert (st_r.count, st_m.count) == (5, 700)
    assert st_m.confirmed and st_m.resends == 0
    # what the vehicle holds, seen from its side
    snap = vehicle.snapshot()
    assert len(snap.mission) == 700 and len(snap.rally) == 5
    # and a download through the link matches semantically (home excepted)
    back = transfer.download(link, MissionType.MISSION)
    transfer.compare(mission, back, MissionType.MISSION)
    assert back[-1].command == Cmd.NAV_RETURN_TO_LAUNCH
    assert tuple(transfer.download(link, MissionType.RALLY)) == snap.rally
    transfer.compare(points, list(snap.rally), MissionType.RALLY)
    transfer.clear(link, MissionType.RALLY)
    assert transfer.download(link, MissionType.RALLY) == []
    assert vehicle.snapshot().rally == ()


def test_round_trip_of_a_70_vertex_fence() -> None:
    # stock storage holds 69 vertices (560 bytes); BRD_SD_FENCE keeps the fence in a file
    config = SimConfig(
        home=(LAT, LON, 20.0), speedup=20, readiness=FAST_READY, params={"BRD_SD_FENCE": 1}
    )
    fence = polygon_fence(70, 400.0)
    with SimVehicle(config) as v, open_link(v.url, ready_timeout_s=20) as conn:
        assert transfer.upload(conn, fence, MissionType.FENCE).count == 70
        assert [(i.x, i.y) for i in v.snapshot().fence] == [(i.x, i.y) for i in fence]
        transfer.compare(fence, transfer.download(conn, MissionType.FENCE), MissionType.FENCE)
        transfer.clear(conn, MissionType.FENCE)
        assert transfer.download(conn, MissionType.FENCE) == []


def test_home_item_is_ignored_and_reads_back_as_the_real_home(
    vehicle: SimVehicle, link: Connection
) -> None:
    items = survey(5)
    far = [home_item(*offset(LAT, LON, 1000, 0), 20.0), *items[1:]]
    transfer.upload(link, far)
    home = transfer.download(link)[0]
    assert (home.x, home.y) == (round(LAT * 1e7), round(LON * 1e7))


def test_stock_storage_refuses_700_items_and_a_70_vertex_fence_with_advice() -> None:
    config = SimConfig(home=(LAT, LON, 20.0), speedup=20, readiness=FAST_READY)
    with SimVehicle(config) as v, open_link(v.url, ready_timeout_s=20) as conn:
        with pytest.raises(MissionRejected, match=r"NO_SPACE.*split the plan.*Only 650 items"):
            transfer.upload(conn, survey(700))
        with pytest.raises(MissionRejected, match=r"fence upload.*ERROR.*storage"):
            transfer.upload(conn, polygon_fence(70, 400.0), MissionType.FENCE)
        transfer.upload(conn, polygon_fence(69, 400.0), MissionType.FENCE)


def test_nacked_item_names_the_result_and_item(vehicle: SimVehicle, link: Connection) -> None:
    vehicle.reject_mission_item(7, result=10)  # MAV_MISSION_INVALID_PARAM5_X
    with pytest.raises(
        MissionRejected, match=r"mission upload at item 7: INVALID_PARAM5_X"
    ) as info:
        transfer.upload(link, survey(20))
    assert info.value.result == "INVALID_PARAM5_X" and info.value.seq == 7


def test_bad_fence_is_rejected_with_the_vehicles_reason(link: Connection) -> None:
    fence = polygon_fence(6, 200.0)
    fence[0] = MissionItem.at(
        Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, fence[0].lat, fence[0].lon, 0.0, param1=5
    ).with_type(MissionType.FENCE)
    with pytest.raises(MissionRejected, match=r"fence upload.*ERROR") as info:
        transfer.upload(link, fence, MissionType.FENCE)
    assert "vehicle says" in str(info.value)


def test_lost_items_are_resent_and_the_upload_still_verifies(
    vehicle: SimVehicle, link: Connection
) -> None:
    vehicle.ignore_next("MISSION_ITEM_INT", 3)
    vehicle.ignore_next("MISSION_COUNT", 1)
    stats = transfer.upload(link, survey(30))
    assert stats.resends >= 1 or stats.repeated_requests >= 1
    transfer.compare(survey(30), transfer.download(link), MissionType.MISSION)


def test_params_get_set_with_read_back(link: Connection) -> None:
    assert params.get(link, "FENCE_RADIUS") == pytest.approx(150.0)
    assert params.set_param(link, "fence_alt_max", 65.5) == pytest.approx(65.5)
    assert params.get(link, "FENCE_ALT_MAX") == pytest.approx(65.5)
    got = params.set_many(link, {"FENCE_TYPE": 5, "FENCE_ENABLE": 1})
    assert got == {"FENCE_TYPE": 5.0, "FENCE_ENABLE": 1.0}
    with pytest.raises(ParamError, match="no parameter NO_SUCH_PARAM"):
        params.get(link, "NO_SUCH_PARAM", timeout_s=0.2, retries=1)
    with pytest.raises(ParamError, match="1-16 ASCII"):
        params.get(link, "A_NAME_LONGER_THAN_16")


def test_refused_arm_reports_the_vehicles_reason(vehicle: SimVehicle, link: Connection) -> None:
    transfer.upload(link, survey(6))
    vehicle.refuse_arming("Battery 1 below minimum arming voltage")
    with pytest.raises(ArmRefused, match="Battery 1 below minimum arming voltage") as info:
        flight.start_mission(link)
    assert info.value.result == "FAILED"
    assert not vehicle.snapshot().armed


def test_arming_outside_the_fence_is_refused(vehicle: SimVehicle, link: Connection) -> None:
    far = [
        MissionItem.at(
            Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, *offset(LAT, LON, n, e), 0.0, param1=4
        ).with_type(MissionType.FENCE)
        for n, e in [(1000, 1000), (1000, 1200), (1200, 1200), (1200, 1000)]
    ]
    flight.prepare(link, survey(6), far, (), {"FENCE_TYPE": 4, "FENCE_ENABLE": 1})
    with pytest.raises(ArmRefused, match="Polygon fence"):
        flight.start_mission(link)


def test_link_dropped_mid_upload_is_link_lost_not_a_hang(vehicle: SimVehicle) -> None:
    with open_link(vehicle.url, ready_timeout_s=20, heartbeat_timeout_s=1.0) as conn:
        items = survey(600)

        def cut_when_busy() -> None:
            vehicle.wait_for(lambda s: len(s.mission) > 50, 10, "50 items uploaded")
            vehicle.drop_link(None)

        import threading

        t = threading.Thread(target=cut_when_busy, daemon=True)
        t.start()
        t0 = time.monotonic()
        with pytest.raises(LinkLost, match="during the mission upload"):
            transfer.upload(conn, items)
        assert time.monotonic() - t0 < 15
        t.join(5)


def test_signed_link_to_a_signing_vehicle(monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(32))
    config = SimConfig(home=(LAT, LON, 20.0), speedup=20, readiness=FAST_READY, signing_key=key)
    with SimVehicle(config) as v:
        monkeypatch.setenv("WATERPATROL_MAVLINK_KEY", key.hex())
        with open_link(v.url, ready_timeout_s=20) as conn:
            transfer.upload(conn, survey(10))
        assert len(v.snapshot().mission) == 10
        monkeypatch.setenv("WATERPATROL_MAVLINK_KEY", "not the key")
        with pytest.raises(ConnectFailed, match="bad signatures"):
            open_link(v.url, connect_timeout_s=1.0)
