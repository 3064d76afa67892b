"""The MAVLink mission protocol for mission, fence and rally lists: upload, download, clear.

Each operation is a small state machine that takes incoming messages and the
time and returns the messages to send (``Out``), so the protocol logic is
tested with scripted message sequences; ``_drive`` runs a machine on a live
``Connection``. ArduPilot behaviour the machines rely on (see
ARDUPILOT_NOTES.md): it answers MISSION_COUNT with plain MISSION_REQUEST,
re-requests after 1 s and cancels after 8 s, NACKs an unexpected item with
INVALID_SEQUENCE but keeps receiving, answers an item after the upload ended
with ERROR, and reads items back normalised.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from mission.items import MissionItem, MissionType, deg_to_e7, same_item
from mission.link._mavlink import enum_name
from mission.link.errors import LinkError, LinkLost, LinkTimeout, MissionRejected, VerifyFailed

if TYPE_CHECKING:
    from mission.link.connection import Connection

ACCEPTED = 0
ERROR = 1
NO_SPACE = 4
INVALID_SEQUENCE = 13
DENIED = 14
UploadMethod = Literal["auto", "ftp", "protocol"]
UPLOAD_METHODS: tuple[UploadMethod, ...] = ("auto", "ftp", "protocol")
MISSION_MESSAGES = (
    "MISSION_REQUEST",
    "MISSION_REQUEST_INT",
    "MISSION_ACK",
    "MISSION_COUNT",
    "MISSION_ITEM_INT",
    "MISSION_ITEM",
)


@dataclass(frozen=True)
class Out:
    """A message to send: a pymavlink message name (lower case) and its fields, no targets."""

    name: str
    fields: dict[str, Any]


@dataclass
class TransferStats:
    count: int = 0
    seconds: float = 0.0
    sent: int = 0  # messages sent, resends included
    resends: int = 0  # sent again after a timeout
    repeated_requests: int = 0  # the vehicle asked again for an item it had been sent
    out_of_order: int = 0  # requests or items not in sequence
    ignored_acks: int = 0  # INVALID_SEQUENCE NACKs for duplicates, stale ACKs
    confirmed: bool = True  # False: final ACK never came, the read-back decided
    method: str = "protocol"  # "ftp": written as ArduPilot's mission file (mission_ftp)
    fallback: str = ""  # why "auto" used the mission protocol instead of FTP


def type_name(mission_type: int) -> str:
    return MissionType(mission_type).name.lower()


def result_name(result: int) -> str:
    return enum_name("MAV_MISSION_RESULT", result)


def item_fields(item: MissionItem, seq: int) -> dict[str, Any]:
    """MISSION_ITEM_INT fields of ``item`` at position ``seq``."""
    return {
        "seq": seq,
        "frame": int(item.frame),
        "command": int(item.command),
        "current": 0,
        "autocontinue": int(item.autocontinue),
        "param1": float(item.param1),
        "param2": float(item.param2),
        "param3": float(item.param3),
        "param4": float(item.param4),
        "x": int(item.x),
        "y": int(item.y),
        "z": float(item.z),
        "mission_type": int(item.mission_type),
    }


def item_from_msg(msg: Any) -> MissionItem:
    """A MissionItem from a MISSION_ITEM_INT, or a MISSION_ITEM with float degrees."""
    x, y = msg.x, msg.y
    item = MissionItem(
        command=int(msg.command),
        frame=int(msg.frame),
        param1=float(msg.param1),
        param2=float(msg.param2),
        param3=float(msg.param3),
        param4=float(msg.param4),
        z=float(msg.z),
        autocontinue=int(msg.autocontinue),
        mission_type=int(getattr(msg, "mission_type", 0)),
    )
    if msg.get_type() == "MISSION_ITEM" and item.has_position:
        return replace(item, x=deg_to_e7(x), y=deg_to_e7(y))
    return replace(item, x=round(x), y=round(y))


class _Machine:
    """Common state of the transfer machines: timing, failure, counters.

    A request is resent when no answer came within the resend interval: four
    round trips once one has been measured (at least ``min_resend_s``), else
    ``timeout_s``. The machine gives up after ``stall_s`` without progress,
    longer than ArduPilot's own 8 s cancel so its reason arrives first.
    """

    def __init__(
        self, mission_type: int, timeout_s: float, stall_s: float, min_resend_s: float = 0.05
    ) -> None:
        self.mission_type = int(mission_type)
        self.timeout_s = timeout_s
        self.stall_s = stall_s
        self.min_resend_s = min_resend_s
        self.rtt_s: float | None = None
        self.deadline = 0.0
        self.progress_at = 0.0
        self.finished = False
        self.error: LinkError | None = None
        self.stats = TransferStats()

    @property
    def resend_after(self) -> float:
        if self.rtt_s is None:
            return self.timeout_s
        return min(self.timeout_s, max(self.min_resend_s, 4.0 * self.rtt_s))

    def _rtt(self, sample: float) -> None:
        self.rtt_s = sample if self.rtt_s is None else 0.8 * self.rtt_s + 0.2 * sample

    def _ours(self, msg: Any) -> bool:
        return int(getattr(msg, "mission_type", 0)) == self.mission_type

    def _fail(self, error: LinkError) -> list[Out]:
        self.finished, self.error = True, error
        return []

    def _finish(self) -> None:
        self.finished = True

    def _progress(self, now: float) -> None:
        self.progress_at = now
        self.deadline = now + self.resend_after

    def _timed_out(self, now: float, what: str) -> bool:
        """A resend is due; True when the transfer stalled for good (and the machine failed)."""
        if now - self.progress_at >= self.stall_s:
            self._fail(
                LinkTimeout(
                    f"{type_name(self.mission_type)} {what}: no answer from the vehicle "
                    f"for {now - self.progress_at:.1f} s"
                )
            )
            return True
        self.deadline = now + self.resend_after
        return False

    def _out(self, name: str, resend: bool = False, **fields: Any) -> Out:
        return self._sent(Out(name, fields), resend)

    def _sent(self, out: Out, resend: bool) -> Out:
        self.stats.sent += 1
        self.stats.resends += int(resend)
        return out


class UploadMachine(_Machine):
    """MISSION_COUNT, then answer each MISSION_REQUEST(_INT) with MISSION_ITEM_INT until the ACK.

    An item whose next request is late is resent (ArduPilot NACKs a copy it
    already has with INVALID_SEQUENCE and carries on). After the last item,
    a missing ACK is waited for up to ``final_ack_wait_s`` with the last item
    resent meanwhile; then the transfer ends unconfirmed and the read-back
    decides.
    """

    def __init__(
        self,
        items: Sequence[MissionItem],
        mission_type: int,
        *,
        timeout_s: float = 1.0,
        stall_s: float = 10.0,
        final_ack_wait_s: float = 2.5,
    ) -> None:
        super().__init__(mission_type, timeout_s, stall_s)
        self.items = list(items)
        # Built once: each request is answered on the link's reader thread, and the
        # vehicle's pace at speed-up 10 hangs on how soon the answer leaves.
        self._item_outs = [
            Out("mission_item_int", item_fields(item, seq)) for seq, item in enumerate(self.items)
        ]
        self.final_ack_wait_s = final_ack_wait_s
        self.state = "count"
        self.last_request: int | None = None  # the item the vehicle asked for most recently
        self.highest = -1  # the highest item asked for so far
        self.sent_at: dict[int, float] = {}
        self.last_item_sends = 0
        self.stats.count = len(self.items)

    def start(self, now: float) -> list[Out]:
        self._progress(now)
        return [self._count()]

    def _count(self, resend: bool = False) -> Out:
        n = len(self.items)
        return self._out("mission_count", resend, count=n, mission_type=self.mission_type)

    def _item(self, seq: int, now: float, resend: bool = False) -> Out:
        self.sent_at[seq] = now
        self.last_item_sends += int(seq == len(self.items) - 1)
        return self._sent(self._item_outs[seq], resend)

    def _all_sent(self) -> bool:
        return len(self.sent_at) == len(self.items)

    def on_message(self, msg: Any, now: float) -> list[Out]:
        if self.finished or not self._ours(msg):
            return []
        mtype = msg.get_type()
        if mtype in ("MISSION_REQUEST", "MISSION_REQUEST_INT"):
            seq = int(msg.seq)
            if not 0 <= seq < len(self.items):
                self.stats.out_of_order += 1
                return []
            if seq in self.sent_at:
                self.stats.repeated_requests += 1
            elif self.last_request is not None and seq != self.last_request + 1:
                self.stats.out_of_order += 1
            if seq - 1 in self.sent_at and seq not in self.sent_at:
                self._rtt(now - self.sent_at[seq - 1])
            if seq > self.highest:
                self.highest, self.progress_at = seq, now
            self.state, self.last_request = "items", seq
            self.deadline = now + self.resend_after
            return [self._item(seq, now)]
        if mtype != "MISSION_ACK":
            return []
        result = int(msg.type)
        if result == ACCEPTED:
            if not self.items or (self.state == "items" and self._all_sent()):
                self._finish()
            else:
                self.stats.ignored_acks += 1  # a stale ACK from an earlier operation
            return []
        if result == INVALID_SEQUENCE and self.state == "items":
            self.stats.ignored_acks += 1  # a copy of an item it already had; it carries on
            return []
        if result == ERROR and self._all_sent() and self.last_item_sends > 1:
            # The last item went twice: the copy after the vehicle finished gets ERROR,
            # and its ACCEPTED may have been lost. The read-back decides.
            self.stats.confirmed = False
            self._finish()
            return []
        return self._fail(
            MissionRejected(result_name(result), type_name(self.mission_type), self.last_request)
        )

    def on_timeout(self, now: float) -> list[Out]:
        if self.finished:
            return []
        last = len(self.items) - 1
        if self.state == "items" and self.highest == last:
            if now - self.progress_at >= self.final_ack_wait_s:
                self.stats.confirmed = False  # final ACK lost or late: the read-back decides
                self._finish()
                return []
            self.deadline = now + self.resend_after
            return [self._item(last, now, resend=True)]
        where = "count" if self.state == "count" else f"item {self.last_request}"
        if self._timed_out(now, f"upload stalled at {where} of {len(self.items)}"):
            return []
        if self.state == "count":
            return [self._count(resend=True)]
        assert self.last_request is not None
        return [self._item(self.last_request, now, resend=True)]


class DownloadMachine(_Machine):
    """MISSION_REQUEST_LIST, then MISSION_REQUEST_INT with ``window`` requests in flight."""

    def __init__(
        self,
        mission_type: int,
        *,
        window: int = 5,
        timeout_s: float = 1.0,
        stall_s: float = 10.0,
        busy_retries: int = 10,
    ) -> None:
        super().__init__(mission_type, timeout_s, stall_s)
        self.window = max(1, window)
        self.busy_left = busy_retries
        self.state = "count"
        self.count = 0
        # seq -> the vehicle's message; converted in ``result``, off the reader thread's path
        self.received: dict[int, Any] = {}
        self.highest = -1  # the highest item received so far
        self.next_seq = 0
        self.outstanding: set[int] = set()
        self.asked_at: dict[int, float] = {}  # seq -> when it was last requested
        self.now = 0.0

    def start(self, now: float) -> list[Out]:
        self.now = now
        self._progress(now)
        return [self._request_list()]

    def _request_list(self, resend: bool = False) -> Out:
        return self._out("mission_request_list", resend, mission_type=self.mission_type)

    def _request(self, seq: int, resend: bool = False) -> Out:
        self.outstanding.add(seq)
        self.asked_at[seq] = self.now
        return self._out("mission_request_int", resend, seq=seq, mission_type=self.mission_type)

    def _fill_window(self) -> list[Out]:
        outs = []
        while len(self.outstanding) < self.window and self.next_seq < self.count:
            outs.append(self._request(self.next_seq))
            self.next_seq += 1
        return outs

    def _ack(self) -> Out:
        return self._out("mission_ack", type=ACCEPTED, mission_type=self.mission_type)

    @property
    def result(self) -> list[MissionItem]:
        return [item_from_msg(self.received[i]) for i in range(self.count)]

    def on_message(self, msg: Any, now: float) -> list[Out]:
        if self.finished or not self._ours(msg):
            return []
        self.now = now
        mtype = msg.get_type()
        if mtype == "MISSION_COUNT":
            if self.state != "count":
                return []  # a duplicate answer to a resent request list
            self.state, self.count = "items", int(msg.count)
            self.stats.count = self.count
            self._progress(now)
            if self.count == 0:
                self._finish()
                return [self._ack()]
            return self._fill_window()
        if mtype in ("MISSION_ITEM_INT", "MISSION_ITEM"):
            seq = int(msg.seq)
            if self.state != "items" or not 0 <= seq < self.count or seq in self.received:
                return []
            if seq < self.highest:
                self.stats.out_of_order += 1  # arrived after a later item
            self.highest = max(self.highest, seq)
            self.received[seq] = msg
            self.outstanding.discard(seq)
            self._rtt(now - self.asked_at[seq])
            self._progress(now)
            if len(self.received) == self.count:
                self._finish()
                return [self._ack()]
            return self._rerequest_gaps(seq) + self._fill_window()
        if mtype == "MISSION_ACK":
            result = int(msg.type)
            if result == ACCEPTED:
                self.stats.ignored_acks += 1
                return []
            if result == DENIED and self.busy_left > 0:
                # The vehicle is still receiving an upload (it cancels one after 8 s).
                self.busy_left -= 1
                self.state, self.outstanding, self.next_seq = "count", set(), 0
                self.deadline = now + self.timeout_s
                return []  # progress_at stays: a vehicle busy for good ends in a stall
            return self._fail(
                MissionRejected(
                    result_name(result), f"{type_name(self.mission_type)} download", None
                )
            )
        return []

    def _rerequest_gaps(self, seq: int) -> list[Out]:
        # The vehicle answers in order: an earlier request still open when a later answer
        # arrives was lost (or its answer was), so ask again now instead of at the timeout.
        asked = self.asked_at.get(seq, self.now)
        lost = sorted(q for q in self.outstanding if q < seq and self.asked_at[q] <= asked)
        return [self._request(q, resend=True) for q in lost]

    def on_timeout(self, now: float) -> list[Out]:
        if self.finished:
            return []
        self.now = now
        where = "count" if self.state == "count" else f"item {min(self.outstanding, default=0)}"
        if self._timed_out(now, f"download stalled at {where}"):
            return []
        if self.state == "count":
            return [self._request_list(resend=True)]
        return [self._request(seq, resend=True) for seq in sorted(self.outstanding)]


class ClearMachine(_Machine):
    """MISSION_CLEAR_ALL until the ACK."""

    def start(self, now: float) -> list[Out]:
        self._progress(now)
        return [self._out("mission_clear_all", mission_type=self.mission_type)]

    def on_message(self, msg: Any, now: float) -> list[Out]:
        if self.finished or msg.get_type() != "MISSION_ACK" or not self._ours(msg):
            return []
        if int(msg.type) == ACCEPTED:
            self._finish()
            return []
        return self._fail(
            MissionRejected(
                result_name(int(msg.type)), f"{type_name(self.mission_type)} clear", None
            )
        )

    def on_timeout(self, now: float) -> list[Out]:
        if self.finished or self._timed_out(now, "clear"):
            return []
        return [self._out("mission_clear_all", resend=True, mission_type=self.mission_type)]


def _for_us(conn: Connection, msg: Any) -> bool:
    target = getattr(msg, "target_system", 0)
    comp = getattr(msg, "target_component", 0)
    ours = conn.mav.mav.srcSystem, conn.mav.mav.srcComponent
    return target in (0, ours[0]) and comp in (0, ours[1])


def _drive(conn: Connection, machine: Any, what: str) -> None:
    """Run ``machine`` on ``conn`` until it finishes; raise its error.

    The connection's reader thread gives each message to the machine and sends
    the answer at once; this thread only waits and handles the timeouts. The
    vehicle asks for one item at a time and its pace hangs on how soon each
    answer leaves: against SITL at speed-up 10, 50 us more per answer took 700
    items from 0.43 s to 0.79 s, and handing each request to this thread (a
    thread wake-up per item) made the upload ~1.5x slower on a busy machine.
    The lock keeps the machine's steps and their sends in one order.
    """
    lock = threading.Lock()
    wake = threading.Event()  # the machine finished, or its deadline moved before wake_at
    wake_at = 0.0

    def send(outs: list[Out]) -> None:
        for out in outs:
            conn.send(out.name, **out.fields)

    def on_message(msg: Any) -> None:  # on the reader thread
        if not _for_us(conn, msg):
            return
        with lock:
            send(machine.on_message(msg, time.monotonic()))
            if machine.finished or machine.deadline < wake_at:
                wake.set()

    t0 = time.monotonic()
    try:
        lock.acquire()  # holds the handler off until start() has run and been sent
        with conn.subscribe(*MISSION_MESSAGES, handler=on_message) as sub:
            try:
                send(machine.start(t0))
            finally:
                lock.release()
            while True:
                with lock:
                    now = time.monotonic()
                    if not machine.finished and now >= machine.deadline:
                        send(machine.on_timeout(now))
                    if machine.finished:
                        break
                    wake_at = min(machine.deadline, now + 0.05)  # 0.05: see a lost link soon
                    wake.clear()
                sub.check()  # LinkLost, or what a send on the reader thread raised
                wake.wait(wake_at - time.monotonic())
    except LinkLost as exc:
        raise LinkLost(f"{exc} (during the {what})") from exc
    machine.stats.seconds = time.monotonic() - t0
    if machine.error is not None:
        raise machine.error


def _hint(conn: Connection, since: float, error: MissionRejected, count: int) -> MissionRejected:
    texts = [s.text for s in conn.snapshot().statustexts_since(since) if s.severity <= 4]
    hint = "; ".join(
        dict.fromkeys(texts)
    )  # the vehicle's own words, e.g. "Fence validation failed"
    if error.result == "NO_SPACE":
        hint = (
            f"the vehicle cannot hold {count} items (stock ArduPilot SITL holds 650 copter "
            f"mission items): split the plan into shorter sorties"
            + (f"; vehicle says: {hint}" if hint else "")
        )
    elif hint:
        hint = f"vehicle says: {hint}"
    return MissionRejected(error.result, error.mission_type, error.seq, hint)


def upload(
    conn: Connection,
    items: Sequence[MissionItem],
    mission_type: int = MissionType.MISSION,
    *,
    verify: bool = True,
    startup_retry_s: float = 10.0,
    timeout_s: float = 1.0,
    method: UploadMethod = "auto",
) -> TransferStats:
    """Upload ``items`` (for MISSION, item 0 is home), then read back and compare.

    ``method``: "ftp" writes ArduPilot's mission file over MAVLink FTP,
    "protocol" sends item by item, "auto" tries FTP where the vehicle offers
    it and falls back to the protocol on any FTP failure (``stats.fallback``
    says why). NO_SPACE within ``startup_retry_s`` of the first heartbeat is
    retried (ArduPilot refuses uploads until its start-up has finished).
    """
    if method not in UPLOAD_METHODS:
        raise LinkError(f"unknown upload method {method!r}: use one of {', '.join(UPLOAD_METHODS)}")
    for item in items:
        if int(item.mission_type) != int(mission_type):
            raise LinkError(
                f"item {item} has mission_type {item.mission_type}, "
                f"not {type_name(mission_type)}: pass the {type_name(mission_type)} items only"
            )
    fallback = ""
    if method != "protocol":
        from mission.link.mission_ftp import try_upload

        done = try_upload(conn, items, mission_type, required=method == "ftp", verify=verify)
        if not isinstance(done, str):
            return done
        fallback = done
    what = f"{type_name(mission_type)} upload of {len(items)} items"
    while True:
        since = time.monotonic()
        machine = UploadMachine(items, mission_type, timeout_s=timeout_s)
        try:
            _drive(conn, machine, what)
            break
        except MissionRejected as exc:
            texts = conn.snapshot().statustexts_since(since)
            full = any("items are supported" in t.text for t in texts)  # a capacity refusal
            if exc.result == "NO_SPACE" and not full and conn.age_s < startup_retry_s:
                time.sleep(0.25)
                continue
            raise _hint(conn, since, exc, len(items)) from None
    if verify or not machine.stats.confirmed:
        got = download(conn, mission_type)
        compare(items, got, mission_type)
    machine.stats.fallback = fallback
    return machine.stats


def download(
    conn: Connection, mission_type: int = MissionType.MISSION, *, window: int = 5
) -> list[MissionItem]:
    """All items of ``mission_type`` on the vehicle (for MISSION, item 0 is home)."""
    machine = DownloadMachine(mission_type, window=window)
    _drive(conn, machine, f"{type_name(mission_type)} download")
    return machine.result


def clear(conn: Connection, mission_type: int = MissionType.MISSION) -> None:
    machine = ClearMachine(mission_type, timeout_s=1.0, stall_s=6.0)
    _drive(conn, machine, f"{type_name(mission_type)} clear")


def compare(sent: Sequence[MissionItem], got: Sequence[MissionItem], mission_type: int) -> None:
    """Raise VerifyFailed unless the read-back matches what was sent (item 0 = home excepted)."""
    name = type_name(mission_type)
    if len(sent) != len(got):
        raise VerifyFailed(
            f"{name} read-back has {len(got)} items, {len(sent)} were uploaded: "
            "the upload did not complete; upload again"
        )
    skip = 1 if int(mission_type) == MissionType.MISSION else 0
    for seq, (a, b) in enumerate(zip(sent, got, strict=True)):
        if int(mission_type) == MissionType.FENCE:
            a = replace(a, frame=b.frame, z=b.z)  # fence vertices and circles have no altitude
        if seq >= skip and not same_item(a, b):
            raise VerifyFailed(
                f"{name} item {seq} read back differs: sent {a}, vehicle has {b}; upload again"
            )


@dataclass
class PlanUpload:
    """What ``upload_all`` sent: stats per mission type."""

    stats: dict[str, TransferStats] = field(default_factory=dict)


def upload_all(
    conn: Connection,
    mission: Sequence[MissionItem],
    fence: Sequence[MissionItem] = (),
    rally: Sequence[MissionItem] = (),
) -> PlanUpload:
    """Fence first, then rally, then the mission, each verified by read-back."""
    result = PlanUpload()
    for mtype, items in (
        (MissionType.FENCE, fence),
        (MissionType.RALLY, rally),
        (MissionType.MISSION, mission),
    ):
        result.stats[type_name(mtype)] = upload(conn, items, mtype)
    return result
