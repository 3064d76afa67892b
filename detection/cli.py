"""``waterpatrol detect``: watch a video source, print incidents as they open, update, close.

Mounted by the root CLI as a single command (``detection.cli.detect``);
``app`` wraps it for direct use and tests. Heavy imports (cv2, torch,
ultralytics, pymavlink) happen inside the command.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import typer

from detection.errors import DetectionError

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


def _parse_pose(text: str) -> Any:
    from detection.pose import Pose

    try:
        parts = [float(p) for p in text.split(",")]
    except ValueError:
        parts = []
    if not 3 <= len(parts) <= 5:
        raise DetectionError(
            f"--pose {text!r}: give LAT,LON,ALT_M[,YAW_DEG[,GIMBAL_PITCH_DEG]] "
            "(e.g. 29.2335,115.7795,30,0,-60)"
        )
    lat, lon, alt = parts[:3]
    yaw = parts[3] if len(parts) > 3 else 0.0
    pitch = parts[4] if len(parts) > 4 else -90.0
    if alt <= 0:
        raise DetectionError(f"--pose {text!r}: the height above the water must be > 0")
    return Pose(t=0.0, lat=lat, lon=lon, alt_m=alt, yaw_deg=yaw, gimbal_pitch_deg=pitch)


def _line(event: Any) -> str:
    from detection.incidents import Incident
    from detection.pipeline import Status

    if isinstance(event, Incident):
        where = (
            f"{event.lat:.6f},{event.lon:.6f} ±{event.uncertainty_m:.1f} m"
            if event.lat is not None and event.uncertainty_m is not None
            else "position unknown"
        )
        tracks = ",".join(str(t) for t in event.track_ids) or "-"
        return (
            f"{event.status.upper():7s} {event.id} {event.type} {event.severity} {where} "
            f"people={event.people} tracks={tracks} conf={event.confidence:.2f} "
            f"frame={event.evidence_frame} ({event.reason})"
        )
    if isinstance(event, Status):
        latency = f"latency {event.latency_s:.2f} s" if event.latency_s is not None else "file"
        return (
            f"status  {event.fps:.1f} fps (source {event.source_fps:.1f})  "
            f"dropped {event.dropped}  reconnects {event.reconnects}  "
            f"detect {event.detect_ms:.0f} ms  {latency}  "
            f"people {event.people} (placed {event.placed})  open {event.open_incidents}"
        )
    return f"source  {event.kind}: {event.message}"


def _record(event: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from detection.incidents import Incident
    from detection.pipeline import Status

    kind = (
        "incident"
        if isinstance(event, Incident)
        else "status"
        if isinstance(event, Status)
        else "source"
    )
    return {"event": kind, **asdict(event)}


class _Output:
    """Where a run's frames go besides the event lines: evidence files, a window."""

    def __init__(self, save: Path | None, show: bool) -> None:
        self.save = save
        self.show = show
        self.pipeline: Any = None  # set once built: an incident's evidence frame may be past
        if show and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise DetectionError("--show needs a display (DISPLAY is not set); use --save DIR")
        if save is not None:
            try:
                save.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DetectionError(f"--save {save}: cannot create the folder ({exc})") from exc

    def __call__(self, result: Any) -> None:
        import cv2

        from detection.evidence import incident_evidence, render_evidence

        for inc in result.incidents:
            if self.save is not None and inc.status in ("open", "update"):
                shown = (self.pipeline and self.pipeline.result_for(inc.evidence_frame)) or result
                name, jpeg = incident_evidence(inc, shown.frame.image, shown.detections)
                path = self.save / name
                try:
                    path.write_bytes(jpeg)
                except OSError as exc:
                    raise DetectionError(f"--save: cannot write {path} ({exc})") from exc
        if self.show:
            title = f"frame {result.frame.index}, {len(result.detections)} people"
            image = render_evidence(
                result.frame.image, result.detections, incident_id="live", title=title
            )
            cv2.imshow("waterpatrol detect", image)
            cv2.waitKey(1)


@app.command("detect")
def detect(
    source: str = typer.Argument(
        ..., help="Video file, image folder, camera index, or stream URL (rtsp/udp/http/srt...)."
    ),
    telemetry: str | None = typer.Option(
        None,
        "--telemetry",
        help="Vehicle pose: a MAVLink URL (udpin:127.0.0.1:14551, tcp:HOST:PORT) or a sidecar "
        "telemetry file (.jsonl/.csv; format in detection/pose.py).",
    ),
    pose: str | None = typer.Option(
        None,
        "--pose",
        help="A camera that does not move: LAT,LON,ALT_M[,YAW_DEG[,GIMBAL_PITCH_DEG]].",
    ),
    area: Path | None = typer.Option(
        None, "--area", help="Key-water file: water polygon, hotspots, camera and rule thresholds."
    ),
    model: Path | None = typer.Option(
        None,
        "--model",
        help="Ultralytics model file (.pt, .onnx, OpenVINO folder), or 'aerial' for the "
        "detector trained on real drone footage of swimmers (two stages with the pose "
        "model); default yolo11n-pose.",
    ),
    tiling: str = typer.Option(
        "auto", "--tiling", help="Tiled inference for small people: auto|on|off."
    ),
    conf: float | None = typer.Option(
        None,
        "--conf",
        min=0.0,
        max=1.0,
        help="Detector confidence threshold (default: the model's own, 0.25 for a pose "
        "model, 0.4 for the aerial detector).",
    ),
    camera: str | None = typer.Option(
        None, "--camera", help="Camera preset when the key water names none (see geofences.camera)."
    ),
    show: bool = typer.Option(False, "--show", help="Show the annotated video in a window."),
    save: Path | None = typer.Option(
        None, "--save", help="Write an evidence JPEG per incident open/update into DIR."
    ),
    max_frames: int | None = typer.Option(
        None, "--max-frames", help="Stop after N processed frames."
    ),
    duration: float | None = typer.Option(None, "--duration", help="Stop after S seconds."),
    start_time: float | None = typer.Option(
        None,
        "--start-time",
        help="UNIX time of a video file's first frame (for sidecar telemetry).",
    ),
    fps: float = typer.Option(1.0, "--fps", help="Frame rate of an image folder."),
    status_every: float = typer.Option(2.0, "--status-every", help="Seconds between status lines."),
    water_level: float = typer.Option(
        0.0, "--water-level", help="Water surface height above the vehicle's home (MAVLink feed)."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="One JSON object per event line (JSON Lines)."
    ),
) -> None:
    """Detect people in SOURCE and report person-in-water, distress and gathering incidents."""
    from detection.pipeline import Pipeline
    from detection.sources import FrameReader, open_source
    from geofences.camera import DEFAULT_PRESET, PRESETS

    if show and save is not None:
        raise DetectionError("give --show or --save DIR, not both")
    if telemetry and pose:
        raise DetectionError("give --telemetry or --pose, not both")
    if camera is not None and camera not in PRESETS:
        raise DetectionError(f"--camera {camera!r}: choose one of {', '.join(PRESETS)}")
    if fps <= 0 or status_every <= 0:
        raise DetectionError("--fps and --status-every must be positive")

    def emit(event: Any) -> None:
        typer.echo(json.dumps(_record(event), default=str) if json_out else _line(event))

    keywater = None
    if area is not None:
        import geofences

        keywater = geofences.load(area)
    cam = PRESETS[camera] if camera else (keywater.patrol.camera if keywater else None)
    fixed = _parse_pose(pose) if pose is not None else None
    # expected person height for the tiling: from the fixed camera's height, else the patrol's
    alt = fixed.alt_m if fixed else (keywater.patrol.altitude_m if keywater else None)
    person_px = (cam or PRESETS[DEFAULT_PRESET]).person_height_px(alt) if alt else None

    src = open_source(source, start_time=start_time, fps=fps)
    provider, feed = _pose_provider(telemetry, fixed, src, water_level)
    output = _Output(save, show)
    if provider is None:
        typer.echo(
            "no --telemetry/--pose: nobody can be placed; only arms-raised distress", err=True
        )
    elif keywater is None:
        typer.echo("no --area: person_in_water is off, gatherings are low", err=True)
    try:
        from detection.detector import Detector

        with (
            Detector(model=model, tiling=tiling, person_px=person_px, conf=conf) as detector,
            FrameReader(src) as reader,
        ):
            pipe = Pipeline(detector, keywater=keywater, camera=cam, pose=provider)
            output.pipeline = pipe
            for event in pipe.run(
                reader,
                max_frames=max_frames,
                duration_s=duration,
                status_every_s=status_every,
                on_result=output if (save or show) else None,
            ):
                emit(event)
    finally:
        if feed is not None:
            feed.stop()


def _pose_provider(telemetry: str | None, fixed: Any, src: Any, water_level: float) -> Any:
    """(provider, feed to stop) from --telemetry / --pose."""
    from detection.pose import (
        MavlinkPoseFeed,
        PoseBuffer,
        read_sidecar,
        sidecar_provider,
        static_pose,
    )

    if fixed is not None:
        return static_pose(fixed), None
    if telemetry is None:
        return None, None
    path = Path(telemetry)
    if path.is_file():
        if not src.live:
            src.open()  # a video file's start time is known once it is open
        start = getattr(src, "start_time", None)
        return sidecar_provider(read_sidecar(path, video_start=start)), None
    if path.suffix.lower() in (".jsonl", ".json", ".csv"):
        raise DetectionError(f"--telemetry {telemetry}: no such telemetry file")
    buf = PoseBuffer()
    feed = MavlinkPoseFeed(telemetry, buf, water_level_m=water_level).start()
    return buf.at, feed
