"""Frame sources: video files, image folders, FFmpeg streams, cameras; and the reader thread.

``open_source(spec)`` picks the source from the spec:

- ``rtsp://``, ``rtsps://``, ``udp://``, ``tcp://``, ``srt://``, ``rtmp://``, ``http(s)://``:
  a live stream decoded by the FFmpeg binary shipped in the ``imageio-ffmpeg`` wheel,
  piping raw BGR frames (no system FFmpeg needed);
- a number (``0``): a local camera through OpenCV;
- a folder: its images in name order;
- anything else: a video file through OpenCV.

``FrameReader`` runs a source on a thread. For a live source it keeps only the
newest frame, so the detector never falls behind (frames overwritten unread are
counted as dropped), and it reconnects a dead or stalled stream with backoff,
reporting each step as a ``SourceEvent``. A file or folder is handed over
frame by frame, none dropped. Every frame carries its capture time on the
``time.time()`` clock: arrival time for live sources, start time plus the
frame's timestamp for files.

``StreamPublisher`` is the other end: it encodes frames to an MPEG-TS stream
over UDP (tests, benchmarks, and a simulated camera).
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import select
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from detection.errors import SourceError
from detection.types import Frame

STREAM_SCHEMES = (
    "rtsp://",
    "rtsps://",
    "udp://",
    "tcp://",
    "srt://",
    "rtmp://",
    "http://",
    "https://",
)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

EventKind = Literal["connected", "stalled", "reconnecting", "recovered", "ended", "failed"]


@dataclass(frozen=True)
class SourceEvent:
    """Something that happened to a source: reported, never silent."""

    kind: EventKind
    source: str
    message: str
    t: float


@dataclass(frozen=True)
class ReaderStats:
    frames_read: int  # decoded from the source
    frames_delivered: int  # handed to the consumer
    dropped: int  # overwritten before the consumer took them (live sources)
    reconnects: int
    source_fps: float  # decode rate over the last few seconds


class FrameSource(Protocol):
    name: str
    live: bool  # a live stream or camera (latest frame wins) rather than a file

    def open(self) -> None: ...

    def read(self, timeout_s: float) -> Frame | None:
        """The next frame; None at the end of a file. Raises SourceError when the
        stream has stalled for ``timeout_s`` or died."""
        ...

    def interrupt(self) -> None:
        """Make a ``read`` blocked in another thread return soon (with SourceError); the
        source is being closed for good."""
        ...

    def close(self) -> None: ...


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise SourceError(
            f"no FFmpeg binary for streams ({exc}); install the imageio-ffmpeg package"
        ) from exc


# -- files, folders, cameras ----------------------------------------------------------------


class VideoFileSource:
    """A video file decoded by OpenCV; frames stamped ``start_time`` + their timestamp."""

    live = False

    def __init__(self, path: str | Path, *, start_time: float | None = None) -> None:
        self.path = Path(path)
        self.name = str(path)
        self.start_time = start_time
        self._cap = None
        self._index = 0

    def open(self) -> None:
        import cv2

        if self._cap is not None:  # already open (its start time was needed early)
            return
        if not self.path.is_file():
            raise SourceError(f"{self.path}: no such video file (or give a stream URL / folder)")
        cap = cv2.VideoCapture(str(self.path))
        ok, _ = cap.read() if cap.isOpened() else (False, None)
        if not ok:
            cap.release()
            raise SourceError(f"{self.path}: not a video OpenCV/FFmpeg can decode")
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
        if self.start_time is None:  # unknown: assume the recording ended when it was last written
            frames = cap.get(cv2.CAP_PROP_FRAME_COUNT)
            fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
            self.start_time = self.path.stat().st_mtime - max(frames, 0.0) / fps
        self._cap = cap

    def read(self, timeout_s: float) -> Frame | None:
        import cv2

        if self._cap is None:
            raise SourceError(f"{self.name}: read before open")
        ok, image = self._cap.read()
        if not ok:
            return None
        pts_s = self._cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
        frame = Frame(image, self.start_time + pts_s, self._index, self.name)
        self._index += 1
        return frame

    def interrupt(self) -> None:  # a read decodes one frame
        pass

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource:
    """The images of a folder in name order, ``1 / fps`` seconds apart from ``start_time``."""

    live = False

    def __init__(self, path: str | Path, *, start_time: float | None = None, fps: float = 1.0):
        self.path = Path(path)
        self.name = str(path)
        self.start_time = time.time() if start_time is None else start_time
        self.fps = fps
        self._files: list[Path] = []
        self._index = 0

    def open(self) -> None:
        if self._files:
            return
        self._files = sorted(
            p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self._files:
            raise SourceError(f"{self.path}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")

    def read(self, timeout_s: float) -> Frame | None:
        import cv2

        if self._index >= len(self._files):
            return None
        path = self._files[self._index]
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(f"{path}: not an image OpenCV can read; remove it from the folder")
        frame = Frame(image, self.start_time + self._index / self.fps, self._index, str(path))
        self._index += 1
        return frame

    def interrupt(self) -> None:  # a read is one image file
        pass

    def close(self) -> None:
        self._files = []


class CameraSource:
    """A local camera by index (OpenCV)."""

    live = True

    def __init__(self, index: int) -> None:
        self.index = index
        self.name = f"camera {index}"
        self._cap = None
        self._count = 0

    def open(self) -> None:
        import cv2

        cap = cv2.VideoCapture(self.index)
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"camera {self.index} cannot be opened: is it connected and free?")
        self._cap = cap

    def read(self, timeout_s: float) -> Frame | None:
        if self._cap is None:
            raise SourceError(f"{self.name}: read before open")
        ok, image = self._cap.read()
        if not ok:
            raise SourceError(f"{self.name}: no frame (camera unplugged?)")
        self._count += 1
        return Frame(image, time.time(), self._count - 1, self.name)

    def interrupt(self) -> None:  # a read takes one frame interval at most
        pass

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


# -- FFmpeg streams -------------------------------------------------------------------------

_POLL_S = 0.1  # how often a blocked stream read looks up (interrupt, FFmpeg gone, deadline)
_OUTPUT_SIZE = re.compile(r"Stream #0:\d+.*: Video: rawvideo.*?\b(\d{2,5})x(\d{2,5})\b")


class FfmpegStreamSource:
    """A live stream decoded by an FFmpeg subprocess that pipes raw BGR frames.

    Low-latency demuxing (no input buffering, a short probe) so a frame
    reaches the reader about a tenth of a second after it was sent.
    """

    live = True

    def __init__(self, url: str, *, rtsp_transport: str = "tcp") -> None:
        self.url = url
        self.name = url
        self.rtsp_transport = rtsp_transport
        self._proc: subprocess.Popen[bytes] | None = None
        self._size: tuple[int, int] | None = None
        self._size_ready = threading.Event()
        self._log: collections.deque[str] = collections.deque(maxlen=12)
        self._frame: np.ndarray | None = None  # the frame being read, filled up to _filled
        self._filled = 0
        self._count = 0
        self._interrupted = threading.Event()
        # open() on the reader thread (a reconnect) and close() from the owner must not
        # interleave: a process started after close() took the old one would outlive it
        self._lock = threading.RLock()

    def _command(self) -> list[str]:
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]
        cmd += ["-fflags", "nobuffer", "-flags", "low_delay"]
        cmd += ["-probesize", "65536", "-analyzeduration", "500000"]
        url = self.url
        if url.startswith(("rtsp://", "rtsps://")):
            cmd += ["-rtsp_transport", self.rtsp_transport]
        elif url.startswith("udp://") and "?" not in url:
            url += "?overrun_nonfatal=1&fifo_size=100000"
        cmd += ["-i", url, "-an", "-sn", "-fps_mode", "passthrough"]
        return [*cmd, "-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]

    def open(self) -> None:
        """Start FFmpeg (again). Refused once ``interrupt()`` was called: the owner is
        closing the source, and a reconnect must not start a process behind its back."""
        with self._lock:
            if self._interrupted.is_set():
                raise SourceError(f"{self.name}: interrupted")
            self.close()
            self._size = None
            self._size_ready.clear()
            self._frame, self._filled = None, 0
            self._log.clear()
            try:
                self._proc = subprocess.Popen(
                    self._command(),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            except OSError as exc:
                raise SourceError(f"cannot start FFmpeg for {self.url}: {exc}") from exc
            threading.Thread(target=self._read_log, args=(self._proc,), daemon=True).start()

    def _read_log(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stderr is not None
        output_seen = False
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            output_seen = output_seen or line.startswith("Output #0")
            if proc is not self._proc:  # a process being replaced: its words no longer count
                continue
            if output_seen and self._size is None and (m := _OUTPUT_SIZE.search(line)):
                self._size = (int(m.group(1)), int(m.group(2)))
                self._size_ready.set()
            elif line and not line.startswith(" "):
                self._log.append(line)

    def _why(self) -> str:
        return "; ".join(list(self._log)[-3:]) or "no message from FFmpeg"

    def read(self, timeout_s: float) -> Frame | None:
        proc = self._proc
        if proc is None or proc.stdout is None:
            raise SourceError(f"{self.name}: read before open")
        deadline = time.monotonic() + timeout_s
        while not self._size_ready.wait(_POLL_S):  # waits in slices: see interrupt() and exits
            self._check_waiting(proc, deadline, f"no video within {timeout_s:g} s")
        assert self._size is not None
        w, h = self._size
        need = w * h * 3
        fd = proc.stdout.fileno()
        if self._frame is None or self._frame.size != need:
            self._frame, self._filled = np.empty(need, np.uint8), 0
        view = memoryview(self._frame)  # read straight into the frame: no copies
        while self._filled < need:
            ready, _, _ = select.select([fd], [], [], _POLL_S)
            if not ready:
                self._check_waiting(
                    proc, deadline, f"stream stalled (no frame for {timeout_s:g} s)"
                )
                continue
            got = os.readv(fd, [view[self._filled :]])
            if not got:
                proc.wait(timeout=1.0)
                raise SourceError(f"{self.name}: stream ended: {self._why()}")
            self._filled += got
        image = self._frame.reshape(h, w, 3)
        self._frame, self._filled = None, 0
        self._count += 1
        return Frame(image, time.time(), self._count - 1, self.name)

    def _check_waiting(self, proc: subprocess.Popen[bytes], deadline: float, late: str) -> None:
        if self._interrupted.is_set():
            raise SourceError(f"{self.name}: interrupted")
        if proc.poll() is not None:
            raise SourceError(f"{self.name}: FFmpeg exited: {self._why()}")
        if time.monotonic() >= deadline:
            raise SourceError(f"{self.name}: {late}")

    def interrupt(self) -> None:
        self._interrupted.set()

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


def open_source(spec: str, *, start_time: float | None = None, fps: float = 1.0) -> FrameSource:
    """The source for ``spec`` (see the module docstring); not opened yet.

    ``start_time`` (UNIX s) places a file's or folder's frames in time (for
    sidecar telemetry); ``fps`` spaces a folder's images.
    """
    if spec.startswith(STREAM_SCHEMES):
        return FfmpegStreamSource(spec)
    if spec.isdigit():
        return CameraSource(int(spec))
    path = Path(spec)
    if path.is_dir():
        return ImageFolderSource(path, start_time=start_time, fps=fps)
    if path.is_file():
        return VideoFileSource(path, start_time=start_time)
    raise SourceError(
        f"{spec!r} is not a file, folder, camera index or stream URL "
        f"({', '.join(s.rstrip(':/') for s in STREAM_SCHEMES)})"
    )


# -- the reader thread ----------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """Reconnect delays: ``initial_s``, doubling up to ``max_s``."""

    initial_s: float = 0.5
    factor: float = 2.0
    max_s: float = 8.0

    def delay(self, attempt: int) -> float:
        return min(self.max_s, self.initial_s * self.factor ** max(attempt - 1, 0))


class FrameReader:
    """Reads a source on a thread; live sources: newest frame only, reconnect with backoff.

    ``stall_s``: a live source with no frame for this long is restarted;
    ``connect_s``: the wait for the first frame after (re)opening one (probing
    a stream and waiting for a key frame take longer than a frame interval).
    ``give_up_s``: a live source that has produced no frame for this long
    (from the start, or since the last frame) fails for good with SourceError.
    """

    def __init__(
        self,
        source: FrameSource,
        *,
        stall_s: float = 3.0,
        connect_s: float = 5.0,
        backoff: Backoff = Backoff(),
        give_up_s: float = 60.0,
        queue_size: int = 2,
    ) -> None:
        self.source = source
        self.stall_s = stall_s
        self.connect_s = connect_s
        self.backoff = backoff
        self.give_up_s = give_up_s
        self._cond = threading.Condition()
        self._frames: collections.deque[Frame] = collections.deque()
        self._capacity = 1 if source.live else queue_size
        self._events: list[SourceEvent] = []
        self._stop = threading.Event()
        self._done = False
        self._error: SourceError | None = None
        self._read = self._delivered = self._dropped = self._reconnects = 0
        self._arrivals: collections.deque[float] = collections.deque(maxlen=60)
        self._thread: threading.Thread | None = None

    # consumer side

    def start(self) -> FrameReader:
        """Open the source (errors in the spec surface here) and start reading."""
        self.source.open()
        self._emit("connected", "opened")
        self._thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        self._thread.start()
        return self

    def next_frame(self, timeout_s: float) -> Frame | None:
        """The newest frame not yet handed over, waiting up to ``timeout_s``.

        None on timeout or when the source has ended (see ``finished``);
        raises SourceError once a live source has failed for good.
        """
        with self._cond:
            if not self._frames and not self._done:
                self._cond.wait_for(lambda: self._frames or self._done, timeout=timeout_s)
            if self._frames:
                self._delivered += 1
                frame = self._frames.popleft()
                self._cond.notify_all()
                return frame
            if self._error is not None:
                raise self._error
            return None

    @property
    def finished(self) -> bool:
        """The source has ended (a file) or failed, and every frame was handed over."""
        with self._cond:
            return self._done and not self._frames

    def events(self) -> list[SourceEvent]:
        """Events since the last call."""
        with self._cond:
            out, self._events = self._events, []
        return out

    @property
    def stats(self) -> ReaderStats:
        with self._cond:
            arr = list(self._arrivals)
            fps = (len(arr) - 1) / (arr[-1] - arr[0]) if len(arr) > 1 and arr[-1] > arr[0] else 0.0
            return ReaderStats(self._read, self._delivered, self._dropped, self._reconnects, fps)

    def close(self) -> None:
        self._stop.set()
        self.source.interrupt()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
        self.source.close()

    def __enter__(self) -> FrameReader:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # reader thread

    def _emit(self, kind: EventKind, message: str) -> None:
        with self._cond:
            self._events.append(SourceEvent(kind, self.source.name, message, time.time()))

    def _put(self, frame: Frame) -> None:
        with self._cond:
            self._read += 1
            self._arrivals.append(time.monotonic())
            if self.source.live:
                self._dropped += len(self._frames)
                self._frames.clear()
            else:
                self._cond.wait_for(
                    lambda: len(self._frames) < self._capacity or self._stop.is_set()
                )
            self._frames.append(frame)
            self._cond.notify_all()

    def _finish(self, error: SourceError | None) -> None:
        with self._cond:
            self._done, self._error = True, error
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            if self.source.live:
                self._run_live()
            else:
                self._run_file()
        except SourceError as exc:
            if not self._stop.is_set():  # not just close() interrupting a read
                self._emit("failed", str(exc))
            self._finish(exc if not self._stop.is_set() else None)
        except Exception as exc:  # a decoder crash must not leave the consumer waiting
            err = SourceError(f"{self.source.name}: reader failed: {type(exc).__name__}: {exc}")
            self._emit("failed", str(err))
            self._finish(err)
        else:
            self._finish(None)

    def _run_file(self) -> None:
        while not self._stop.is_set():
            frame = self.source.read(self.stall_s)
            if frame is None:
                self._emit("ended", f"end of {self.source.name}")
                return
            self._put(frame)

    def _run_live(self) -> None:
        last_frame = time.monotonic()  # counts from the start: the first frame may never come
        attempt = 0
        reopen = False
        connecting = True
        while not self._stop.is_set():
            try:
                if reopen:
                    self.source.open()
                    reopen, connecting = False, True
                frame = self.source.read(self.connect_s if connecting else self.stall_s)
            except SourceError as exc:
                if self._stop.is_set():
                    return
                down_s = time.monotonic() - last_frame
                if down_s >= self.give_up_s:
                    raise SourceError(
                        f"{self.source.name}: no frames for {down_s:.0f} s, giving up ({exc})"
                    ) from exc
                attempt += 1
                if attempt == 1:
                    self._emit("stalled", str(exc))
                delay = self.backoff.delay(attempt)
                self._emit("reconnecting", f"attempt {attempt} in {delay:.1f} s")
                self.source.close()
                reopen = True
                if self._stop.wait(delay):
                    return
                continue
            if frame is None:
                continue
            last_frame = time.monotonic()
            connecting = False
            if attempt:
                with self._cond:
                    self._reconnects += 1
                self._emit("recovered", f"frames again after {attempt} attempt(s)")
                attempt = 0
            self._put(frame)


# -- the other end: publish frames as a stream ----------------------------------------------


class StreamPublisher:
    """Encodes BGR frames (H.264, zero-latency) into MPEG-TS over UDP to ``host:port``.

    Feed it with ``send(image)`` at the rate you want; ``stop()`` kills the
    encoder (what a drone's video link dying looks like to the receiver).
    """

    def __init__(
        self, port: int, size: tuple[int, int], *, fps: float = 25.0, host: str = "127.0.0.1"
    ) -> None:
        self.url = f"udp://{host}:{port}"
        self.size = size
        self.fps = fps
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> StreamPublisher:
        w, h = self.size
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error"]
        cmd += ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}", "-r", f"{self.fps:g}"]
        cmd += ["-i", "pipe:0", "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency"]
        cmd += ["-g", str(max(1, round(self.fps / 2))), "-pix_fmt", "yuv420p"]
        cmd += ["-flush_packets", "1", "-muxdelay", "0", "-muxpreload", "0"]
        cmd += ["-f", "mpegts", f"{self.url}?pkt_size=1316"]
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        return self

    def send(self, image: np.ndarray) -> None:
        if self._proc is None or self._proc.stdin is None:
            raise SourceError("StreamPublisher.send before start")
        if image.shape[:2] != (self.size[1], self.size[0]):
            raise SourceError(f"frame is {image.shape[1]}x{image.shape[0]}, stream is {self.size}")
        try:
            self._proc.stdin.write(np.ascontiguousarray(image, np.uint8).tobytes())
            self._proc.stdin.flush()
        except BrokenPipeError as exc:
            raise SourceError(f"the encoder for {self.url} has exited") from exc

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        proc.kill()
        with contextlib.suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2.0)

    def __enter__(self) -> StreamPublisher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
