"""The simulated vehicle's own pace: mission upload with a client that replies at once, and
how fast a flight runs, next to what ARDUPILOT_NOTES.md measured on ArduPilot SITL.

    python -m benchmarks.bench_sim_vehicle [--items 100 700] [--speedups 1 10] [--flight-speedup N]

Upload: a raw pymavlink client answers every MISSION_REQUEST with MISSION_ITEM_INT at once
(SITL: 700 items in ~3.9 s at x1, ~0.45 s at x10; above 650 items with BRD_SD_MISSION 64).
Flight: a 300 m square at 30 m, GUIDED -> arm -> AUTO -> MISSION_START until disarmed on
landing; prints simulated and wall seconds and the effective speedup (SITL: a 5-waypoint
100 m-leg mission took 145 s simulated). Physics: autopilot steps per CPU second without
sockets (the speedup ceiling is steps/s x 0.05 s).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("MAVLINK20", "1")

from pymavlink import mavutil

from mission.items import Cmd, MissionItem, home_item
from sitl.endpoints import DEFAULT_HOME, simulated
from sitl.sim.autopilot import Autopilot, Mode
from sitl.sim.flight import offset
from sitl.sim.mission_server import MissionServer
from sitl.sim.params import ParamTable


def mission(n: int) -> list[MissionItem]:
    lat, lon = DEFAULT_HOME[:2]
    items = [home_item(*DEFAULT_HOME), MissionItem.at(Cmd.NAV_TAKEOFF, lat, lon, 30.0)]
    for k in range(n - 3):
        items.append(
            MissionItem.at(Cmd.NAV_WAYPOINT, *offset(lat, lon, (k * 37) % 360, 50 + k % 200), 30.0)
        )
    return [*items, MissionItem(command=Cmd.NAV_RETURN_TO_LAUNCH)]


def square() -> list[MissionItem]:
    lat, lon = DEFAULT_HOME[:2]
    a = offset(lat, lon, 0, 100)
    b = offset(*a, 90, 100)
    c = offset(*b, 180, 100)
    return [
        home_item(*DEFAULT_HOME),
        MissionItem.at(Cmd.NAV_TAKEOFF, lat, lon, 30.0),
        *[MissionItem.at(Cmd.NAV_WAYPOINT, *p, 30.0) for p in (a, b, c)],
        MissionItem(command=Cmd.NAV_RETURN_TO_LAUNCH),
    ]


def connect(url: str):
    conn = mavutil.mavlink_connection(url, source_system=255, source_component=190)
    conn.wait_heartbeat(timeout=5)
    return conn


def upload(conn, items: list[MissionItem]) -> float:
    t0 = time.perf_counter()
    conn.mav.mission_count_send(1, 1, len(items), 0)
    while True:
        msg = conn.recv_match(type=["MISSION_REQUEST", "MISSION_ACK"], blocking=True, timeout=5)
        if msg is None:
            raise RuntimeError("upload stalled")
        if msg.get_type() == "MISSION_ACK":
            if msg.type != 0:
                raise RuntimeError(f"upload refused: {msg.type}")
            return time.perf_counter() - t0
        it = items[msg.seq]
        conn.mav.mission_item_int_send(
            1,
            1,
            msg.seq,
            it.frame,
            it.command,
            0,
            1,
            it.param1,
            it.param2,
            it.param3,
            it.param4,
            it.x,
            it.y,
            it.z,
            0,
        )


def bench_upload(n: int, speedup: float) -> float:
    # above 650 items SITL needs BRD_SD_MISSION (mission in a file), as the notes' 700-item runs
    with simulated(speedup=speedup, params={"BRD_SD_MISSION": 64 if n > 650 else 0}) as ep:
        conn = connect(ep.url)
        try:
            ep.vehicle.wait_for(lambda s: s.t_sim > 3.0, 10, "start-up")
            return upload(conn, mission(n))
        finally:
            conn.close()


def command(conn, cmd: int, *p: float) -> int:
    conn.mav.command_long_send(1, 1, cmd, 0, *[*p, *([0.0] * (7 - len(p)))])
    ack = conn.recv_match(type="COMMAND_ACK", blocking=True, timeout=5)
    return -1 if ack is None else ack.result


def bench_flight(speedup: float) -> tuple[float, float]:
    with simulated(speedup=speedup) as ep:
        conn = connect(ep.url)
        try:
            ep.vehicle.wait_for(lambda s: s.t_sim > 43 and s.home is not None, 30, "EKF")
            upload(conn, square())
            assert command(conn, 176, 1, 4) == 0 and command(conn, 400, 1) == 0
            t_sim0, t0 = ep.vehicle.snapshot().t_sim, time.perf_counter()
            assert command(conn, 176, 1, 3) == 0 and command(conn, 300) == 0
            snap = ep.vehicle.wait_for(lambda s: not s.armed, 600, "landing")
            return snap.t_sim - t_sim0, time.perf_counter() - t0
        finally:
            conn.close()


def bench_physics(seconds: float = 2.0) -> float:
    params = ParamTable.defaults()
    server = MissionServer(home=lambda: DEFAULT_HOME)
    server.ready = True
    server.on_count((255, 190), len(square()), 0, 0.0)
    for seq, item in enumerate(square()):
        server.on_item((255, 190), item, seq, 0.0)
    ap = Autopilot(params, server, DEFAULT_HOME)
    ap.booted = True
    for _ in range(int(43 / 0.05)):
        ap.step(0.05)
    ap.set_mode(Mode.GUIDED)
    ap.arm()
    ap.mission_start()
    steps, t0 = 0, time.process_time()
    while time.process_time() - t0 < seconds and ap.armed:
        ap.step(0.05)
        steps += 1
    return steps / (time.process_time() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, nargs="+", default=[100, 700])
    ap.add_argument("--speedups", type=float, nargs="+", default=[1.0, 10.0])
    ap.add_argument("--flight-speedup", type=float, default=100.0)
    args = ap.parse_args()
    print("mission upload (client replies at once):")
    for speedup in args.speedups:
        for n in args.items:
            dt = bench_upload(n, speedup)
            print(f"  x{speedup:<5g} {n:4d} items: {dt:6.2f} s  ({dt / n * 1000:5.2f} ms/item)")
    sim_s, wall_s = bench_flight(args.flight_speedup)
    print(
        f"square flight at x{args.flight_speedup:g}: {sim_s:.1f} s simulated "
        f"in {wall_s:.2f} s wall (effective x{sim_s / wall_s:.0f})"
    )
    steps = bench_physics()
    print(f"physics: {steps:.0f} autopilot steps per CPU second (ceiling x{steps * 0.05:.0f})")


if __name__ == "__main__":
    main()
