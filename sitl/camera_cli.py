"""``waterpatrol sitl camera`` and ``waterpatrol sitl scene``: the synthetic aerial camera.

``camera`` follows a vehicle's telemetry over MAVLink and streams what its
camera would see over the key water as H.264 MPEG-TS on UDP; ``scene`` shows
the people the camera would find there (and can render a picture of each).
Heavy imports (cv2, pymavlink, shapely) stay inside the commands.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="The synthetic aerial camera over a key water.", no_args_is_help=True)

_FILE = typer.Argument(
    ..., help="Key-water file (YAML or GeoJSON), e.g. geofences/samples/gqc-lake.yaml"
)
_SEED = typer.Option(0, help="Places the people: the same seed gives the same scene")
_SWIMMERS = typer.Option(
    "auto",
    help="How people in the water look: real (swimmers cut out of the train split of "
    "../shared/data/aerial-people), composed (upright photographed people) or auto "
    "(real when that data is there, else composed)",
)


def _swimmer_look(text: str) -> str:
    from sitl.camera.swimmers import LOOKS

    if text not in LOOKS:
        raise typer.BadParameter(
            f"{text!r}: choose one of {', '.join(LOOKS)}", param_hint="--swimmers"
        )
    return text


def _size(text: str | None) -> tuple[int, int] | None:
    from sitl.camera.errors import StreamError

    if not text:
        return None
    w, _, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = (0, 0)
    if not (16 <= size[0] <= 7680 and 16 <= size[1] <= 4320):
        raise StreamError(
            f"--size {text!r}: give WIDTHxHEIGHT, e.g. 1280x720 (16..7680 x 16..4320)"
        )
    return size


@app.command("camera")
def camera(
    file: Path = _FILE,
    connect: str = typer.Option(
        ..., help="MAVLink telemetry of the vehicle to follow, e.g. tcp:127.0.0.1:5762"
    ),
    udp: str = typer.Option("127.0.0.1:5600", help="Where to stream: HOST:PORT (MPEG-TS over UDP)"),
    fps: float = typer.Option(10.0, help="Frames per second"),
    seed: int = _SEED,
    size: str = typer.Option("", help="Frame size WIDTHxHEIGHT (default: the key water's camera)"),
    duration: float = typer.Option(0.0, help="Stop after this many seconds (0: until Ctrl-C)"),
    truth: Path = typer.Option(
        None, help="Write each frame's ground truth (who is where) to this JSON Lines file"
    ),
    json_out: bool = typer.Option(False, "--json", help="Print one JSON document when it stops"),
    swimmers: str = _SWIMMERS,
) -> None:
    """Stream what a vehicle's camera would see over FILE, following its telemetry.

    The scene is FILE's water with swimmers (one waving), a group on the shore
    and walkers on land, placed from --seed; --swimmers real draws the people in
    the water from real drone footage (heads, shoulders, arms, splashes). Watch it with
    a player (ffplay, VLC: udp://127.0.0.1:5600) or detect on it with
    `waterpatrol detect udp://127.0.0.1:5600 --telemetry ...`.
    """
    import geofences
    from detection.pose import MavlinkPoseFeed, PoseBuffer
    from sitl.camera import SyntheticCamera, UdpCameraStream, build_scene, parse_udp

    look = _swimmer_look(swimmers)
    host, port = parse_udp(udp)
    frame_size = _size(size)
    kw = geofences.load(file)
    scene = build_scene(kw, seed, swimmer_look=look)
    buffer = PoseBuffer()
    feed = MavlinkPoseFeed(connect, buffer).start()
    cam = SyntheticCamera(scene, kw.patrol.camera, buffer.at, size=frame_size, truth_log=truth)
    stream = UdpCameraStream(cam, port, fps=fps, host=host)
    w, h = cam.size
    if not json_out:
        typer.echo(
            f"camera over {kw.id} ({len(scene.people)} people, {scene.swimmers} swimmers, "
            f"seed {seed}) following {connect}: "
            f"streaming {stream.url} at {fps:g} fps, {w}x{h}; Ctrl-C to stop"
        )
    stopped = "duration"
    try:
        stream.start()
        end = time.monotonic() + duration if duration > 0 else None
        while end is None or time.monotonic() < end:
            time.sleep(0.2)
            stream.check()
    except KeyboardInterrupt:
        stopped = "interrupted"
    finally:
        stream.stop()
        feed.stop()
        cam.close()
    stats = stream.stats
    summary: dict[str, Any] = {
        "url": stream.url,
        "connect": connect,
        "key_water": kw.id,
        "size": [w, h],
        "fps_asked": fps,
        "fps": round(stats.fps, 2),
        "frames_sent": stats.frames_sent,
        "ticks_skipped": stats.ticks_skipped,
        "mean_render_ms": round(stats.mean_render_ms, 1),
        "telemetry_messages": feed.messages,
        "stopped": stopped,
        "first_seen": {k: round(v, 3) for k, v in cam.first_seen.items()},
        "scene": scene.to_json(),
        "truth_log": str(truth) if truth else None,
    }
    if json_out:
        typer.echo(json.dumps(summary, indent=2))
    else:
        typer.echo(
            f"sent {stats.frames_sent} frames ({stats.fps:.1f} fps, {stats.ticks_skipped} skipped, "
            f"render {stats.mean_render_ms:.0f} ms); in view: "
            + (", ".join(sorted(cam.first_seen)) or "nobody")
        )


@app.command("scene")
def scene(
    file: Path = _FILE,
    seed: int = _SEED,
    pictures: Path = typer.Option(
        None, help="Folder to write a PNG of each person seen from the patrol altitude"
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the scene as one JSON document"),
    swimmers: str = _SWIMMERS,
) -> None:
    """List the people the synthetic camera places around FILE: who, where, in the water or not."""
    import geofences
    from sitl.camera import build_scene

    look = _swimmer_look(swimmers)
    kw = geofences.load(file)
    sc = build_scene(kw, seed, swimmer_look=look)
    written = _pictures(sc, kw, pictures) if pictures else []
    doc = sc.to_json() | {"pictures": written}
    if json_out:
        typer.echo(json.dumps(doc, indent=2))
        return
    typer.echo(f"{kw.id}, seed {seed}: {len(sc.people)} people, {sc.swimmers} swimmers")
    for p in sc.people:
        where = "water" if p.in_water else "land"
        typer.echo(f"  {p.id:<10} {p.kind:<15} {p.lat:.7f},{p.lon:.7f}  {where}")
    for path in written:
        typer.echo(f"wrote {path}")


def _pictures(sc: Any, kw: Any, folder: Path) -> list[str]:
    import cv2

    from detection.pose import Pose
    from sitl.camera import render
    from sitl.camera.errors import SceneError

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SceneError(f"cannot create {folder}: {exc.strerror}") from exc
    out = []
    for p in sc.people:
        pose = Pose(t=0.0, lat=p.lat, lon=p.lon, alt_m=kw.patrol.altitude_m)
        path = folder / f"{p.id}.png"
        if not cv2.imwrite(str(path), render(sc, kw.patrol.camera, pose).image):
            raise SceneError(f"cannot write {path}")
        out.append(str(path))
    return out
