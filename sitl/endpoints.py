"""Start a vehicle and hand back where to reach it: the simulated one, or ArduPilot SITL.

Both context managers yield a ``VehicleEndpoint`` of the same shape, so the
pytest fixtures, ``waterpatrol sitl run`` and the benchmarks drive either the
same way through ``endpoint.url`` (a pymavlink connection string).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sitl.errors import SitlError

DEFAULT_HOME = (29.2505, 115.7953, 21.0)  # a lake shore near Gongqingcheng (lat, lon, alt_amsl_m)


@dataclass(frozen=True)
class VehicleEndpoint:
    url: str  # pymavlink connection string: tcp:127.0.0.1:PORT or udpin:127.0.0.1:PORT
    home: tuple[float, float, float]  # lat, lon, alt_amsl_m
    vehicle: Any  # SimVehicle (fault injection, snapshot) or ArduPilotSitl (process, logs)
    kind: str  # "sim" or "ardupilot"


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A loopback port free right now (UDP by default: the GCS side binds it next)."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def simulated(
    home: tuple[float, float, float] = DEFAULT_HOME,
    speedup: float = 20.0,
    udp: bool = False,
    port: int = 0,
    **config: Any,
) -> Iterator[VehicleEndpoint]:
    """An in-process simulated vehicle on loopback (TCP on a free port, or UDP to ``port``)."""
    from sitl.sim import SimConfig, SimVehicle

    if udp and port == 0:
        port = free_port()
    vehicle = SimVehicle(
        SimConfig(home=home, speedup=speedup, udp=udp, port=port, **config)
    ).start()
    try:
        yield VehicleEndpoint(vehicle.url, home, vehicle, "sim")
    finally:
        vehicle.stop()
    if vehicle.error is not None or vehicle.handler_errors:
        problems = [repr(vehicle.error)] if vehicle.error is not None else []
        raise SitlError(
            f"the simulated vehicle failed: {'; '.join(problems + vehicle.handler_errors)}"
        )


@contextmanager
def ardupilot(
    home: tuple[float, float, float] = DEFAULT_HOME,
    speedup: float = 10.0,
    instance: int = 0,
    workdir: Path | None = None,
    keep_logs: bool = False,
) -> Iterator[VehicleEndpoint]:
    """ArduPilot SITL in a scratch directory, private to loopback (``--serial0 udpclient``)."""
    from sitl.ardupilot import ArduPilotSitl

    sitl = ArduPilotSitl(home=home, speedup=speedup, instance=instance, workdir=workdir)
    sitl.start()
    try:
        yield VehicleEndpoint(sitl.url, home, sitl, "ardupilot")
    finally:
        sitl.stop(keep_logs=keep_logs)
