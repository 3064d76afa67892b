"""Shared pytest fixtures: vehicles to fly against.

- ``sim_vehicle``: an in-process simulated vehicle on a free loopback TCP port
  (speedup 20), stopped afterwards. Yields a ``VehicleEndpoint`` with ``.url``
  (pymavlink connection string), ``.home`` (lat, lon, alt_amsl_m) and
  ``.vehicle`` (the ``SimVehicle``: fault injection, ``snapshot()``,
  ``wait_for``). Override settings per test with
  ``@pytest.mark.parametrize("sim_vehicle", [{"speedup": 50, "udp": True}], indirect=True)``
  (any ``SimConfig`` field).
- ``sim_vehicle_factory``: call it with the same keywords to start more.
- ``ardupilot_sitl``: ArduPilot SITL with the same shape (``.vehicle`` is the
  ``ArduPilotSitl`` process); skipped with the reason when no binary is found.
  Its scratch directory and log are kept, and named in the report, when the
  test fails.
"""

from __future__ import annotations

import os
import shutil

os.environ.setdefault("MAVLINK20", "1")  # before anything imports pymavlink.mavutil
os.environ.setdefault("MAVLINK_DIALECT", "ardupilotmega")

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest

from sitl.endpoints import DEFAULT_HOME, VehicleEndpoint, ardupilot, simulated

SIM_SPEEDUP = 20.0
SITL_SPEEDUP = 10.0


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    settings = dict(getattr(request, "param", None) or {})
    settings.setdefault("home", DEFAULT_HOME)
    settings.setdefault("speedup", SIM_SPEEDUP)
    return settings


@pytest.fixture
def sim_vehicle(request: pytest.FixtureRequest) -> Iterator[VehicleEndpoint]:
    with simulated(**_settings(request)) as endpoint:
        yield endpoint


@pytest.fixture
def sim_vehicle_factory() -> Iterator[Callable[..., VehicleEndpoint]]:
    with ExitStack() as stack:

        def start(**settings: Any) -> VehicleEndpoint:
            settings.setdefault("home", DEFAULT_HOME)
            settings.setdefault("speedup", SIM_SPEEDUP)
            return stack.enter_context(simulated(**settings))

        yield start


@pytest.fixture
def ardupilot_sitl(request: pytest.FixtureRequest) -> Iterator[VehicleEndpoint]:
    from sitl.ardupilot import find_binary
    from sitl.errors import SitlNotFoundError

    try:
        find_binary()
    except SitlNotFoundError as exc:
        pytest.skip(str(exc))
    settings = dict(getattr(request, "param", None) or {})
    settings.setdefault("home", DEFAULT_HOME)
    settings.setdefault("speedup", SITL_SPEEDUP)
    with ardupilot(keep_logs=True, **settings) as endpoint:
        yield endpoint
    sitl = endpoint.vehicle
    report = getattr(request.node, "rep_call", None)
    if report is None or report.failed:
        request.node.add_report_section(
            "teardown", "ardupilot sitl", f"logs kept in {sitl.workdir}\n{sitl.log_tail()}"
        )
    elif sitl.workdir is not None:
        shutil.rmtree(sitl.workdir, ignore_errors=True)
