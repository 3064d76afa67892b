"""Mission, fence and rally lists over MAVLink FTP: ArduPilot's mission files, the fast path.

Writing ``@MISSION/mission.dat`` replaces the whole list in one file transfer
(700 items in ~0.1 s at speed-up 1, against ~3.9 s item by item). Used when
the vehicle advertises MAV_PROTOCOL_CAPABILITY_FTP in AUTOPILOT_VERSION;
``transfer.upload`` falls back to the mission protocol when it does not, or
when the FTP transfer or its read-back fails.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mission.items import MissionItem
from mission.link.errors import VerifyFailed
from mission.link.ftp import FtpClient, FtpError
from mission.link.mission_file import MissionFileError, decode, encode, path_for

if TYPE_CHECKING:
    from mission.link.connection import Connection
    from mission.link.transfer import TransferStats

log = logging.getLogger(__name__)

MAV_CMD_REQUEST_MESSAGE = 512
AUTOPILOT_VERSION_ID = 148
MAV_PROTOCOL_CAPABILITY_FTP = 32
# What makes "auto" fall back to the mission protocol; a lost link is not among them.
FTP_FAILURES = (FtpError, MissionFileError, VerifyFailed)

_offers: weakref.WeakKeyDictionary[Connection, bool] = weakref.WeakKeyDictionary()


def offers_ftp(conn: Connection, *, timeout_s: float = 0.5, retries: int = 3) -> bool:
    """Whether the vehicle advertises MAVLink FTP (asked once per connection, then cached).

    A vehicle that never sends AUTOPILOT_VERSION is taken not to offer it.
    """
    known = _offers.get(conn)
    if known is not None:
        return known
    offered = False
    with conn.subscribe("AUTOPILOT_VERSION") as sub:
        for attempt in range(retries + 1):
            conn.send(
                "command_long",
                command=MAV_CMD_REQUEST_MESSAGE,
                confirmation=attempt,
                param1=float(AUTOPILOT_VERSION_ID),
            )
            msg = sub.get(timeout_s)
            if msg is not None:
                offered = bool(int(msg.capabilities) & MAV_PROTOCOL_CAPABILITY_FTP)
                break
        else:
            log.info("no AUTOPILOT_VERSION from %s: taking it to have no MAVLink FTP", conn.url)
    _offers[conn] = offered
    return offered


def download(conn: Connection, mission_type: int) -> list[MissionItem]:
    """All items of ``mission_type`` on the vehicle, read as its mission file."""
    return decode(FtpClient(conn).read_file(path_for(mission_type)), mission_type)


def upload(
    conn: Connection, items: Sequence[MissionItem], mission_type: int, *, verify: bool = True
) -> TransferStats:
    """Write ``items`` as the vehicle's mission file, then read the file back and compare."""
    from mission.link.transfer import TransferStats, compare

    client = FtpClient(conn)
    t0 = time.monotonic()
    client.write_file(path_for(mission_type), encode(items, mission_type))
    stats = TransferStats(
        count=len(items),
        seconds=time.monotonic() - t0,
        sent=client.stats.requests,
        resends=client.stats.resends,
        method="ftp",
    )
    if verify:
        compare(items, download(conn, mission_type), mission_type)
    return stats


def try_upload(
    conn: Connection,
    items: Sequence[MissionItem],
    mission_type: int,
    *,
    required: bool,
    verify: bool = True,
) -> TransferStats | str:
    """Upload by FTP; the stats, or (unless ``required``) why the mission protocol must do it.

    With ``required`` every failure is raised, a vehicle without FTP included.
    """
    from mission.link.transfer import type_name

    what = f"{type_name(mission_type)} upload of {len(items)} items"
    if not offers_ftp(conn):
        reason = "the vehicle does not advertise MAVLink FTP"
        if required:
            raise FtpError(f"cannot FTP the {what}: {reason} (use the mission protocol)")
        return reason
    try:
        return upload(conn, items, mission_type, verify=verify)
    except FTP_FAILURES as exc:
        if required:
            raise
        log.warning("MAVLink FTP %s failed, using the mission protocol: %s", what, exc)
        return f"FTP failed: {exc}"
