"""Fly a job on any vehicle and record what it did, stamped with the vehicle's own clock.

Used to hold the simulated vehicle against ArduPilot SITL (tests and the
``bench_sim_vs_sitl`` benchmark): a thread listening beside ``fly_job`` keeps
every GLOBAL_POSITION_INT (the track), the battery's current and charge used,
and the mission events (MISSION_CURRENT seq changes, MISSION_ITEM_REACHED,
mode changes, arm/disarm). Times are ``time_boot_ms`` in seconds, simulated
time on both vehicles, so wall-clock load and speed-up do not matter; events
carry the time of the latest position.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mission.items import MissionItem
from mission.link.connection import Connection, open_link
from mission.link.errors import LinkLost
from mission.link.job import FlightJob, fly_job, job_from_plan
from mission.link.report import FlightReport
from mission.link.telemetry import DEFAULT_RATES_HZ

# Finer positions than the link's default: corners are a few seconds long.
RECORD_RATES_HZ = {**DEFAULT_RATES_HZ, "GLOBAL_POSITION_INT": 10.0, "BATTERY_STATUS": 2.0}
_TYPES = (
    "GLOBAL_POSITION_INT",
    "MISSION_CURRENT",
    "MISSION_ITEM_REACHED",
    "HEARTBEAT",
    "BATTERY_STATUS",
)
MAV_AUTOPILOT_INVALID = 8
ARMED_FLAG = 128


@dataclass(frozen=True)
class Fix:
    t_s: float  # time_boot_ms / 1000
    lat: float
    lon: float
    alt_m: float  # above home
    vn: float  # m/s
    ve: float
    vd: float  # down, m/s


@dataclass(frozen=True)
class Event:
    t_s: float
    kind: str  # "current" (MISSION_CURRENT seq), "reached", "mode", "armed", "disarmed"
    value: int


@dataclass
class Recording:
    fixes: list[Fix] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    battery: list[tuple[float, float, float]] = field(default_factory=list)  # t, A, mAh used

    def between(self, t0: float, t1: float) -> Recording:
        """The part of the recording from ``t0`` to ``t1`` (seconds of the vehicle clock)."""
        return Recording(
            [f for f in self.fixes if t0 <= f.t_s <= t1],
            [e for e in self.events if t0 <= e.t_s <= t1],
            [b for b in self.battery if t0 <= b[0] <= t1],
        )


class _Recorder:
    def __init__(self, conn: Connection) -> None:
        self.rec = Recording()
        self._sub = conn.subscribe(*_TYPES)
        self._stop = threading.Event()
        self._t = 0.0
        self._seq: int | None = None
        self._mode: int | None = None
        self._armed: bool | None = None
        self._thread = threading.Thread(target=self._run, name="flight recorder", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._sub.get(0.1)
            except LinkLost:
                continue
            if msg is not None:
                self._take(msg)
        try:  # what arrived before the stop
            while (msg := self._sub.get(0.0)) is not None:
                self._take(msg)
        except LinkLost:
            pass

    def _event(self, kind: str, value: int) -> None:
        self.rec.events.append(Event(self._t, kind, value))

    def _take(self, msg: Any) -> None:
        kind = msg.get_type()
        if kind == "GLOBAL_POSITION_INT":
            self._t = msg.time_boot_ms / 1000.0
            self.rec.fixes.append(
                Fix(
                    self._t,
                    msg.lat / 1e7,
                    msg.lon / 1e7,
                    msg.relative_alt / 1000.0,
                    msg.vx / 100.0,
                    msg.vy / 100.0,
                    msg.vz / 100.0,
                )
            )
        elif kind == "MISSION_CURRENT" and msg.seq != self._seq:
            self._seq = int(msg.seq)
            self._event("current", self._seq)
        elif kind == "MISSION_ITEM_REACHED":
            self._event("reached", int(msg.seq))
        elif kind == "HEARTBEAT" and msg.autopilot != MAV_AUTOPILOT_INVALID:
            armed = bool(msg.base_mode & ARMED_FLAG)
            if msg.custom_mode != self._mode:
                self._mode = int(msg.custom_mode)
                self._event("mode", self._mode)
            if armed != self._armed:
                self._armed = armed
                self._event("armed" if armed else "disarmed", 0)
        elif kind == "BATTERY_STATUS" and msg.current_battery >= 0:
            self.rec.battery.append((self._t, msg.current_battery / 100.0, msg.current_consumed))

    def close(self) -> Recording:
        self._stop.set()
        self._thread.join(5.0)
        self._sub.close()
        return self.rec


@contextmanager
def recording(conn: Connection) -> Iterator[Recording]:
    """Record ``conn``'s vehicle while the block runs; the Recording is complete after it."""
    rec = _Recorder(conn)
    try:
        yield rec.rec
    finally:
        rec.close()


def fly_and_record(
    url: str,
    job: FlightJob,
    speedup: float,
    before_sortie: Callable[[int], None] | None = None,
) -> tuple[list[FlightReport], Recording]:
    """Open a link to ``url``, fly ``job`` and return its reports and the recording."""
    ready_s = max(60.0, 600.0 / speedup)
    with (
        open_link(url, ready_timeout_s=ready_s, rates_hz=RECORD_RATES_HZ) as conn,
        recording(conn) as rec,
    ):
        reports = fly_job(conn, job, speedup=speedup, before_sortie=before_sortie)
    return reports, rec


SPEEDUP = {"sim": 25.0, "ardupilot": 10.0}  # SITL holds x10 on 2 cores; the sim's clock is its own
# Both vehicles get this pack so neither's battery failsafe ends a compared flight early.
COMPARE_BATT_CAPACITY = 20000


def fly_sample_water(
    kind: str, stem: str, sortie: int | None = None
) -> tuple[list[FlightReport], Recording, list[MissionItem]]:
    """Fly a sample water's plan (or one sortie of it) on ``kind`` ("sim" or "ardupilot")."""
    from dataclasses import replace

    import geofences
    from mission.planner import plan
    from sitl.endpoints import ardupilot, simulated

    paths = [p for p in geofences.sample_paths() if p.stem == stem]
    if not paths:
        raise ValueError(f"no sample water {stem!r}")
    kw = geofences.load(paths[0])
    job = job_from_plan(plan(kw))
    job = replace(
        job.only(sortie) if sortie else job,
        fence_params={**job.fence_params, "BATT_CAPACITY": COMPARE_BATT_CAPACITY},
    )
    home = (kw.launch.lat, kw.launch.lon, kw.launch.alt_amsl_m)
    speedup = SPEEDUP[kind]
    start = simulated if kind == "sim" else ardupilot
    with start(home=home, speedup=speedup) as ep:
        reports, rec = fly_and_record(ep.url, job, speedup)
    return reports, rec, list(job.sorties[0].items)
