"""Connection: heartbeat choice, watchdog, TCP close, signing. Real sockets on 127.0.0.1.

The peer is a plain pymavlink endpoint the test scripts message by message.
"""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from mission.link._mavlink import mavutil
from mission.link.connection import connect, signing_key_from_env
from mission.link.errors import ConnectFailed, LinkLost

MAV_TYPE_QUADROTOR, MAV_TYPE_GCS, MAV_TYPE_CAMERA = 2, 6, 30
MAV_AUTOPILOT_ARDUPILOTMEGA, MAV_AUTOPILOT_INVALID = 3, 8


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Peer:
    """A MAVLink endpoint that sends what the test tells it to, from any system/component."""

    def __init__(self, url: str, key: bytes | None = None) -> None:
        self.m = mavutil.mavlink_connection(url, source_system=1, source_component=1)
        if key is not None:
            self.m.setup_signing(key, sign_outgoing=True)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def heartbeat(
        self,
        sysid: int = 1,
        compid: int = 1,
        mtype: int = MAV_TYPE_QUADROTOR,
        autopilot: int = MAV_AUTOPILOT_ARDUPILOTMEGA,
        custom_mode: int = 0,
    ) -> None:
        self.m.mav.srcSystem, self.m.mav.srcComponent = sysid, compid
        self.m.mav.heartbeat_send(mtype, autopilot, 0, custom_mode, 3)

    def beat(self, period_s: float = 0.1) -> None:
        """Autopilot heartbeats from a thread until ``quiet``."""
        self._stop.clear()

        def run() -> None:
            while not self._stop.is_set():
                self.heartbeat()
                self.m.recv_match(blocking=False)
                time.sleep(period_s)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def quiet(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def close(self) -> None:
        self.quiet()
        self.m.close()


@pytest.fixture
def udp_peer() -> Iterator[tuple[str, Peer]]:
    port = free_port()
    url = f"udpin:127.0.0.1:{port}"
    peer = Peer(f"udpout:127.0.0.1:{port}")
    yield url, peer
    peer.close()


def test_connect_picks_the_autopilot_not_a_gcs_or_camera(udp_peer: tuple[str, Peer]) -> None:
    url, peer = udp_peer
    done = threading.Event()

    def send() -> None:
        while not done.is_set():
            peer.heartbeat(254, 190, MAV_TYPE_GCS, MAV_AUTOPILOT_INVALID)
            peer.heartbeat(1, 100, MAV_TYPE_CAMERA, MAV_AUTOPILOT_INVALID)
            time.sleep(0.05)
            peer.heartbeat(7, 1, custom_mode=4)
            time.sleep(0.05)

    t = threading.Thread(target=send, daemon=True)
    t.start()
    try:
        with connect(url, timeout_s=5) as conn:
            assert (conn.target_system, conn.target_component) == (7, 1)
            time.sleep(0.2)
            assert conn.snapshot().mode == "GUIDED"
    finally:
        done.set()
        t.join(2)


def test_connect_without_a_vehicle_fails_with_what_to_check() -> None:
    t0 = time.monotonic()
    with pytest.raises(ConnectFailed, match=r"no autopilot heartbeat on udpin:127\.0\.0\.1"):
        connect(f"udpin:127.0.0.1:{free_port()}", timeout_s=0.5)
    assert time.monotonic() - t0 < 3


@pytest.mark.parametrize("url", ["127.0.0.1:5760", "http://x", "tcp:nohostport"])
def test_bad_connection_string_is_a_clear_error(url: str) -> None:
    with pytest.raises(ConnectFailed, match=r"connection string|cannot open"):
        connect(url, timeout_s=0.5)


def test_watchdog_reports_lost_and_recovered_link(udp_peer: tuple[str, Peer]) -> None:
    url, peer = udp_peer
    peer.beat(0.05)
    with connect(url, timeout_s=5, heartbeat_timeout_s=1.0) as conn:
        sub = conn.subscribe("HEARTBEAT")
        assert sub.get(1.0) is not None
        peer.quiet()
        with pytest.raises(LinkLost, match="no heartbeat from the vehicle"):
            for _ in range(60):
                sub.get(0.1)
        assert conn.lost_reason is not None
        peer.beat(0.05)
        deadline = time.monotonic() + 3
        while conn.lost_reason is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert conn.lost_reason is None
        sub.close()


def test_tcp_close_by_the_vehicle_is_link_lost() -> None:
    port = free_port(socket.SOCK_STREAM)
    server = mavutil.mavlink_connection(
        f"tcpin:127.0.0.1:{port}", source_system=1, source_component=1
    )
    box: dict[str, object] = {}

    def client() -> None:
        try:
            box["conn"] = connect(f"tcp:127.0.0.1:{port}", timeout_s=5)
        except Exception as exc:  # reported by the assertion below
            box["error"] = exc

    t = threading.Thread(target=client, daemon=True)
    t.start()
    deadline = time.monotonic() + 5
    while "conn" not in box and "error" not in box and time.monotonic() < deadline:
        server.recv_match(blocking=False)  # accepts the client
        server.mav.heartbeat_send(MAV_TYPE_QUADROTOR, MAV_AUTOPILOT_ARDUPILOTMEGA, 0, 0, 3)
        time.sleep(0.05)
    t.join(5)
    assert "conn" in box, box.get("error")
    conn = box["conn"]
    server.close()
    try:
        sub = conn.subscribe()  # type: ignore[attr-defined]
        with pytest.raises(LinkLost, match="closed the connection"):
            for _ in range(50):
                sub.get(0.1)
    finally:
        conn.close()  # type: ignore[attr-defined]


def test_signed_link_accepts_the_right_key_only(monkeypatch: pytest.MonkeyPatch) -> None:
    key = hashlib.sha256(b"station-7 secret").digest()
    port = free_port()
    peer = Peer(f"udpout:127.0.0.1:{port}", key=key)
    peer.beat(0.05)
    try:
        monkeypatch.setenv("WATERPATROL_MAVLINK_KEY", "station-7 secret")
        with connect(f"udpin:127.0.0.1:{port}", timeout_s=5) as conn:
            assert conn.target_system == 1
            # our GCS heartbeat reaches the peer signed with the same key
            peer.quiet()
            hb = None
            deadline = time.monotonic() + 3
            while hb is None and time.monotonic() < deadline:
                peer.heartbeat()
                hb = peer.m.recv_match(type="HEARTBEAT", blocking=True, timeout=0.2)
            assert hb is not None and hb.get_srcSystem() == 255
            assert hb.get_signed()
    finally:
        peer.close()

    port = free_port()
    peer = Peer(f"udpout:127.0.0.1:{port}", key=key)
    peer.beat(0.05)
    try:
        monkeypatch.setenv("WATERPATROL_MAVLINK_KEY", "wrong passphrase")
        with pytest.raises(ConnectFailed, match="bad signatures"):
            connect(f"udpin:127.0.0.1:{port}", timeout_s=1.0)
    finally:
        peer.close()


def test_signing_key_from_env_takes_hex_or_passphrase() -> None:
    raw = bytes(range(32))
    assert signing_key_from_env({"WATERPATROL_MAVLINK_KEY": raw.hex()}) == raw
    assert (
        signing_key_from_env({"WATERPATROL_MAVLINK_KEY": "abc"}) == hashlib.sha256(b"abc").digest()
    )
    assert signing_key_from_env({}) is None
