"""Connection to one autopilot: open, pick its heartbeat, read in the background, watch the link.

A reader thread parses every message, feeds ``Telemetry`` and hands copies to
``Subscription`` queues; other modules (transfer, params, flight) send and
wait on a subscription with a timeout. A subscription with a ``handler``
instead has the reader thread call it with each message: a reply is sent
without waking another thread (the mission protocol answers ~1000 requests a
second that way at SITL speed-up 10). The thread also sends the GCS
heartbeat once a second and raises the link-lost state when the vehicle's
heartbeat stops for ``heartbeat_timeout_s`` (or the TCP socket closes).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from mission.link._mavlink import mavlink, mavutil, msg_id
from mission.link.errors import ConnectFailed, LinkLost, LinkTimeout, NotReady
from mission.link.telemetry import DEFAULT_RATES_HZ, Telemetry

SIGNING_KEY_ENV = "WATERPATROL_MAVLINK_KEY"
GCS_SYSTEM_ID = 255
GCS_COMPONENT_ID = 190  # MAV_COMP_ID_MISSIONPLANNER
MAV_TYPE_GCS = 6
MAV_AUTOPILOT_INVALID = 8
_URL_PREFIXES = ("tcp:", "udpin:", "udpout:", "udp:", "serial:", "/dev/", "COM")


def signing_key_from_env(env: dict[str, str] | None = None) -> bytes | None:
    """The MAVLink 2 signing key from ``WATERPATROL_MAVLINK_KEY``.

    64 hex digits are the 32-byte key itself; anything else is a passphrase
    hashed with SHA-256, as MAVProxy's ``signing setup`` does.
    """
    value = (env if env is not None else os.environ).get(SIGNING_KEY_ENV, "").strip()
    if not value:
        return None
    try:
        if len(value) == 64:
            return bytes.fromhex(value)
    except ValueError:
        pass
    return hashlib.sha256(value.encode()).digest()


Handler = Callable[[Any], None]  # called on the reader thread with each message


@functools.cache
def _message_class(name: str) -> tuple[type, tuple[str, ...]]:
    """pymavlink's class for message ``name`` and its constructor's argument names, in order."""
    cls = getattr(mavlink, f"MAVLink_{name.lower()}_message")
    return cls, tuple(cls.fieldnames)


class Subscription:
    """Messages of some types from the vehicle, from the moment of subscribing.

    Queued for :meth:`get`, or, with a ``handler``, passed to it on the reader
    thread as they arrive. A handler must be quick and never wait on the link
    (its replies are sends); what it raises is kept and raised by :meth:`check`,
    and the handler is not called again.
    """

    def __init__(
        self, conn: Connection, types: frozenset[str] | None, handler: Handler | None = None
    ) -> None:
        self._conn = conn
        self.types = types
        self._handler = handler
        self.error: BaseException | None = None  # what the handler raised
        self._q: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def _offer(self, msg: Any, mtype: str) -> None:
        if self.types is not None and mtype not in self.types:
            return
        if self._handler is None:
            self._q.put(msg)
        elif self.error is None:
            try:
                self._handler(msg)
            except Exception as exc:  # the owner's bug or LinkLost: raised in its thread
                self.error = exc

    def check(self) -> None:
        """Raise what the handler raised, or LinkLost once the link is lost."""
        if self.error is not None:
            raise self.error
        if self._conn.lost_reason is not None:
            raise LinkLost(self._conn.lost_reason)

    def get(self, timeout_s: float) -> Any | None:
        """The next message, or None after ``timeout_s``; raises LinkLost once the link is lost."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        while True:
            try:
                return self._q.get(timeout=min(0.05, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                pass
            self.check()
            if time.monotonic() >= deadline:
                return None

    def close(self) -> None:
        self._conn._unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Connection:
    """An open link to one vehicle. Create it with :func:`connect`."""

    def __init__(
        self,
        mav: Any,
        url: str,
        *,
        heartbeat_timeout_s: float,
        target_system: int | None = None,
    ) -> None:
        self.url = url
        self.mav = mav
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.want_system = target_system
        self.target_system: int | None = None
        self.target_component: int | None = None
        self.telemetry = Telemetry()
        self.connected_at: float | None = None  # monotonic time of the first vehicle heartbeat
        self.lost_reason: str | None = None  # set while no heartbeat / socket closed
        self.closed_by_peer = False
        self.bad_signatures = 0
        self.unsupported_rates: list[str] = []
        self._subs: tuple[Subscription, ...] = ()  # replaced, never changed: read unlocked
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._found = threading.Event()
        self._stop = threading.Event()
        self._eof = False
        # pymavlink's TCP class prints and carries on at EOF; record it instead.
        if hasattr(mav, "handle_eof"):
            mav.handle_eof = self._on_eof
        self._thread = threading.Thread(target=self._run, name=f"mavlink {url}", daemon=True)

    # -- public --------------------------------------------------------------

    def send(self, name: str, **fields: Any) -> None:
        """Send message ``name`` (e.g. ``"mission_count"``); target ids are filled in."""
        cls, names = _message_class(name)
        if "target_system" in names:
            fields.setdefault("target_system", self.target_system or 0)
            fields.setdefault("target_component", self.target_component or 0)
        msg = cls(*[fields.get(f, 0) for f in names])
        with self._send_lock:
            try:
                self.mav.mav.send(msg)
            except OSError as exc:
                raise LinkLost(f"cannot send to {self.url}: {exc}") from exc

    def subscribe(self, *types: str, handler: Handler | None = None) -> Subscription:
        """Messages of ``types`` (all with none), queued or given to ``handler``."""
        sub = Subscription(self, frozenset(types) if types else None, handler)
        with self._lock:
            self._subs = (*self._subs, sub)
        return sub

    @property
    def age_s(self) -> float:
        """Seconds since the vehicle's first heartbeat."""
        return 0.0 if self.connected_at is None else time.monotonic() - self.connected_at

    def snapshot(self) -> Telemetry:
        with self._lock:
            return self.telemetry.snapshot()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        with contextlib.suppress(OSError):
            self.mav.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reader thread -------------------------------------------------------

    def _unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs = tuple(s for s in self._subs if s is not sub)

    def _on_eof(self) -> None:
        self._eof = True

    def _run(self) -> None:
        next_hb = 0.0
        while not self._stop.is_set():
            try:
                # recv_msg, not recv_match: a request answered on this thread leaves sooner.
                msg = self.mav.recv_msg()
                if msg is None and self.mav.select(0.05):
                    msg = self.mav.recv_msg()
            except (OSError, ValueError) as exc:
                if isinstance(exc, ConnectionResetError) or self._eof:
                    self._eof = True
                msg = None
                if not self._eof:
                    time.sleep(0.05)
            now = time.monotonic()
            if self._eof:
                self.closed_by_peer = True
                self.lost_reason = f"the vehicle closed the connection {self.url}"
                return
            if msg is not None:
                self._dispatch(msg, now)
            if now >= next_hb:
                next_hb = now + 1.0
                self._send_gcs_heartbeat()
            self._watchdog(now)

    def _send_gcs_heartbeat(self) -> None:
        with contextlib.suppress(LinkLost, OSError):
            self.send(
                "heartbeat",
                type=MAV_TYPE_GCS,
                autopilot=MAV_AUTOPILOT_INVALID,
                base_mode=0,
                custom_mode=0,
                system_status=4,  # MAV_STATE_ACTIVE
                mavlink_version=3,
            )

    def _watchdog(self, now: float) -> None:
        hb = self.telemetry.last_heartbeat
        if hb is None or self.lost_reason is not None:
            return
        silent = now - hb
        if silent > self.heartbeat_timeout_s:
            self.lost_reason = (
                f"no heartbeat from the vehicle for {silent:.1f} s on {self.url} "
                "(radio out of range, vehicle off, or cable unplugged)"
            )

    def _is_autopilot(self, msg: Any) -> bool:
        if msg.type == MAV_TYPE_GCS or msg.autopilot == MAV_AUTOPILOT_INVALID:
            return False
        return self.want_system is None or msg.get_srcSystem() == self.want_system

    def _dispatch(self, msg: Any, now: float) -> None:
        mtype = msg.get_type()
        if mtype == "BAD_DATA":
            if "signature" in str(getattr(msg, "reason", "")).lower():
                self.bad_signatures += 1
            return
        if self.target_system is None:
            if mtype != "HEARTBEAT" or not self._is_autopilot(msg):
                return
            self.target_system = msg.get_srcSystem()
            self.target_component = msg.get_srcComponent()
            self.connected_at = now
            self._found.set()
        if (msg.get_srcSystem(), msg.get_srcComponent()) != (
            self.target_system,
            self.target_component,
        ):
            return
        with self._lock:
            self.telemetry.update(msg, now)
            if mtype == "HEARTBEAT" and self.lost_reason is not None and not self.closed_by_peer:
                self.lost_reason = None  # heartbeat is back: the link recovered
        for sub in self._subs:
            sub._offer(msg, mtype)


Progress = Callable[[str], None]  # told what a slow step is doing ("connection refused, ...")


def _open(
    url: str, signing_key: bytes | None, deadline: float, on_progress: Progress | None = None
) -> Any:
    """Open the port or socket; a refused TCP connection is retried until ``deadline``
    (monotonic), as a vehicle or SITL that is still starting refuses at first."""
    if not url.startswith(_URL_PREFIXES):
        raise ConnectFailed(
            f"cannot read connection string {url!r}: use tcp:HOST:PORT, udpin:HOST:PORT, "
            "udpout:HOST:PORT or a serial device such as /dev/ttyUSB0,57600"
        )
    device, baud = url.removeprefix("serial:"), 57600
    if "," in device and not device.startswith(("tcp:", "udp")):
        device, baud_s = device.rsplit(",", 1)
        baud = int(baud_s)
    attempts = 0
    t0 = time.monotonic()
    while True:
        attempts += 1
        try:
            mav = mavutil.mavlink_connection(
                device,
                baud=baud,
                source_system=GCS_SYSTEM_ID,
                source_component=GCS_COMPONENT_ID,
                retries=0,
                autoreconnect=False,
            )
            break
        except ImportError as exc:  # pymavlink imports pyserial only for serial ports
            raise ConnectFailed(f"cannot open {url}: serial links need pyserial ({exc})") from exc
        except (OSError, ValueError) as exc:
            refused = isinstance(exc, ConnectionRefusedError)
            if not refused or time.monotonic() + 0.2 >= deadline:
                why = f"cannot open {url}: {exc}"
                if refused:
                    why += (
                        f" ({attempts} attempts in {time.monotonic() - t0:.1f} s): is the "
                        "vehicle (or SITL) running and listening there?"
                    )
                raise ConnectFailed(why) from exc
            if attempts == 1 and on_progress is not None:
                on_progress(
                    f"{url}: connection refused; retrying for up to "
                    f"{deadline - time.monotonic():.0f} s"
                )
            time.sleep(0.2)
    if signing_key is not None:
        mav.setup_signing(signing_key, sign_outgoing=True)
    return mav


def connect(
    url: str,
    *,
    timeout_s: float = 30.0,
    heartbeat_timeout_s: float = 5.0,
    target_system: int | None = None,
    signing_key: bytes | None = None,
    on_progress: Progress | None = None,
) -> Connection:
    """Open ``url`` and wait for an autopilot's heartbeat (not a GCS's, not a camera's).

    ``timeout_s`` bounds the whole of it: retrying a refused connection and the wait
    for the heartbeat. ``on_progress`` is told when it has to wait.

    ``signing_key`` defaults to the key in ``WATERPATROL_MAVLINK_KEY``; with a
    key every outgoing message is signed and unsigned or wrongly signed
    messages from the vehicle are dropped.
    """
    key = signing_key if signing_key is not None else signing_key_from_env()
    deadline = time.monotonic() + timeout_s
    mav = _open(url, key, deadline, on_progress)
    conn = Connection(
        mav, url, heartbeat_timeout_s=heartbeat_timeout_s, target_system=target_system
    )
    conn._thread.start()
    if not conn._found.wait(0.5) and on_progress is not None:
        on_progress(f"{url}: opened; waiting for the autopilot's heartbeat")
    if not conn._found.wait(max(0.0, deadline - time.monotonic())):
        conn.close()
        hint = " and that the vehicle sends on it"
        if conn.bad_signatures:
            hint = (
                f"; {conn.bad_signatures} messages had bad signatures: "
                f"check the key in {SIGNING_KEY_ENV}"
            )
        elif key is not None:
            hint = f"; signing is on ({SIGNING_KEY_ENV}): the vehicle must sign with the same key"
        raise ConnectFailed(
            f"no autopilot heartbeat on {url} within {timeout_s:.0f} s: check the address{hint}"
        )
    return conn


def request_telemetry(conn: Connection, rates_hz: dict[str, float] | None = None) -> list[str]:
    """Ask for the telemetry the link needs with SET_MESSAGE_INTERVAL, one message at a time.

    Returns the messages the vehicle refused or never acknowledged (kept on
    the connection too); raises LinkTimeout when it acknowledged none.
    """
    from mission.link.commands import MAV_CMD_SET_MESSAGE_INTERVAL, command_long

    rates = rates_hz or DEFAULT_RATES_HZ
    refused, unanswered = [], []
    for name, hz in rates.items():
        interval_us = -1 if hz <= 0 else int(1e6 / hz)
        try:
            result = command_long(
                conn,
                MAV_CMD_SET_MESSAGE_INTERVAL,
                msg_id(name),
                interval_us,
                timeout_s=0.3,  # a lost request costs little; radios answer within ~0.2 s
                retries=10,
            )
        except LinkTimeout:
            unanswered.append(name)
            continue
        if result != 0:
            refused.append(name)
    if rates and len(unanswered) == len(rates):
        raise LinkTimeout(f"the vehicle on {conn.url} answered no SET_MESSAGE_INTERVAL request")
    conn.unsupported_rates = refused + unanswered
    return conn.unsupported_rates


def wait_ready(conn: Connection, timeout_s: float = 60.0) -> None:
    """Wait for a GPS 3D fix, an EKF absolute position and a home position.

    Raises NotReady naming what is still missing when ``timeout_s`` runs out.
    """
    from mission.link.commands import MAV_CMD_REQUEST_MESSAGE

    deadline = time.monotonic() + timeout_s
    next_home_request = 0.0
    with conn.subscribe("HEARTBEAT") as sub:
        while True:
            missing = conn.snapshot().missing_for_flight()
            if not missing:
                return
            now = time.monotonic()
            if now >= deadline:
                raise NotReady(missing, timeout_s)
            if any(m.startswith("home") for m in missing) and now >= next_home_request:
                # HOME_POSITION comes once unrequested; ask again until it is set.
                next_home_request = now + 1.0
                conn.send(
                    "command_long",
                    command=MAV_CMD_REQUEST_MESSAGE,
                    param1=float(msg_id("HOME_POSITION")),
                )
            sub.get(min(0.2, deadline - now))


def open_link(
    url: str,
    *,
    connect_timeout_s: float = 30.0,
    ready_timeout_s: float = 60.0,
    heartbeat_timeout_s: float = 5.0,
    rates_hz: dict[str, float] | None = None,
    on_progress: Progress | None = None,
) -> Connection:
    """connect + request_telemetry + wait_ready: a link ready for a mission."""
    conn = connect(
        url,
        timeout_s=connect_timeout_s,
        heartbeat_timeout_s=heartbeat_timeout_s,
        on_progress=on_progress,
    )
    try:
        request_telemetry(conn, rates_hz)
        wait_ready(conn, ready_timeout_s)
    except BaseException:
        conn.close()
        raise
    return conn
