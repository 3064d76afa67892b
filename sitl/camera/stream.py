"""The synthetic camera running in time: frames at a rate, from a pose callback, as a stream.

- ``SyntheticCamera`` renders the scene from the pose the callback gives for
  the capture time (the vehicle's telemetry: ``detection.pose.PoseBuffer.at``,
  or any ``t -> Pose | None``), stamps the frame with that time, remembers
  when each person first came into view, and can log the ground truth of every
  frame (JSON Lines).
- ``frames`` is the in-process iterator: captured frames at ``fps`` (or as fast
  as they render), each with its capture timestamp.
- ``SyntheticCameraSource`` is a ``detection.sources.FrameSource``: the
  detection pipeline reads the camera in-process, as it reads any live source.
- ``UdpCameraStream`` publishes the frames as a real stream: raw BGR frames
  piped into the FFmpeg of imageio-ffmpeg (``detection.sources.StreamPublisher``),
  H.264 in MPEG-TS over UDP to 127.0.0.1, at ``fps`` on its own thread. Ticks it
  cannot keep up with are skipped, never queued.

Until the callback knows a pose (no telemetry yet) the camera sends plain dark
frames, so the stream is up before the vehicle is. On the ground the camera is
taken to be ``MIN_ALT_M`` above the water.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from detection.pose import Pose
from detection.types import Frame
from geofences.camera import Camera
from sitl.camera.errors import StreamError
from sitl.camera.render import Assets, VisiblePerson, default_assets, render
from sitl.camera.scene import Scene

PoseCallback = Callable[[float], "Pose | None"]
MIN_ALT_M = 1.0  # a camera on a landed drone, above the water's level
IN_VIEW_FRACTION = 0.5  # a person has "come into view" once this much of them is in the frame
NO_POSE_BGR = 40


@dataclass(frozen=True)
class CapturedFrame:
    frame: Frame  # image, capture time (UNIX s), index, source name
    people: tuple[VisiblePerson, ...]  # ground truth: who is in it where
    pose: Pose | None  # None: no telemetry at that time (a plain dark frame)


class SyntheticCamera:
    """Renders ``scene`` from the poses ``poses(t)`` gives; thread-safe ``capture``."""

    def __init__(
        self,
        scene: Scene,
        camera: Camera,
        poses: PoseCallback,
        *,
        size: tuple[int, int] | None = None,
        assets: Assets | None = None,
        truth_log: str | Path | None = None,
        name: str = "",
    ) -> None:
        self.scene = scene
        self.camera = camera
        self.poses = poses
        self.size = size or (camera.image_width_px, camera.image_height_px)
        self.assets = assets or default_assets()
        self.name = name or f"synthetic:{scene.key_water_id}"
        self.first_seen: dict[str, float] = {}  # person id -> capture time first in view
        self.frames_captured = 0
        self.render_s_total = 0.0
        self._lock = threading.Lock()
        self._log: IO[str] | None = None
        if truth_log is not None:
            try:
                self._log = open(truth_log, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())
            except OSError as exc:
                raise StreamError(
                    f"cannot write the truth log {truth_log}: {exc.strerror}"
                ) from exc

    def capture(self, t: float | None = None) -> CapturedFrame:
        """The frame at time ``t`` (UNIX s; now by default)."""
        with self._lock:
            t = time.time() if t is None else t
            pose = self.poses(t)
            t0 = time.perf_counter()
            if pose is None:
                w, h = self.size
                image = np.full((h, w, 3), NO_POSE_BGR, np.uint8)
                people: tuple[VisiblePerson, ...] = ()
            else:
                if pose.alt_m < MIN_ALT_M:
                    pose = replace(pose, alt_m=MIN_ALT_M)
                rendered = render(self.scene, self.camera, pose, size=self.size, assets=self.assets)
                image, people = rendered.image, rendered.people
            self.render_s_total += time.perf_counter() - t0
            index = self.frames_captured
            self.frames_captured += 1
            for p in people:
                if p.visible_fraction >= IN_VIEW_FRACTION:
                    self.first_seen.setdefault(p.id, t)
            if self._log is not None:
                self._log.write(json.dumps(_log_line(t, index, pose, people)) + "\n")
            return CapturedFrame(Frame(image, t, index, self.name), people, pose)

    @property
    def mean_render_ms(self) -> float:
        return 1000.0 * self.render_s_total / max(1, self.frames_captured)

    def close(self) -> None:
        with self._lock:
            if self._log is not None:
                self._log.close()
                self._log = None

    def __enter__(self) -> SyntheticCamera:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _log_line(
    t: float, index: int, pose: Pose | None, people: tuple[VisiblePerson, ...]
) -> dict[str, Any]:
    line: dict[str, Any] = {"t": round(t, 3), "index": index, "pose": None}
    if pose is not None:
        line["pose"] = {
            "lat": round(pose.lat, 8),
            "lon": round(pose.lon, 8),
            "alt_m": round(pose.alt_m, 2),
            "yaw_deg": round(pose.yaw_deg, 1),
        }
    line["people"] = [p.to_json() for p in people]
    return line


def frames(
    camera: SyntheticCamera,
    fps: float | None = None,
    *,
    count: int | None = None,
    duration_s: float | None = None,
) -> Iterator[CapturedFrame]:
    """Captured frames, ``1/fps`` apart in time (as fast as they render when ``fps`` is None).

    Stops after ``count`` frames or ``duration_s`` seconds; one of them is required.
    """
    if count is None and duration_s is None:
        raise StreamError("frames() needs count= or duration_s=: an endless loop is a hang")
    if fps is not None and not fps > 0:
        raise StreamError(f"fps={fps} must be positive")
    start = time.monotonic()
    n = 0
    while (count is None or n < count) and (
        duration_s is None or time.monotonic() - start < duration_s
    ):
        if fps is not None:
            delay = start + n / fps - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        yield camera.capture()
        n += 1


class SyntheticCameraSource:
    """The camera as a live ``FrameSource`` for ``detection.sources.FrameReader``.

    ``read`` waits for the next tick of ``fps`` (wall clock) and renders it.
    """

    live = True

    def __init__(self, camera: SyntheticCamera, fps: float = 10.0) -> None:
        if not fps > 0:
            raise StreamError(f"fps={fps} must be positive")
        self.camera = camera
        self.fps = fps
        self.name = camera.name
        self.last: CapturedFrame | None = None
        self._next = 0.0
        self._interrupted = threading.Event()

    def open(self) -> None:
        self._interrupted.clear()
        self._next = time.monotonic()

    def read(self, timeout_s: float) -> Frame | None:
        delay = self._next - time.monotonic()
        if delay > timeout_s:
            raise _source_error(f"{self.name}: no frame within {timeout_s:g} s")
        if delay > 0 and self._interrupted.wait(delay):
            raise _source_error(f"{self.name}: interrupted")
        if self._interrupted.is_set():
            raise _source_error(f"{self.name}: interrupted")
        self._next = max(self._next + 1.0 / self.fps, time.monotonic())
        self.last = self.camera.capture()
        return self.last.frame

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        self.interrupt()


def _source_error(message: str) -> Exception:
    from detection.errors import SourceError  # what FrameReader handles

    return SourceError(message)


def parse_udp(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``PORT`` (host 127.0.0.1) -> (host, port)."""
    host, _, port_text = text.rpartition(":")
    host = host or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise StreamError(f"--udp {text!r}: give HOST:PORT or PORT, e.g. 127.0.0.1:5600")
    return host, port


@dataclass(frozen=True)
class StreamStats:
    frames_sent: int
    ticks_skipped: int  # frames not rendered because the last one was late
    mean_render_ms: float
    fps: float  # achieved, over the whole run
    running: bool


class UdpCameraStream:
    """Streams a SyntheticCamera as H.264 MPEG-TS over UDP at ``fps``, on a thread."""

    def __init__(
        self, camera: SyntheticCamera, port: int, *, fps: float = 10.0, host: str = "127.0.0.1"
    ) -> None:
        if not 0 < port < 65536:
            raise StreamError(f"UDP port {port} is not usable; give 1..65535")
        if not 0 < fps <= 60:
            raise StreamError(f"fps={fps} must be in (0, 60]")
        from detection.sources import StreamPublisher

        self.camera = camera
        self.fps = fps
        self._publisher = StreamPublisher(port, camera.size, fps=fps, host=host)
        self.url = self._publisher.url
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: StreamError | None = None
        self._sent = 0
        self._skipped = 0
        self._started = 0.0

    def start(self) -> UdpCameraStream:
        from detection.errors import SourceError

        try:
            self._publisher.start()
        except (SourceError, OSError) as exc:
            raise StreamError(f"cannot start the encoder for {self.url}: {exc}") from exc
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="camera-stream", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        from detection.errors import SourceError

        period = 1.0 / self.fps
        next_t = time.monotonic()
        while not self._stop.is_set():
            delay = next_t - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            try:
                self._publisher.send(self.camera.capture().frame.image)
            except SourceError as exc:
                self._error = StreamError(f"camera stream {self.url} died: {exc}")
                return
            except Exception as exc:  # a render bug must not leave a silent, frozen stream
                self._error = StreamError(f"camera stream {self.url} failed: {exc!r}")
                return
            self._sent += 1
            next_t += period
            late = time.monotonic() - next_t
            if late > 0:  # skip the ticks we missed rather than queue them
                missed = int(late / period) + 1
                self._skipped += missed
                next_t += missed * period

    def check(self) -> None:
        """Raise the StreamError that stopped the stream, if one did."""
        if self._error is not None:
            raise self._error

    @property
    def stats(self) -> StreamStats:
        elapsed = max(1e-9, time.monotonic() - self._started) if self._started else 1e-9
        running = self._thread is not None and self._thread.is_alive()
        return StreamStats(
            self._sent, self._skipped, self.camera.mean_render_ms, self._sent / elapsed, running
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self._publisher.stop()

    def __enter__(self) -> UdpCameraStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
