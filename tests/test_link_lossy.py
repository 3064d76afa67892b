"""Transfers over a lossy link: a UDP relay on 127.0.0.1 that drops packets both ways."""

from __future__ import annotations

import random
import select
import socket
import threading
from collections.abc import Iterator

import pytest

from mission.items import MissionType
from mission.link import transfer
from mission.link.connection import open_link
from mission.link.telemetry import rates_for_speedup
from sitl.endpoints import VehicleEndpoint, free_port
from tests.test_link_vehicle import polygon_fence, rally, survey


class LossyRelay:
    """Forwards UDP datagrams between a UDP-client vehicle and a ``udpin`` GCS, dropping some.

    The vehicle sends to ``vehicle_port`` (the relay); the relay sends on to
    ``gcs_port`` from its own socket, so the GCS's replies come back through it.
    """

    def __init__(self, vehicle_port: int, gcs_port: int, drop: float, seed: int = 7) -> None:
        self.drop = drop
        self.rng = random.Random(seed)
        self.from_vehicle = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.from_vehicle.bind(("127.0.0.1", vehicle_port))
        self.to_gcs = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.to_gcs.bind(("127.0.0.1", 0))
        self.gcs = ("127.0.0.1", gcs_port)
        self.vehicle: tuple[str, int] | None = None
        self.passed = {"up": 0, "down": 0}
        self.dropped = {"up": 0, "down": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _keep(self, way: str) -> bool:
        if self.rng.random() < self.drop:
            self.dropped[way] += 1
            return False
        self.passed[way] += 1
        return True

    def _run(self) -> None:
        socks = [self.from_vehicle, self.to_gcs]
        while not self._stop.is_set():
            readable, _, _ = select.select(socks, [], [], 0.05)
            for sock in readable:
                data, addr = sock.recvfrom(65536)
                if sock is self.from_vehicle:
                    self.vehicle = addr
                    if self._keep("down"):
                        self.to_gcs.sendto(data, self.gcs)
                elif self.vehicle is not None and self._keep("up"):
                    self.from_vehicle.sendto(data, self.vehicle)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.from_vehicle.close()
        self.to_gcs.close()


RELAY_PORT = free_port()


@pytest.fixture
def relay() -> Iterator[LossyRelay]:
    r = LossyRelay(RELAY_PORT, free_port(), drop=0.2)
    yield r
    r.close()


@pytest.mark.slow
@pytest.mark.parametrize(
    "sim_vehicle",
    [{"udp": True, "port": RELAY_PORT}],
    indirect=True,
)
def test_lossy_link_still_uploads_mission_fence_and_rally(
    relay: LossyRelay, sim_vehicle: VehicleEndpoint
) -> None:
    mission, fence, points = survey(150), polygon_fence(60, 400.0), rally(4)
    url = f"udpin:127.0.0.1:{relay.gcs[1]}"
    with open_link(url, ready_timeout_s=30, rates_hz=rates_for_speedup(20)) as conn:
        stats = {
            "fence": transfer.upload(conn, fence, MissionType.FENCE),
            "rally": transfer.upload(conn, points, MissionType.RALLY),
            "mission": transfer.upload(conn, mission),
        }
    snap = sim_vehicle.vehicle.snapshot()
    transfer.compare(mission, list(snap.mission), MissionType.MISSION)
    transfer.compare(fence, list(snap.fence), MissionType.FENCE)
    transfer.compare(points, list(snap.rally), MissionType.RALLY)
    # the relay really lost about a fifth both ways, and the link had to work for it
    for way in ("up", "down"):
        share = relay.dropped[way] / (relay.dropped[way] + relay.passed[way])
        assert 0.12 < share < 0.28, (way, share)
    assert stats["mission"].repeated_requests + stats["mission"].resends > 10
