"""``waterpatrol patrol``: fly a key water's patrol, watch the drone's video, alert dispatch.

Mounted by the root CLI as a single command (``mission.patrol_cli.patrol``). Heavy
imports (pymavlink, torch, cv2) happen inside the command.

Exit codes: 0 every sortie flown and landed, every alert delivered; 1 an error (the
message says what; a patrol that had started still writes its report); 3 a sortie
ended early (fence breach, RTL, the vehicle landed); 4 the link was lost in flight (the
vehicle's failsafe is in charge); 5 the flight completed but some alerts are still
waiting in the outbox (``waterpatrol alerts deliver`` sends them); 130 Ctrl-C, after
the vehicle was sent home and followed to the ground.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import typer

from mission.fly_cli import ChargeTimeoutOpt, DockedOpt

EXIT_ERROR = 1
EXIT_EARLY = 3
EXIT_LINK_LOST = 4
EXIT_UNDELIVERED = 5
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    "error": EXIT_ERROR,
    "ended_early": EXIT_EARLY,
    "link_lost": EXIT_LINK_LOST,
    "interrupted": EXIT_INTERRUPTED,
}


def exit_code(result: Any) -> int:
    """The command's exit code for a finished patrol (see the module docstring)."""
    if result.outcome in EXIT_CODES:
        return EXIT_CODES[result.outcome]
    return 0 if result.all_delivered else EXIT_UNDELIVERED


def status_text(st: Any) -> str:
    """One line of the live status view."""
    batt = "-" if st.battery_pct is None else f"{st.battery_pct:.0f}%"
    alt = "-" if st.alt_rel_m is None else f"{st.alt_rel_m:.0f} m"
    minutes, seconds = divmod(int(st.elapsed_s), 60)
    return (
        f"sortie {st.sortie}/{st.sorties}  waypoint {st.seq} of {st.total}  {st.mode}  "
        f"alt {alt}  battery {batt}  |  video {st.fps:.1f} fps, {st.dropped} dropped, "
        f"{st.people} people in view  |  open incidents {st.open_incidents}  "
        f"alerts {st.alerts} ({st.delivered} delivered)  |  {minutes}:{seconds:02d}"
    )


class StatusView:
    """The live status view on a terminal (rich); plain lines otherwise; silent with --json."""

    def __init__(self, quiet: bool) -> None:
        from rich.console import Console

        self.quiet = quiet
        self.console = Console(stderr=True)
        self.live: Any = None
        self.patrol: Any = None

    def start(self, patrol: Any) -> None:
        self.patrol = patrol
        if self.quiet or not self.console.is_terminal:
            return
        from rich.live import Live
        from rich.text import Text

        def render() -> Text:
            st = patrol.status()
            return Text(f"{st.stage}\n{status_text(st)}", style="bold")

        self.live = Live(
            get_renderable=render, console=self.console, refresh_per_second=4, transient=True
        )
        self.live.start()

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None

    def line(self, text: str) -> None:
        if not self.quiet:
            stamp = time.strftime("%H:%M:%S")
            self.console.print(f"{stamp} {text}", highlight=False, markup=False, soft_wrap=True)


def summary_lines(result: Any, report: dict[str, Path]) -> list[str]:
    """What the operator reads at the end."""
    from mission.fly_cli import report_lines

    lines = [
        f"patrol {result.mission_id}: {result.outcome} ({result.reason})",
        *report_lines(list(result.flights)),
        f"video: {result.video.frames} frames at {result.video.fps:.1f} fps, "
        f"{result.video.dropped} dropped, {result.video.reconnects} reconnects",
        f"incidents: {len(result.incidents)}"
        + "".join(
            f"\n  {i.id} {i.type} {i.severity} "
            + (
                f"{i.lat:.6f},{i.lon:.6f} ±{i.uncertainty_m:.0f} m"
                if i.lat is not None and i.lon is not None and i.uncertainty_m is not None
                else "position unknown"
            )
            + f" people={i.people}"
            for i in result.incidents
        ),
        f"alerts: {len(result.alerts)}, "
        f"{sum(a.delivery == 'delivered' for a in result.alerts)} delivered"
        + ("" if result.all_delivered else f" (the rest wait in {result.outbox})"),
        f"report: {report['markdown']} (map {report['map']}, data {report['json']})",
    ]
    return lines


def patrol(
    file: Path = typer.Argument(
        ..., help="Key-water file (.yaml or .geojson) to patrol.", exists=True, dir_okay=False
    ),
    connect: str = typer.Option(
        ...,
        "--connect",
        "-c",
        help="Vehicle address: tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT or a serial "
        "device (/dev/ttyUSB0,57600).",
    ),
    source: str = typer.Option(
        ...,
        "--source",
        help="The drone's video: a stream URL (udp://127.0.0.1:5600, rtsp://...).",
    ),
    dispatch: list[str] = typer.Option(
        ..., "--dispatch", help="Dispatch webhook URL (repeat for several)."
    ),
    fmt: str = typer.Option("json", "--format", help="Alert body: json or cap (CAP 1.2 XML)."),
    secret_env: str = typer.Option(
        "WATERPATROL_WEBHOOK_SECRET",
        "--secret-env",
        help="Environment variable holding the dispatch's whsec_ signing secret.",
    ),
    out: Path = typer.Option(
        Path("out/patrol"), "--out", help="Folder for the run (a sub-folder per mission)."
    ),
    outbox: Path | None = typer.Option(
        None,
        "--outbox",
        help="Alert outbox (SQLite); default: the station's ($WATERPATROL_HOME/outbox.sqlite).",
    ),
    pattern: str | None = typer.Option(
        None, "--pattern", help="survey, shoreline or corridor (default: the file's)."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        help="Ultralytics model file (.pt, .onnx), or 'aerial' for the detector trained on "
        "real drone footage of swimmers (two stages with the pose model); default "
        "yolo11n-pose.",
    ),
    video_delay: float = typer.Option(
        0.0,
        "--video-delay",
        help="Seconds from the camera's capture to the frame's arrival here; positions are "
        "looked up that much earlier.",
    ),
    vehicle_id: str = typer.Option("drone-1", "--vehicle-id", help="The drone's name in alerts."),
    ready_timeout: float = typer.Option(
        120.0, "--ready-timeout", help="Seconds to wait for GPS fix, EKF position and home."
    ),
    docked: DockedOpt = False,
    charge_timeout: ChargeTimeoutOpt = 90.0,
    json_out: bool = typer.Option(False, "--json", help="Print the final report as JSON."),
) -> None:
    """Patrol a key water: plan, upload, fly every sortie, detect, alert dispatch, report.

    No sortie launches on a battery that cannot fly it plus the key water's
    reserve; between sorties the operator confirms a swap (or --docked waits
    for the dock to charge the vehicle).

    While it flies, one status line shows the sortie, waypoint, mode, battery, video
    rate, open incidents and alerts. Every incident (person in the water, distress,
    gathering) goes to the outbox and is delivered as a signed webhook. The report
    (Markdown, JSON, PNG map) is written into OUT/<mission id>/. Exit codes: 0 done;
    1 error; 3 a sortie ended early; 4 link lost; 5 alerts still undelivered; 130 Ctrl-C.
    """
    import geofences
    from mission.cli import emit_json
    from mission.fly_cli import swap_between_sorties
    from mission.link.job import endurance_of
    from mission.patrol import Patrol, PatrolError, PatrolOptions, new_mission_id
    from mission.patrol_report import report_dict, write_report
    from mission.planner import plan as make_plan
    from mission.status_report import patrol_report, start_reporting
    from station.config import Endpoint, default_outbox_path
    from station.errors import ConfigError

    kw = geofences.load(file)
    plan = make_plan(kw, pattern)
    try:
        endpoints = tuple(Endpoint(url=u, format=fmt, secret_env=secret_env) for u in dispatch)
    except ConfigError as exc:
        raise PatrolError(f"--dispatch/--format/--secret-env: {exc}") from None
    mission_id = new_mission_id(kw.id)
    run_dir = out / mission_id
    options = PatrolOptions(
        connect=connect,
        source=source,
        endpoints=endpoints,
        out_dir=run_dir,
        outbox=outbox or default_outbox_path(),
        mission_id=mission_id,
        vehicle_id=vehicle_id,
        pattern=pattern,
        model=str(model) if model else None,
        video_delay_s=video_delay,
        ready_timeout_s=ready_timeout,
    )
    view = StatusView(json_out)
    before_sortie = swap_between_sorties(
        plan.sorties,
        endurance_of(kw.vehicle),
        docked=docked,
        charge_timeout_s=charge_timeout * 60.0,
        interactive=not json_out and sys.stdin.isatty(),
        say=view.line,
    )

    runner = Patrol(kw, options, plan=plan, before_sortie=before_sortie, on_line=view.line)
    view.start(runner)
    reporter = start_reporting(endpoints, lambda: patrol_report(runner))  # the station's map
    try:
        result = runner.run()
    finally:
        view.stop()
        if reporter is not None:
            reporter.stop()
    report = write_report(result, kw, plan, run_dir)
    if json_out:
        emit_json({**report_dict(result), "report": {k: str(v) for k, v in report.items()}})
    else:
        for line in summary_lines(result, report):
            typer.echo(line)
    code = exit_code(result)
    if code:
        raise typer.Exit(code)
