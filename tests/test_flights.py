"""Flight tests: one suite, flown on the simulated vehicle and (marked ``sitl``) ArduPilot SITL.

``vehicle`` starts a vehicle at a given launch point: the simulated one
through the ``sim_vehicle_factory`` fixture, or ArduPilot SITL (skipped with
the reason when no binary is found). Vehicle-only fault injection (refused
arm, link drop) lives in the tests marked for the simulated vehicle.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

import geofences
from mission.items import Cmd, Frame, MissionItem, MissionType, home_item
from mission.link import flight
from mission.link.battery import reset_battery
from mission.link.connection import Connection, open_link
from mission.link.errors import BatteryTooLow, LinkLost
from mission.link.job import FlightJob, SortieJob, endurance_of, fly_job, job_from_plan
from mission.link.telemetry import rates_for_speedup
from mission.planner import plan
from sitl.battery import PackSwap
from sitl.endpoints import VehicleEndpoint

SAMPLES = sorted(geofences.sample_paths(), key=lambda p: p.name)
SPEEDUP = {"sim": 50.0, "ardupilot": 10.0}
FAST_SPEEDUP = 50.0

Start = Callable[[tuple[float, float, float]], VehicleEndpoint]


@pytest.fixture(params=["sim", pytest.param("ardupilot", marks=pytest.mark.sitl)])
def vehicle(request: pytest.FixtureRequest) -> Iterator[tuple[str, Start]]:
    """(kind, start): ``start(home)`` gives a started vehicle, stopped after the test."""
    kind = request.param
    if kind == "sim":
        factory = request.getfixturevalue("sim_vehicle_factory")
        yield kind, lambda home: factory(home=home, speedup=SPEEDUP[kind])
        return
    from sitl.ardupilot import find_binary
    from sitl.endpoints import ardupilot
    from sitl.errors import SitlNotFoundError

    try:
        find_binary()
    except SitlNotFoundError as exc:
        pytest.skip(str(exc))
    with ExitStack() as stack:
        started: list[VehicleEndpoint] = []

        def start(home: tuple[float, float, float]) -> VehicleEndpoint:
            ep = stack.enter_context(ardupilot(home=home, speedup=SPEEDUP[kind], keep_logs=True))
            started.append(ep)
            return ep

        yield kind, start
        report = getattr(request.node, "rep_call", None)
        for ep in started:
            if report is not None and report.failed:
                request.node.add_report_section(
                    "teardown", "ardupilot sitl", f"logs kept in {ep.vehicle.workdir}"
                )


def _link(ep: VehicleEndpoint, speedup: float, **kw: float) -> Connection:
    return open_link(
        ep.url,
        ready_timeout_s=max(60.0, 600.0 / speedup),
        rates_hz=rates_for_speedup(speedup),
        **kw,
    )


@pytest.mark.slow
@pytest.mark.parametrize("sample", SAMPLES, ids=[p.stem for p in SAMPLES])
def test_full_flight_of_each_sample_water(vehicle: tuple[str, Start], sample: Path) -> None:
    """Every sample water flown whole: all waypoints, no breach, home within 1 m, each sortie
    launched on a pack that covers it (the harness's pack lasts the file's endurance and is
    swapped between sorties), flown within 10 % of the planner's time."""
    kind, start = vehicle
    kw = geofences.load(sample)
    job = job_from_plan(plan(kw), endurance_of(kw.vehicle))
    ep = start((kw.launch.lat, kw.launch.lon, kw.launch.alt_amsl_m))
    events: list[object] = []
    swap = PackSwap(kw.vehicle)
    with _link(ep, SPEEDUP[kind]) as conn:
        reports = fly_job(
            conn,
            job,
            speedup=SPEEDUP[kind],
            on_event=lambda _i, e: events.append(e),
            before_sortie=swap,
        )
    assert len(reports) == len(job.sorties) == swap.swaps
    for r in reports:
        assert r.completed, r.reason
        assert r.waypoints_reached == r.waypoints_total > 2
        assert r.fence_breaches == 0 and r.track_outside_fence == 0
        assert r.landing_from_launch_m is not None and r.landing_from_launch_m < 1.0
        assert r.max_off_path_m is not None and r.max_off_path_m < 40.0
        assert r.battery_start_pct is not None and r.battery_planned_pct is not None
        # whole-percent readings: a full pack reads 99 % after a minute on the ground
        assert r.battery_start_pct + 1.0 >= r.battery_planned_pct + kw.vehicle.reserve_pct
        assert r.battery_used_pct is not None and r.battery_used_pct > 0
        assert r.planned_s is not None and r.flown_s is not None
        assert abs(r.flown_s - r.planned_s) <= 0.10 * r.planned_s, (r.flown_s, r.planned_s)
    assert not any(isinstance(e, flight.FenceBreach) for e in events)
    if kind == "sim":
        assert not ep.vehicle.snapshot().armed


def test_a_sortie_never_launches_on_a_short_battery(sim_vehicle_factory) -> None:
    """The battery check before launch: 40 % cannot fly a sortie needing more with the reserve."""
    kw = geofences.load(SAMPLES[0])
    job = job_from_plan(plan(kw), endurance_of(kw.vehicle))
    ep = sim_vehicle_factory(home=(kw.launch.lat, kw.launch.lon, kw.launch.alt_amsl_m))
    with _link(ep, FAST_SPEEDUP) as conn:
        PackSwap(kw.vehicle)(conn, 1)
        reset_battery(conn, 40.0)
        with pytest.raises(BatteryTooLow, match=r"reads (39|40) %.*reserve"):
            fly_job(conn, job, speedup=FAST_SPEEDUP)
        assert not ep.vehicle.snapshot().armed
        assert conn.snapshot().mode != "AUTO"


# -- short hand-made missions for the fault tests ----------------------------------------


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / 111_132.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def _square_job(
    home: tuple[float, float, float], side_m: float = 150.0, fence_m: float = 300.0
) -> FlightJob:
    lat, lon, alt = home
    items = [home_item(lat, lon, alt), MissionItem(Cmd.NAV_TAKEOFF, z=25.0)]
    items.append(MissionItem(Cmd.DO_CHANGE_SPEED, param1=1, param2=8.0, param3=-1))
    for n, e in [(side_m, 0), (side_m, side_m), (0, side_m)]:
        items.append(MissionItem.at(Cmd.NAV_WAYPOINT, *_offset(lat, lon, n, e), 25.0))
    items.append(MissionItem(Cmd.NAV_RETURN_TO_LAUNCH))
    corners = [(-1, -1), (-1, 1), (1, 1), (1, -1)]
    fence = [
        MissionItem.at(
            Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION,
            *_offset(lat, lon, a * fence_m, b * fence_m),
            0.0,
            param1=4,
            frame=Frame.GLOBAL,
        ).with_type(MissionType.FENCE)
        for a, b in corners
    ]
    params = {"FENCE_TYPE": 5, "FENCE_ALT_MAX": 60.0, "FENCE_ACTION": 1, "FENCE_ENABLE": 1}
    return FlightJob(
        "square", (lat, lon), (SortieJob(1, tuple(items), 200.0),), tuple(fence), (), params
    )


@pytest.mark.parametrize("sim_vehicle", [{"speedup": FAST_SPEEDUP}], indirect=True)
def test_short_mission_flies_and_lands_at_launch(sim_vehicle: VehicleEndpoint) -> None:
    job = _square_job(sim_vehicle.home)
    with _link(sim_vehicle, FAST_SPEEDUP) as conn:
        (report,) = fly_job(conn, job, speedup=FAST_SPEEDUP)
    assert report.completed and report.waypoints_reached == report.waypoints_total == 5
    assert report.fence_breaches == 0 and report.track_outside_fence == 0
    assert report.max_off_path_m < 15.0
    assert report.landing_from_launch_m < 1.0
    snap = sim_vehicle.vehicle.snapshot()
    assert not snap.armed and snap.landed
    assert snap.params["FENCE_ENABLE"] == 1 and snap.params["FENCE_TYPE"] == 5


@pytest.mark.parametrize("sim_vehicle", [{"speedup": FAST_SPEEDUP}], indirect=True)
def test_fence_breach_ends_the_flight_early_and_is_reported(sim_vehicle: VehicleEndpoint) -> None:
    job = _square_job(sim_vehicle.home, side_m=250.0, fence_m=150.0)  # waypoints outside the fence
    events: list[object] = []
    with _link(sim_vehicle, FAST_SPEEDUP) as conn:
        (report,) = fly_job(
            conn, job, speedup=FAST_SPEEDUP, on_event=lambda _i, e: events.append(e)
        )
    assert not report.completed and "before the mission completed" in report.reason
    assert report.fence_breaches >= 1
    assert any(isinstance(e, flight.FenceBreach) for e in events)
    assert any(isinstance(e, flight.ModeChanged) and e.new == "RTL" for e in events)
    assert report.landing_from_launch_m < 3.0


@pytest.mark.parametrize("sim_vehicle", [{"speedup": FAST_SPEEDUP}], indirect=True)
def test_ctrl_c_in_flight_sends_the_vehicle_home(sim_vehicle: VehicleEndpoint) -> None:
    job = _square_job(sim_vehicle.home)
    items = job.sorties[0].items
    seen: list[object] = []

    def interrupt_at_first_waypoint(event: object) -> None:
        seen.append(event)
        if isinstance(event, flight.ItemReached) and event.seq == 3:
            raise KeyboardInterrupt

    with _link(sim_vehicle, FAST_SPEEDUP) as conn:
        flight.prepare(conn, items, job.fence, (), job.fence_params)
        with pytest.raises(KeyboardInterrupt):
            flight.fly(conn, items, timeout_s=60, on_event=interrupt_at_first_waypoint)
    assert any(isinstance(e, flight.ModeChanged) and e.new == "RTL" for e in seen)
    assert isinstance(seen[-1], flight.FlightEnded) and not seen[-1].completed
    snap = sim_vehicle.vehicle.snapshot()
    assert not snap.armed and snap.landed
    home = sim_vehicle.home
    assert abs(snap.lat - home[0]) < 2e-5 and abs(snap.lon - home[1]) < 2e-5


@pytest.mark.parametrize("sim_vehicle", [{"speedup": FAST_SPEEDUP}], indirect=True)
def test_link_dropped_mid_flight_is_reported_and_the_flight_goes_on(
    sim_vehicle: VehicleEndpoint,
) -> None:
    job = _square_job(sim_vehicle.home)
    items = job.sorties[0].items
    events: list[object] = []

    def on_event(event: object) -> None:
        events.append(event)
        if isinstance(event, flight.ItemReached) and event.seq == 3:
            sim_vehicle.vehicle.drop_link(1.5)  # wall seconds of silence both ways

    with _link(sim_vehicle, FAST_SPEEDUP, heartbeat_timeout_s=0.5) as conn:
        flight.prepare(conn, items, job.fence, (), job.fence_params)
        ended = flight.fly(conn, items, timeout_s=60, on_event=on_event)
    down = [e for e in events if isinstance(e, flight.LinkDown)]
    up = [e for e in events if isinstance(e, flight.LinkUp)]
    assert down and up and "no heartbeat" in down[0].reason
    assert events.index(down[0]) < events.index(up[0])
    assert ended.completed


@pytest.mark.parametrize("sim_vehicle", [{"speedup": FAST_SPEEDUP}], indirect=True)
def test_link_lost_for_good_in_flight_is_link_lost_not_a_hang(sim_vehicle: VehicleEndpoint) -> None:
    job = _square_job(sim_vehicle.home)
    items = job.sorties[0].items
    with _link(sim_vehicle, FAST_SPEEDUP, heartbeat_timeout_s=0.5) as conn:
        flight.prepare(conn, items, job.fence, (), job.fence_params)
        flight.start_mission(conn)
        sim_vehicle.vehicle.drop_link(None)
        t0 = time.monotonic()
        with pytest.raises(LinkLost, match="failsafe is in charge"):
            for _ in flight.follow(conn, items, timeout_s=60, link_lost_give_up_s=1.0):
                pass
        assert time.monotonic() - t0 < 5
    sim_vehicle.vehicle.restore_link()


@pytest.mark.parametrize("sim_vehicle", [{"speedup": FAST_SPEEDUP}], indirect=True)
def test_refused_arm_stops_before_flight_with_the_reason(sim_vehicle: VehicleEndpoint) -> None:
    from mission.link.errors import ArmRefused

    job = _square_job(sim_vehicle.home)
    sim_vehicle.vehicle.refuse_arming("Gyros inconsistent")
    with (
        _link(sim_vehicle, FAST_SPEEDUP) as conn,
        pytest.raises(ArmRefused, match="Gyros inconsistent"),
    ):
        fly_job(conn, job, speedup=FAST_SPEEDUP)
    assert not sim_vehicle.vehicle.snapshot().armed
