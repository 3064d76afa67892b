"""``waterpatrol fly``: upload a plan to a vehicle and fly it with a live progress display.

Exit codes: 0 every sortie flown to its end and landed; 1 an error before or
during the flight (the message says what); 3 a sortie ended early (fence
breach, RTL, the vehicle landed); 4 the link was lost during a flight (the
vehicle's failsafe is in charge); 130 Ctrl-C, after the vehicle was sent home
(RTL) and followed to the ground (a second Ctrl-C leaves at once).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

EXIT_EARLY = 3
EXIT_LINK_LOST = 4
EXIT_INTERRUPTED = 130
PLAN_SUFFIXES = (".plan",)
MAX_LAUNCH_DISTANCE_M = 50.0  # default: the vehicle must stand this close to the plan's launch

# Between sorties (fly and patrol): a battery swap at the prompt, or a dock that charges.
DockedOpt = Annotated[
    bool,
    typer.Option(
        "--docked",
        help="The vehicle charges at a dock between sorties: wait (up to --charge-timeout) "
        "until its battery can fly the next sortie instead of asking for a swap.",
    ),
]
ChargeTimeoutOpt = Annotated[
    float,
    typer.Option("--charge-timeout", min=0.0, help="Minutes to wait at the dock with --docked."),
]


def load_job(
    path: Path,
    pattern: str | None = None,
    endurance_min: float | None = None,
    reserve_pct: float | None = None,
) -> Any:
    """A FlightJob from a QGroundControl .plan file, or a key-water file planned now.

    The battery check uses the key water's ``vehicle`` settings (a .plan file has
    none: the defaults of a key-water file); ``endurance_min`` / ``reserve_pct``
    override them.
    """
    from dataclasses import replace

    from geofences.model import VehicleSettings
    from mission.link.job import (
        FlightJob,
        SortieJob,
        endurance_of,
        estimate_flight_s,
        fence_params_for,
        job_from_plan,
    )

    def battery(vehicle: VehicleSettings) -> Any:
        if endurance_min is not None:
            vehicle = replace(vehicle, endurance_min=endurance_min)
        if reserve_pct is not None:
            vehicle = replace(vehicle, reserve_pct=reserve_pct)
        return endurance_of(vehicle)

    if path.suffix.lower() in PLAN_SUFFIXES:
        from mission.export import read_plan

        pf = read_plan(path)
        home = (pf.mission[0].lat, pf.mission[0].lon)
        sortie = SortieJob(1, tuple(pf.mission), estimate_flight_s(pf.mission, home))
        return FlightJob(
            name=path.stem,
            home=home,
            sorties=(sortie,),
            fence=tuple(pf.fence),
            rally=tuple(pf.rally),
            fence_params=fence_params_for(pf.fence, pf.mission),
            endurance=battery(VehicleSettings()),
        )
    import geofences
    from mission.planner import plan

    kw = geofences.load(path)
    return job_from_plan(plan(kw, pattern), battery(kw.vehicle))


class _Display:
    """Live progress on a terminal; plain lines otherwise; nothing but the result with --json."""

    def __init__(self, quiet: bool, n_sorties: int) -> None:
        """``n_sorties``: how many the plan has (``--sortie 2`` of 3 shows "sortie 2/3")."""
        from rich.console import Console

        self.quiet = quiet
        self.n = n_sorties
        self.console = Console(stderr=True)
        self.live: Any = None
        self.status = ""

    def __enter__(self) -> _Display:
        if not self.quiet and self.console.is_terminal:
            from rich.live import Live

            self.live = Live("", console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def line(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False)

    def stage(self, sortie: int, text: str) -> None:
        self.line(f"sortie {sortie}/{self.n}: {text}")

    def event(self, sortie: int, ev: Any) -> None:
        from mission.link import flight as f

        if isinstance(ev, f.Progress):
            dist = "-" if ev.dist_to_item_m is None else f"{ev.dist_to_item_m:.0f} m"
            batt = "-" if ev.battery_pct is None else f"{ev.battery_pct:.0f}%"
            alt = "-" if ev.alt_rel_m is None else f"{ev.alt_rel_m:.0f} m"
            self.status = (
                f"sortie {sortie}/{self.n}  item {ev.seq} of {ev.total}  reached {ev.reached}  "
                f"next {dist}  alt {alt}  battery {batt}  {ev.mode}  {ev.elapsed_s:.0f} s"
            )
            if self.live is not None:
                self.live.update(self.status)
        elif isinstance(ev, f.ItemReached):
            if self.live is None:
                self.line(f"sortie {sortie}: reached item {ev.seq}")
        elif isinstance(ev, f.ModeChanged):
            self.line(f"sortie {sortie}: mode {ev.old} -> {ev.new}")
        elif isinstance(ev, f.FenceBreach):
            self.line(f"[bold red]sortie {sortie}: FENCE BREACH[/] (count {ev.count})")
        elif isinstance(ev, f.VehicleText):
            self.line(f"sortie {sortie}: vehicle: {ev.text}")
        elif isinstance(ev, f.LinkDown):
            self.line(f"[bold red]sortie {sortie}: LINK LOST[/]: {ev.reason}")
        elif isinstance(ev, f.LinkUp):
            self.line(f"sortie {sortie}: link back after {ev.down_s:.1f} s")
        elif isinstance(ev, f.MissionComplete):
            self.line(f"sortie {sortie}: mission complete")
        elif isinstance(ev, f.FlightEnded):
            self.line(f"sortie {sortie}: {ev.reason}")


def report_lines(reports: list[Any], indexes: list[int] | None = None) -> list[str]:
    """The flight report as text, one block per sortie; ``indexes``: the sorties' numbers in
    the plan (default 1, 2, ...), so ``--sortie 2`` reports "sortie 2"."""
    lines = []
    numbers = indexes if indexes is not None else list(range(1, len(reports) + 1))
    for i, r in zip(numbers, reports, strict=False):

        def opt(v: float | None, unit: str, fmt: str = ".1f") -> str:
            return "-" if v is None else f"{v:{fmt}} {unit}"

        lines += [
            f"sortie {i}: {'completed' if r.completed else 'NOT completed'} ({r.reason})",
            f"  waypoints reached      {r.waypoints_reached}/{r.waypoints_total}",
            f"  max off planned path   {opt(r.max_off_path_m, 'm')}",
            f"  fence breaches         {r.fence_breaches}"
            + (
                f" (track points outside fence: {r.track_outside_fence})"
                if r.track_outside_fence
                else ""
            ),
            f"  flight time            planned {opt(r.planned_s, 's', '.0f')}, "
            f"flown {opt(r.flown_s, 's', '.0f')} (in the air, vehicle clock)",
            f"  battery                at launch {opt(r.battery_start_pct, '%', '.0f')}, "
            f"planned use {opt(r.battery_planned_pct, '%', '.0f')}, "
            f"used {opt(r.battery_used_pct, '%', '.0f')}"
            + (f" ({r.battery_used_mah:.0f} mAh)" if r.battery_used_mah is not None else ""),
            f"  landed from launch     {opt(r.landing_from_launch_m, 'm', '.2f')}",
            f"  wall time              {r.wall_s:.1f} s",
        ]
    return lines


def fly(
    path: Path = typer.Argument(
        ...,
        help="A QGroundControl .plan file, or a key-water file (.yaml/.geojson) to plan first.",
        exists=True,
        dir_okay=False,
    ),
    connect: str | None = typer.Option(
        None,
        "--connect",
        "-c",
        help="Vehicle address: tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT or a serial "
        "device (/dev/ttyUSB0,57600). Signing key, if any, from WATERPATROL_MAVLINK_KEY.",
    ),
    sortie: int | None = typer.Option(None, "--sortie", "-s", help="Fly only sortie N (1-based)."),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Upload and verify fence, rally and mission and set the fence parameters, but do "
        "not arm. Without --connect, only show what would be uploaded.",
    ),
    ready_timeout: float = typer.Option(
        120.0,
        "--ready-timeout",
        min=0.0,
        help="Seconds to wait for GPS fix, EKF position and home (and at most this long to "
        "connect).",
    ),
    connect_timeout: float = typer.Option(
        30.0,
        "--connect-timeout",
        min=0.0,
        help="Seconds to keep trying to open the link and hear the autopilot (never longer "
        "than --ready-timeout).",
    ),
    max_launch_distance: float = typer.Option(
        MAX_LAUNCH_DISTANCE_M,
        "--max-launch-distance",
        min=0.0,
        help="Refuse to upload when the vehicle stands farther than this many metres from "
        "the plan's launch point.",
    ),
    docked: DockedOpt = False,
    charge_timeout: ChargeTimeoutOpt = 90.0,
    endurance_min: float | None = typer.Option(
        None,
        "--endurance-min",
        min=1.0,
        help="Minutes a full battery flies (default: the key water's vehicle.endurance_min; "
        "25 for a .plan file). Each sortie launches only on a battery that covers it.",
    ),
    reserve_pct: float | None = typer.Option(
        None,
        "--reserve-pct",
        min=0.0,
        max=90.0,
        help="Battery kept in reserve, never planned into a sortie (default: the key "
        "water's vehicle.reserve_pct; 25 for a .plan file).",
    ),
    station: str | None = typer.Option(
        None,
        "--station",
        help="Station alerts URL (as for patrol --dispatch): send it a signed status report "
        "about once a second (secret from WATERPATROL_WEBHOOK_SECRET) for its live map.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the flight report as JSON."),
) -> int:
    """Fly a plan: connect, upload and verify fence/rally/mission, arm, AUTO, follow, report.

    Before each sortie the battery the vehicle reports must cover the sortie's
    estimated use plus the reserve, or the sortie is not launched. Between
    sorties the operator confirms a battery swap at the prompt (or --docked
    waits for the dock to charge it).

    Exit codes: 0 completed; 1 error; 3 a sortie ended early (fence breach, RTL);
    4 link lost in flight; 130 Ctrl-C (the vehicle was sent home first).
    """
    from mission.cli import emit_json
    from mission.link.errors import LinkError

    full = load_job(path, endurance_min=endurance_min, reserve_pct=reserve_pct)
    job = full.only(sortie)
    items = sum(len(s.items) for s in job.sorties)
    summary = {
        "name": job.name,
        "sorties": [s.index for s in job.sorties],
        "mission_items": items,
        "fence_items": len(job.fence),
        "rally_items": len(job.rally),
        "fence_params": dict(job.fence_params),
    }
    if connect is None:
        if not dry_run:
            raise LinkError("say where the vehicle is with --connect URL (or use --dry-run)")
        if json_out:
            emit_json({"dry_run": True, **summary})
        else:
            typer.echo(
                f"{job.name}: {len(job.sorties)} sortie(s), {items} mission items, "
                f"{len(job.fence)} fence items, {len(job.rally)} rally points; "
                f"fence parameters {dict(job.fence_params)}"
            )
        return 0
    link = _LinkOptions(
        url=connect,
        connect_timeout_s=min(connect_timeout, ready_timeout),
        ready_timeout_s=ready_timeout,
        max_launch_distance_m=max_launch_distance,
        docked=docked,
        charge_timeout_s=charge_timeout * 60.0,
        station=station,
    )
    return _fly_connected(job, len(full.sorties), link, dry_run, json_out, summary)


def confirm_swap(text: str) -> None:
    """Ask the operator at the terminal; returns once they press Enter."""
    typer.prompt(text, default="", show_default=False)


def swap_between_sorties(
    sorties: Any,
    endurance: Any,
    *,
    docked: bool,
    charge_timeout_s: float,
    interactive: bool,
    say: Any,
) -> Any:
    """``before_sortie`` for fly and patrol: from the second sortie on, a battery swap at
    the prompt (or the dock's charge). Without either, fly_job's battery check refuses a
    pack too low to fly."""
    from mission.link.battery import between_sorties

    est = {s.index: s.est_flight_s for s in sorties}
    first = sorties[0].index

    def before_sortie(conn: Any, index: int) -> None:
        if index == first:
            return
        between_sorties(
            conn,
            index,
            est[index],
            endurance,
            docked=docked,
            charge_timeout_s=charge_timeout_s,
            confirm_swap=confirm_swap if interactive else None,
            say=say,
        )

    return before_sortie


@dataclass(frozen=True)
class _LinkOptions:
    url: str
    connect_timeout_s: float
    ready_timeout_s: float
    max_launch_distance_m: float
    docked: bool = False
    charge_timeout_s: float = 5400.0
    station: str | None = None  # alerts URL of a station to send status reports to


def check_launch_distance(job: Any, telemetry: Any, max_m: float) -> float:
    """The vehicle's distance from the plan's launch point; LinkError beyond ``max_m``.

    A plan flown from elsewhere would take off far from its fence (arming then
    fails with "breaching fence") or, without one, fly its legs from the wrong
    place: refuse before anything is uploaded.
    """
    from geofences.projection import LocalProjection
    from mission.link.errors import LinkError

    if telemetry.lat is not None and telemetry.lon is not None:
        lat, lon, what = telemetry.lat, telemetry.lon, "position"
    elif telemetry.home is not None:
        lat, lon, what = telemetry.home[0], telemetry.home[1], "home position"
    else:
        raise LinkError("the vehicle reports no position; wait for a GPS fix and try again")
    # the first sortie's own launch where the plan has several
    home = job.sorties[0].home or job.home
    proj = LocalProjection.around(home[0], home[1])
    hx, hy = proj.to_xy(home[1], home[0])
    vx, vy = proj.to_xy(lon, lat)
    dist = math.hypot(vx - hx, vy - hy)
    if dist > max_m:
        raise LinkError(
            f"the vehicle's {what} (lat {lat:.6f}, lon {lon:.6f}) is {dist:.0f} m from the "
            f"launch point of {job.name} (lat {home[0]:.6f}, lon {home[1]:.6f}), more "
            f"than {max_m:g} m: carry it to the launch point (or plan from where it stands; "
            "--max-launch-distance changes the limit); nothing was uploaded"
        )
    return dist


def _fly_connected(
    job: Any, n_planned: int, link: _LinkOptions, dry_run: bool, json_out: bool, summary: dict
) -> int:
    from mission.cli import emit_json
    from mission.link.connection import open_link
    from mission.link.errors import LinkLost
    from mission.link.flight import prepare
    from mission.link.job import fly_job
    from mission.status_report import fly_reporter

    display = _Display(json_out, n_planned)
    display.line(
        f"connecting to {link.url} (up to {link.connect_timeout_s:g} s; then up to "
        f"{link.ready_timeout_s:g} s for GPS, EKF and home)"
    )
    conn = open_link(
        link.url,
        connect_timeout_s=link.connect_timeout_s,
        ready_timeout_s=link.ready_timeout_s,
        on_progress=display.line,
    )
    try:
        dist = check_launch_distance(job, conn.snapshot(), link.max_launch_distance_m)
        display.line(f"vehicle is {dist:.0f} m from the launch point")
        if dry_run:
            first = job.sorties[0]
            stats = prepare(conn, first.items, job.fence, job.rally, job.fence_params)
            result = {
                "dry_run": True,
                **summary,
                "uploaded": {k: v.count for k, v in stats.items()},
                "verified": True,
            }
            if json_out:
                emit_json(result)
            else:
                typer.echo(
                    f"uploaded and verified sortie {first.index}: "
                    + ", ".join(f"{k} {v.count} items" for k, v in stats.items())
                    + "; not armed (--dry-run)"
                )
            return 0
        code = 0
        reports: list[Any] = []

        pause = swap_between_sorties(
            job.sorties,
            job.endurance,
            docked=link.docked,
            charge_timeout_s=link.charge_timeout_s,
            interactive=not json_out and sys.stdin.isatty(),
            say=display.line,
        )
        reporter = fly_reporter(link.station, conn, job.name)
        try:
            with display:
                reports = fly_job(
                    conn, job, on_event=display.event, on_stage=display.stage, before_sortie=pause
                )
        except KeyboardInterrupt:
            display.line("interrupted: the vehicle was sent home (RTL)")
            code = EXIT_INTERRUPTED
        except LinkLost as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(EXIT_LINK_LOST) from None
        finally:
            if reporter is not None:
                reporter.stop()
        if code == 0 and (len(reports) < len(job.sorties) or not all(r.completed for r in reports)):
            code = EXIT_EARLY
        indexes = [s.index for s in job.sorties]
        if json_out:
            docs = [{"sortie": i, **r.as_dict()} for i, r in zip(indexes, reports, strict=False)]
            emit_json({**summary, "reports": docs, "exit_code": code})
        else:
            for line in report_lines(reports, indexes):
                typer.echo(line)
        if code:
            raise typer.Exit(code)
        return 0
    finally:
        conn.close()
