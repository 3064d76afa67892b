"""Transfers answered on the connection's reader thread: handler subscriptions and ``_drive``.

The peer is a scripted vehicle on 127.0.0.1 that answers the mission protocol
as ArduPilot does (one MISSION_REQUEST per item, then MISSION_ACK).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mission.items import MissionType
from mission.link import transfer
from mission.link.connection import Connection, connect
from mission.link.errors import LinkLost
from tests.test_link_connection import Peer, free_port
from tests.test_link_transfer import mission


class ScriptedVehicle(Peer):
    """Heartbeats, and the vehicle side of a mission upload; ``drop`` item seqs are lost once."""

    def __init__(self, url: str, drop: set[int] | None = None) -> None:
        super().__init__(url)
        self.drop = set(drop or ())
        self.items: dict[int, Any] = {}
        self.requests: list[int] = []
        self._serve = threading.Thread(target=self._run, daemon=True)
        self._serve.start()

    def _request(self, seq: int) -> None:
        self.requests.append(seq)
        self.m.mav.mission_request_send(255, 190, seq, 0)

    def _run(self) -> None:
        count, next_hb = 0, 0.0
        while not self._stop.is_set():
            if time.monotonic() >= next_hb:
                next_hb = time.monotonic() + 0.1
                self.heartbeat()
            msg = self.m.recv_match(blocking=True, timeout=0.02)
            if msg is None:
                continue
            if msg.get_type() == "MISSION_COUNT":
                count = msg.count
                self._request(0)
            elif msg.get_type() == "MISSION_ITEM_INT":
                if msg.seq in self.drop:
                    self.drop.discard(msg.seq)  # lost on the way: the GCS must resend
                    continue
                self.items[msg.seq] = msg
                if len(self.items) == count:
                    self.m.mav.mission_ack_send(255, 190, transfer.ACCEPTED, 0)
                elif msg.seq + 1 < count:
                    self._request(msg.seq + 1)

    def close(self) -> None:
        self._stop.set()
        self._serve.join(2)
        super().close()


@pytest.fixture
def vehicle_url() -> Iterator[tuple[str, str]]:
    port = free_port()
    yield f"udpin:127.0.0.1:{port}", f"udpout:127.0.0.1:{port}"


def test_a_handler_runs_on_the_reader_thread_and_its_error_is_raised_by_check(
    vehicle_url: tuple[str, str],
) -> None:
    url, peer_url = vehicle_url
    peer = ScriptedVehicle(peer_url)
    try:
        with connect(url, timeout_s=5) as conn:
            threads: list[threading.Thread] = []

            def handler(msg: Any) -> None:
                threads.append(threading.current_thread())
                raise ValueError("handler bug")

            sub = conn.subscribe("HEARTBEAT", handler=handler)
            queued = conn.subscribe("HEARTBEAT")
            deadline = time.monotonic() + 3
            while sub.error is None and time.monotonic() < deadline:
                time.sleep(0.02)
            with pytest.raises(ValueError, match="handler bug"):
                sub.check()
            assert threads == [conn._thread]  # called once, on the reader thread
            assert queued.get(1.0) is not None  # the reader thread carried on
            assert threads == [conn._thread]  # and did not call the failed handler again
            sub.close()
            queued.close()
    finally:
        peer.close()


def test_upload_answers_each_request_from_the_reader_thread(
    vehicle_url: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, peer_url = vehicle_url
    peer = ScriptedVehicle(peer_url)
    items = mission(30)
    try:
        with connect(url, timeout_s=5) as conn:
            senders: list[threading.Thread] = []
            send = Connection.send

            def spy(self: Connection, name: str, **fields: Any) -> None:
                if name == "mission_item_int":
                    senders.append(threading.current_thread())
                send(self, name, **fields)

            monkeypatch.setattr(Connection, "send", spy)
            stats = transfer.upload(conn, items, method="protocol", verify=False)
        assert stats.confirmed and stats.resends == 0
        assert sorted(peer.items) == list(range(30))
        assert [peer.items[s].x for s in range(30)] == [i.x for i in items]
        assert set(senders) == {conn._thread}
    finally:
        peer.close()


def test_upload_resends_a_lost_item_at_the_measured_interval(vehicle_url: tuple[str, str]) -> None:
    url, peer_url = vehicle_url
    peer = ScriptedVehicle(peer_url, drop={10, 25})
    try:
        with connect(url, timeout_s=5) as conn:
            t0 = time.monotonic()
            stats = transfer.upload(conn, mission(30), method="protocol", verify=False)
            took = time.monotonic() - t0
        assert stats.resends == 2 and stats.confirmed
        assert sorted(peer.items) == list(range(30))
        # Resent after about four round trips (at least 50 ms), not after the 1 s timeout.
        assert took < 1.0, took
    finally:
        peer.close()


def test_a_send_failing_on_the_reader_thread_is_link_lost_during_the_upload(
    vehicle_url: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, peer_url = vehicle_url
    peer = ScriptedVehicle(peer_url)
    try:
        with connect(url, timeout_s=5) as conn:
            send = Connection.send

            def failing(self: Connection, name: str, **fields: Any) -> None:
                if name == "mission_item_int" and fields["seq"] == 3:
                    raise LinkLost("cannot send to the test link")
                send(self, name, **fields)

            monkeypatch.setattr(Connection, "send", failing)
            with pytest.raises(LinkLost, match=r"cannot send.*during the mission upload of 8"):
                transfer.upload(
                    conn, mission(8), MissionType.MISSION, method="protocol", verify=False
                )
            assert conn._thread.is_alive()
    finally:
        peer.close()
