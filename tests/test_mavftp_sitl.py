"""Uploads over MAVLink FTP: to ArduPilot SITL (marked sitl), and the fallback where FTP is absent.

ArduPilot's own mission files are written over FTP and read back with the
mission protocol, so the FTP path is checked against what the vehicle stores
item by item. The built-in simulated vehicle offers no FTP: "auto" must fall
back to the mission protocol and "ftp" must say why it cannot.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest

from mission.items import Cmd, Frame, MissionItem, MissionType, home_item
from mission.link import transfer
from mission.link.connection import Connection, open_link
from mission.link.errors import MissionRejected, VerifyFailed
from mission.link.ftp import FtpError, FtpNak
from mission.link.mission_ftp import download as ftp_download
from mission.link.mission_ftp import offers_ftp
from mission.link.telemetry import rates_for_speedup
from sitl.endpoints import VehicleEndpoint


def offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / 111_132.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def survey(home: tuple[float, float, float], n: int) -> list[MissionItem]:
    lat, lon, alt = home
    items = [home_item(lat, lon, alt), MissionItem(Cmd.NAV_TAKEOFF, z=30.0)]
    for i in range(n - 4):
        pos = offset(lat, lon, (i // 25) * 8.0, (i % 25) * 8.0)
        items.append(MissionItem.at(Cmd.NAV_WAYPOINT, *pos, 30.0))
    items.append(MissionItem(Cmd.DO_CHANGE_SPEED, frame=Frame.MISSION, param2=6.5))
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH))
    return items


def fence(home: tuple[float, float, float]) -> list[MissionItem]:
    ring = [offset(home[0], home[1], 300 * math.cos(a), 300 * math.sin(a)) for a in (0, 2, 4)]
    poly = [
        MissionItem.at(
            Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, *p, 0.0, param1=3, frame=Frame.GLOBAL
        )
        for p in ring
    ]
    hole = MissionItem.at(
        Cmd.NAV_FENCE_CIRCLE_EXCLUSION,
        *offset(home[0], home[1], 50, 50),
        0.0,
        param1=10.0,
        frame=Frame.GLOBAL,
    )
    return [it.with_type(MissionType.FENCE) for it in [*poly, hole]]


def rally(home: tuple[float, float, float]) -> list[MissionItem]:
    return [
        MissionItem.at(Cmd.NAV_RALLY_POINT, *offset(home[0], home[1], 40 * k, -30), 25.0).with_type(
            MissionType.RALLY
        )
        for k in range(3)
    ]


@pytest.fixture
def sitl_link(ardupilot_sitl: VehicleEndpoint) -> Iterator[Connection]:
    speedup = ardupilot_sitl.vehicle.speedup
    with open_link(
        ardupilot_sitl.url, ready_timeout_s=90, rates_hz=rates_for_speedup(speedup)
    ) as conn:
        yield conn


@pytest.mark.sitl
def test_ftp_upload_of_mission_fence_and_rally_reads_back_by_the_mission_protocol(
    ardupilot_sitl: VehicleEndpoint, sitl_link: Connection
) -> None:
    home = ardupilot_sitl.home
    assert offers_ftp(sitl_link)
    plan = {
        MissionType.FENCE: fence(home),
        MissionType.RALLY: rally(home),
        MissionType.MISSION: survey(home, 600),
    }
    for mtype, items in plan.items():
        stats = transfer.upload(sitl_link, items, mtype, method="ftp")
        assert stats.method == "ftp" and stats.count == len(items) and not stats.fallback
        transfer.compare(items, transfer.download(sitl_link, mtype), mtype)
    # A shorter list replaces the longer one whole, as the file says, and "auto" takes FTP.
    short = survey(home, 12)
    assert transfer.upload(sitl_link, short, method="auto").method == "ftp"
    transfer.compare(short, transfer.download(sitl_link, MissionType.MISSION), 0)
    transfer.compare(short, ftp_download(sitl_link, MissionType.MISSION), 0)


@pytest.mark.sitl
def test_refused_ftp_upload_is_caught_and_auto_falls_back_to_the_protocols_reason(
    ardupilot_sitl: VehicleEndpoint, sitl_link: Connection
) -> None:
    too_many = survey(ardupilot_sitl.home, 700)  # stock SITL stores 650 mission items
    # This firmware ACKs closing a file it could not store whole: the read-back tells.
    with pytest.raises((FtpNak, VerifyFailed), match=r"refused the written file|650 items, 700"):
        transfer.upload(sitl_link, too_many, method="ftp")
    with pytest.raises(MissionRejected, match="NO_SPACE"):
        transfer.upload(sitl_link, too_many, method="auto")
    ok = survey(ardupilot_sitl.home, 20)
    assert transfer.upload(sitl_link, ok).method == "ftp"  # the vehicle is fine afterwards


def test_auto_falls_back_to_the_mission_protocol_where_ftp_is_not_offered(
    sim_vehicle: VehicleEndpoint,
) -> None:
    with open_link(sim_vehicle.url, ready_timeout_s=20) as conn:
        assert not offers_ftp(conn)
        items = survey(sim_vehicle.home, 50)
        stats = transfer.upload(conn, items, method="auto")
        assert stats.method == "protocol" and stats.count == 50
        assert "does not advertise MAVLink FTP" in stats.fallback
        points = rally(sim_vehicle.home)
        assert transfer.upload(conn, points, MissionType.RALLY).method == "protocol"
        transfer.compare(items, transfer.download(conn), 0)
        with pytest.raises(FtpError, match="does not advertise MAVLink FTP"):
            transfer.upload(conn, items, method="ftp")
        with pytest.raises(Exception, match="unknown upload method 'fast'"):
            transfer.upload(conn, items, method="fast")  # type: ignore[arg-type]
