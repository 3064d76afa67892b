"""Modes, arming, starting AUTO, following a mission, aborting.

Sequence that works on ArduCopter (ARDUPILOT_NOTES.md): GUIDED -> arm -> AUTO
-> MISSION_START. The last item (RTL) completes in AUTO after touchdown, then
MISSION_CURRENT reports seq 0 with mission_state COMPLETE, then the vehicle
disarms. ``follow`` turns the telemetry into events and ends when the
vehicle has disarmed; ``abort`` is RTL, or LAND if RTL is refused.

An item counts as reached when MISSION_ITEM_REACHED names it, or when the
active mission's MISSION_CURRENT moves past it: ArduCopter 4.7 completes
NAV_TAKEOFF and moves on without a MISSION_ITEM_REACHED for it (seen on the
SITL in ../shared/sitl), and AP_Mission only advances past a command once it
has verified it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mission.items import MissionItem
from mission.link import params as params_mod
from mission.link.commands import (
    MAV_CMD_COMPONENT_ARM_DISARM,
    MAV_CMD_DO_SET_MODE,
    MAV_CMD_MISSION_START,
    MAV_RESULT_ACCEPTED,
    command_long,
    result_name,
)
from mission.link.connection import Connection
from mission.link.errors import (
    ArmRefused,
    CommandRejected,
    FlightTimeout,
    LinkError,
    LinkLost,
    LinkTimeout,
    ModeChangeFailed,
)
from mission.link.report import FlightTrack
from mission.link.telemetry import (
    COPTER_MODES,
    MISSION_STATE_ACTIVE,
    MISSION_STATE_COMPLETE,
    Telemetry,
)
from mission.link.transfer import upload

MAV_MODE_FLAG_CUSTOM_MODE_ENABLED = 1


def _reason(conn: Connection, since: float, wait_s: float = 0.5) -> str:
    """The vehicle's STATUSTEXT explaining a refusal ("Arm: ...", "PreArm: ...")."""
    deadline = time.monotonic() + wait_s
    while True:
        texts = conn.snapshot().statustexts_since(since)
        arm = [s.text for s in texts if s.text.lower().startswith(("arm", "prearm"))]
        if arm:
            return "; ".join(dict.fromkeys(arm))
        if time.monotonic() >= deadline:
            warn = [s.text for s in texts if s.severity <= 4]
            return "; ".join(dict.fromkeys(warn))
        time.sleep(0.05)


def _wait_for(conn: Connection, check: Callable[[Telemetry], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    with conn.subscribe("HEARTBEAT") as sub:
        while not check(conn.snapshot()):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sub.get(min(left, 0.2))
    return True


def set_mode(conn: Connection, mode: str, *, timeout_s: float = 5.0) -> None:
    """Switch to ``mode`` (an ArduCopter mode name) and wait until the heartbeat shows it."""
    mode = mode.upper()
    if mode not in COPTER_MODES:
        raise ModeChangeFailed(f"mode {mode}", "UNKNOWN_MODE", f"known: {', '.join(COPTER_MODES)}")
    number = COPTER_MODES[mode]
    if conn.snapshot().custom_mode == number:
        return
    since = time.monotonic()
    result = command_long(
        conn, MAV_CMD_DO_SET_MODE, MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, number, timeout_s=1.0
    )
    if result != MAV_RESULT_ACCEPTED:
        raise ModeChangeFailed(f"mode {mode}", result_name(result), _reason(conn, since, 0.2))
    if not _wait_for(conn, lambda t: t.custom_mode == number, timeout_s):
        raise ModeChangeFailed(
            f"mode {mode}", "TIMEOUT", f"the vehicle stayed in {conn.snapshot().mode}"
        )


def arm(conn: Connection, *, timeout_s: float = 5.0) -> None:
    """Arm; on refusal raise ArmRefused with the vehicle's STATUSTEXT reason."""
    if conn.snapshot().armed:
        return
    since = time.monotonic()
    result = command_long(conn, MAV_CMD_COMPONENT_ARM_DISARM, 1, timeout_s=1.5)
    if result != MAV_RESULT_ACCEPTED:
        raise ArmRefused(result_name(result), _reason(conn, since))
    if not _wait_for(conn, lambda t: t.armed, timeout_s):
        raise ArmRefused("TIMEOUT", _reason(conn, since, 0.0) or "no armed heartbeat followed")


def disarm(conn: Connection, *, force: bool = False) -> None:
    result = command_long(conn, MAV_CMD_COMPONENT_ARM_DISARM, 0, 21196 if force else 0)
    if result != MAV_RESULT_ACCEPTED:
        raise CommandRejected("disarming", result_name(result))


def start_mission(conn: Connection) -> None:
    """GUIDED -> arm -> AUTO -> MISSION_START (AUTO alone never takes off)."""
    set_mode(conn, "GUIDED")
    arm(conn)
    set_mode(conn, "AUTO")
    since = time.monotonic()
    result = command_long(conn, MAV_CMD_MISSION_START, 0, 0)
    if result != MAV_RESULT_ACCEPTED:
        raise CommandRejected("MISSION_START", result_name(result), _reason(conn, since, 0.2))


def abort(conn: Connection) -> str:
    """Return to launch; LAND where RTL is refused. Returns the mode now flying."""
    try:
        set_mode(conn, "RTL")
        return "RTL"
    except (CommandRejected, LinkTimeout):
        set_mode(conn, "LAND")
        return "LAND"


# -- events ------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    seq: int  # current mission item
    total: int  # mission items after home
    reached: int  # distinct items reached
    mode: str
    armed: bool
    lat: float | None
    lon: float | None
    alt_rel_m: float | None
    battery_pct: float | None
    dist_to_item_m: float | None
    elapsed_s: float


@dataclass(frozen=True)
class ItemReached:
    seq: int


@dataclass(frozen=True)
class ModeChanged:
    old: str
    new: str


@dataclass(frozen=True)
class FenceBreach:
    count: int
    breach_type: int


@dataclass(frozen=True)
class VehicleText:
    severity: int
    text: str


@dataclass(frozen=True)
class LinkDown:
    reason: str


@dataclass(frozen=True)
class LinkUp:
    down_s: float


@dataclass(frozen=True)
class MissionComplete:
    pass


@dataclass(frozen=True)
class FlightEnded:
    completed: bool  # the mission ran to its end and the vehicle disarmed
    reason: str


FlightEvent = (
    Progress
    | ItemReached
    | ModeChanged
    | FenceBreach
    | VehicleText
    | LinkDown
    | LinkUp
    | MissionComplete
    | FlightEnded
)

_FOLLOWED = (
    "HEARTBEAT",
    "GLOBAL_POSITION_INT",
    "MISSION_CURRENT",
    "MISSION_ITEM_REACHED",
    "FENCE_STATUS",
    "STATUSTEXT",
    "SYS_STATUS",
    "BATTERY_STATUS",
)


def _distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    from math import cos, radians, sqrt

    k = 111_320.0
    dx = (lon2 - lon1) * k * cos(radians((lat1 + lat2) / 2))
    return sqrt(dx * dx + ((lat2 - lat1) * 110_574.0) ** 2)


def follow(
    conn: Connection,
    items: Sequence[MissionItem],
    *,
    timeout_s: float,
    link_lost_give_up_s: float = 60.0,
    progress_every_s: float = 0.5,
    track: FlightTrack | None = None,
) -> Iterator[FlightEvent]:
    """Events of a mission in flight until the vehicle disarms (then ``FlightEnded``).

    ``items`` is the uploaded mission (item 0 = home). Past ``timeout_s`` the
    vehicle is sent home (``abort``) and FlightTimeout is raised; a link
    silent for ``link_lost_give_up_s`` raises LinkLost (the vehicle's own
    failsafe is then in charge).
    """
    t0 = time.monotonic()
    last = len(items) - 1
    complete = False
    seen_reached: set[int] = set()
    current = 0  # the active mission's current item, as MISSION_CURRENT last said
    last_progress = 0.0
    tel = conn.snapshot()
    mode, breaches = tel.mode, tel.fence_breach_count
    with conn.subscribe(*_FOLLOWED) as sub:
        while True:
            now = time.monotonic()
            if now - t0 > timeout_s:
                flying = abort(conn)
                raise FlightTimeout(
                    f"the flight did not finish within {timeout_s:.0f} s; vehicle sent to {flying}"
                )
            try:
                msg = sub.get(min(0.2, progress_every_s))
            except LinkLost as exc:
                yield LinkDown(str(exc))
                down = time.monotonic()
                if not _wait_for_link(conn, link_lost_give_up_s):
                    raise LinkLost(
                        f"{exc}; gave up after {link_lost_give_up_s:.0f} s: the vehicle's own "
                        "failsafe is in charge, reconnect to follow it"
                    ) from None
                yield LinkUp(time.monotonic() - down)
                continue
            tel = conn.snapshot()
            mtype = msg.get_type() if msg is not None else ""
            if mtype == "GLOBAL_POSITION_INT" and track is not None:
                track.add_position(tel, msg)
            if mtype == "HEARTBEAT" and tel.mode != mode:
                yield ModeChanged(mode, tel.mode)
                mode = tel.mode
            elif mtype == "MISSION_ITEM_REACHED" and msg.seq not in seen_reached:
                yield from _reach(int(msg.seq), seen_reached, track)
                if msg.seq == last and not complete:
                    complete = True
                    yield MissionComplete()
            elif mtype == "MISSION_CURRENT" and not complete:
                state = getattr(msg, "mission_state", None)
                if state == MISSION_STATE_ACTIVE and msg.seq > current:
                    for seq in range(max(current, 1), int(msg.seq)):
                        if seq not in seen_reached:
                            yield from _reach(seq, seen_reached, track)
                    current = int(msg.seq)
                elif state == MISSION_STATE_COMPLETE and seen_reached:
                    complete = True
                    yield MissionComplete()
            elif mtype == "FENCE_STATUS" and tel.fence_breach_count > breaches:
                breaches = tel.fence_breach_count
                if track is not None:
                    track.fence_breaches += 1
                yield FenceBreach(breaches, tel.fence_breach_type)
            elif mtype == "STATUSTEXT":
                yield VehicleText(int(msg.severity), _text(msg.text))
            # Judge the disarm by this heartbeat, not by the latest snapshot: the reader
            # thread may already hold a newer disarmed heartbeat while the RTL item's
            # MISSION_ITEM_REACHED still waits in this queue (seen at x100).
            if mtype == "HEARTBEAT" and _disarmed_autopilot(msg):
                if track is not None:
                    track.finish(tel)
                reason = (
                    "mission complete, landed and disarmed"
                    if complete
                    else (f"the vehicle disarmed in {tel.mode} before the mission completed")
                )
                yield FlightEnded(complete, reason)
                return
            if now - last_progress >= progress_every_s:
                last_progress = now
                yield _progress(tel, items, seen_reached, now - t0)


def _reach(seq: int, seen: set[int], track: FlightTrack | None) -> Iterator[FlightEvent]:
    seen.add(seq)
    if track is not None:
        track.reached.add(seq)
    yield ItemReached(seq)


MAV_AUTOPILOT_INVALID = 8  # a GCS or companion's heartbeat, not the vehicle's
MAV_MODE_FLAG_SAFETY_ARMED = 128


def _disarmed_autopilot(msg: Any) -> bool:
    return msg.autopilot != MAV_AUTOPILOT_INVALID and not (
        msg.base_mode & MAV_MODE_FLAG_SAFETY_ARMED
    )


def _text(raw: str | bytes) -> str:
    text = raw if isinstance(raw, str) else bytes(raw).decode("utf-8", "replace")
    return text.rstrip("\x00")


def _wait_for_link(conn: Connection, give_up_s: float) -> bool:
    deadline = time.monotonic() + give_up_s
    while time.monotonic() < deadline:
        if conn.lost_reason is None:
            return True
        if conn.closed_by_peer:
            return False
        time.sleep(0.1)
    return False


def _progress(
    tel: Telemetry, items: Sequence[MissionItem], reached: set[int], elapsed: float
) -> Progress:
    seq = tel.mission_seq or 0
    dist = None
    if 0 < seq < len(items) and items[seq].has_position and items[seq].x and tel.lat is not None:
        dist = _distance_m(tel.lat, tel.lon or 0.0, items[seq].lat, items[seq].lon)
    return Progress(
        seq=seq,
        total=len(items) - 1,
        reached=len(reached),
        mode=tel.mode,
        armed=tel.armed,
        lat=tel.lat,
        lon=tel.lon,
        alt_rel_m=tel.alt_rel_m,
        battery_pct=tel.battery_pct,
        dist_to_item_m=dist,
        elapsed_s=elapsed,
    )


# -- one sortie ----------------------------------------------------------------


def prepare(
    conn: Connection,
    mission: Sequence[MissionItem],
    fence: Sequence[MissionItem] = (),
    rally: Sequence[MissionItem] = (),
    fence_params: Mapping[str, float] | None = None,
) -> dict[str, object]:
    """Upload and verify fence, rally and mission, then set the FENCE_* parameters.

    FENCE_ENABLE is set last so the fence is armed only once its polygons
    are on the vehicle. Returns per-type transfer stats.
    """
    from mission.items import MissionType

    stats: dict[str, object] = {}
    if fence:
        stats["fence"] = upload(conn, fence, MissionType.FENCE)
    if rally:
        stats["rally"] = upload(conn, rally, MissionType.RALLY)
    stats["mission"] = upload(conn, mission, MissionType.MISSION)
    fp = dict(fence_params or {})
    enable = fp.pop("FENCE_ENABLE", None)
    params_mod.set_many(conn, fp)
    if enable is not None:
        params_mod.set_param(conn, "FENCE_ENABLE", enable)
    return stats


def fly(
    conn: Connection,
    mission: Sequence[MissionItem],
    *,
    timeout_s: float,
    on_event: Callable[[FlightEvent], None] | None = None,
    track: FlightTrack | None = None,
) -> FlightEnded:
    """Start the uploaded ``mission`` and follow it to the end; Ctrl-C sends the vehicle home.

    After Ctrl-C the return is followed until the vehicle disarms, then
    KeyboardInterrupt is raised again; a second Ctrl-C leaves at once.
    """
    start_mission(conn)
    ended: FlightEnded | None = None
    try:
        for event in follow(conn, mission, timeout_s=timeout_s, track=track):
            if on_event is not None:
                on_event(event)
            if isinstance(event, FlightEnded):
                ended = event
    except KeyboardInterrupt:
        flying = abort(conn)
        if on_event is not None:
            on_event(ModeChanged("AUTO", flying))
        for event in follow(conn, mission, timeout_s=timeout_s, track=track):
            if on_event is not None:
                on_event(event)
        raise
    if ended is None:  # follow() only returns after FlightEnded
        raise LinkError("flight ended without a final event")
    return ended
