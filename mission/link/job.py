"""Fly the sorties of a plan, one after the other, and report each.

A ``FlightJob`` is what a vehicle needs whatever the plan came from (a key
water planned now, or a QGroundControl .plan file): mission items per
sortie, fence and rally items, FENCE_* parameters and the launch point.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from geofences.model import VehicleSettings
from mission.items import Cmd, MissionItem
from mission.link.battery import Endurance, check_launch, need_pct, read_battery_pct
from mission.link.connection import Connection
from mission.link.flight import FlightEvent, fly, prepare
from mission.link.report import FlightReport, FlightTrack, flight_report, planned_path
from mission.plan import MissionPlan

DEFAULT_SPEED_M_S = 5.0  # ArduCopter WPNAV_SPEED on older releases; the slower assumption
FENCE_ALT_HEADROOM_M = 20.0


@dataclass(frozen=True)
class SortieJob:
    index: int  # 1-based, as in the plan
    items: tuple[MissionItem, ...]  # item 0 = home
    est_flight_s: float
    # Where this sortie takes off and lands (lat, lon) when the plan has several launch
    # points; None: the job's home.
    home: tuple[float, float] | None = None


@dataclass(frozen=True)
class FlightJob:
    name: str
    home: tuple[float, float]  # lat, lon of the launch point
    sorties: tuple[SortieJob, ...]
    fence: tuple[MissionItem, ...] = ()
    rally: tuple[MissionItem, ...] = ()
    fence_params: Mapping[str, float] = field(default_factory=dict)
    # The battery the plan assumed; each sortie is checked against it before launch.
    endurance: Endurance | None = None

    def only(self, index: int | None) -> FlightJob:
        """The job reduced to sortie ``index`` (1-based); None keeps all."""
        if index is None:
            return self
        chosen = tuple(s for s in self.sorties if s.index == index)
        if not chosen:
            from mission.link.errors import LinkError

            raise LinkError(
                f"{self.name} has no sortie {index}: choose 1 to {len(self.sorties)} with --sortie"
            )
        return replace(self, sorties=chosen)


def job_from_plan(plan: MissionPlan, endurance: Endurance | None = None) -> FlightJob:
    """The plan as a flight job; ``endurance`` (the key water's vehicle) arms the battery check."""
    return FlightJob(
        name=plan.key_water_name or plan.key_water_id,
        home=(plan.home[0], plan.home[1]),
        sorties=tuple(
            SortieJob(
                s.index,
                tuple(s.items),
                s.est_flight_s,
                None if s.home is None else (s.home[0], s.home[1]),
            )
            for s in plan.sorties
        ),
        fence=tuple(plan.fence),
        rally=tuple(plan.rally),
        fence_params=dict(plan.fence_params),
        endurance=endurance,
    )


def endurance_of(vehicle: VehicleSettings) -> Endurance:
    return Endurance(vehicle.endurance_min * 60.0, vehicle.reserve_pct)


def estimate_flight_s(items: Sequence[MissionItem], home: tuple[float, float]) -> float:
    """Rough flight time of a mission without a planner estimate: path length at the set speed."""
    from shapely.geometry import LineString

    from geofences.projection import LocalProjection

    proj = LocalProjection.around(home[0], home[1])
    path = proj.geom_to_m(LineString(planned_path(items, home)))
    speeds = [it.param2 for it in items if it.command == Cmd.DO_CHANGE_SPEED and it.param2 > 0]
    speed = min(speeds, default=DEFAULT_SPEED_M_S)
    alt = max((it.z for it in items[1:] if it.has_position), default=0.0)
    return path.length / speed + alt / 2.5 + alt / 1.5


def fence_params_for(
    fence: Sequence[MissionItem], mission: Sequence[MissionItem]
) -> dict[str, float]:
    """FENCE_* for a fence that came without them (a .plan file): polygons + max altitude, RTL.

    The stock FENCE_TYPE 7 includes a 150 m circle that would be the real limit.
    """
    if not fence:
        return {}
    alt = max((it.z for it in mission[1:] if it.has_position), default=0.0)
    return {
        "FENCE_TYPE": 5.0,  # max altitude + polygons
        "FENCE_ALT_MAX": alt + FENCE_ALT_HEADROOM_M,
        "FENCE_ACTION": 1.0,  # RTL, else LAND
        "FENCE_ENABLE": 1.0,
    }


def flight_timeout_s(sortie: SortieJob, speedup: float = 1.0) -> float:
    """Wall-time limit for one sortie: twice the estimate plus five minutes, at ``speedup``."""
    return (2.0 * sortie.est_flight_s + 300.0) / max(speedup, 1e-6)


def fly_job(
    conn: Connection,
    job: FlightJob,
    *,
    speedup: float = 1.0,
    on_event: Callable[[int, FlightEvent], None] | None = None,
    on_stage: Callable[[int, str], None] | None = None,
    before_sortie: Callable[[Connection, int], None] | None = None,
) -> list[FlightReport]:
    """Upload and fly each sortie in turn (fence and rally before the first) and report each.

    ``on_stage(sortie, text)`` tells what is happening (uploading, arming ...);
    ``on_event(sortie, event)`` passes on every flight event; ``before_sortie``
    ``(conn, index)`` runs before each sortie (a battery swap). With ``job.endurance`` set, no
    sortie launches on a battery that cannot fly it plus the reserve
    (BatteryTooLow). Stops after a sortie that did not complete.
    """
    reports = []
    for n, sortie in enumerate(job.sorties):
        stage = on_stage or (lambda _i, _s: None)
        if before_sortie is not None:
            before_sortie(conn, sortie.index)
        battery_pct = None
        if job.endurance is not None:
            stage(sortie.index, "checking the battery")
            battery_pct = read_battery_pct(conn)
            check_launch(sortie.index, battery_pct, sortie.est_flight_s, job.endurance)
        stage(sortie.index, "uploading")
        prepare(
            conn,
            sortie.items,
            job.fence if n == 0 else (),
            job.rally if n == 0 else (),
            job.fence_params if n == 0 else None,
        )
        stage(sortie.index, "arming")
        track = FlightTrack()
        t0 = time.monotonic()

        def relay(event: FlightEvent, i: int = sortie.index) -> None:
            if on_event is not None:
                on_event(i, event)

        ended = fly(
            conn,
            sortie.items,
            timeout_s=flight_timeout_s(sortie, speedup),
            on_event=relay,
            track=track,
        )
        reports.append(
            flight_report(
                track,
                sortie.items,
                sortie.home or job.home,
                job.fence,
                completed=ended.completed,
                reason=ended.reason,
                wall_s=time.monotonic() - t0,
                planned_s=sortie.est_flight_s,
                planned_battery_pct=(
                    need_pct(sortie.est_flight_s, job.endurance) if job.endurance else None
                ),
            )
        )
        if not ended.completed:
            break
    return reports
