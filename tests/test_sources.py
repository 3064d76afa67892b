"""Frame sources on real files and a real UDP MPEG-TS stream served by FFmpeg on loopback."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from detection.errors import SourceError
from detection.sources import (
    Backoff,
    CameraSource,
    FfmpegStreamSource,
    FrameReader,
    ImageFolderSource,
    StreamPublisher,
    VideoFileSource,
    ffmpeg_exe,
    open_source,
)

SIZE = (320, 240)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frame_image(n: int, size: tuple[int, int] = SIZE) -> np.ndarray:
    """The astronaut photo with frame number ``n`` written as the grey level of a corner block."""
    img = cv2.resize(cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR), size)
    img[:48, :48] = (n * 16) % 256
    return img


def corner_level(img: np.ndarray) -> float:
    return float(img[8:40, 8:40].mean())


class LiveCamera:
    """A StreamPublisher fed at ``fps`` from a thread; ``stop()``/``start()`` kill and revive it.

    ``make_image(n)`` draws frame ``n``; ``sent_at[n]`` is when it went to the encoder.
    """

    def __init__(
        self,
        port: int,
        fps: float = 25.0,
        make_image: Callable[[int], np.ndarray] | None = None,
        size: tuple[int, int] = SIZE,
    ) -> None:
        self.pub = StreamPublisher(port, size, fps=fps)
        self.fps = fps
        self.make_image = make_image or frame_image
        self.sent = 0
        self.sent_at: dict[int, float] = {}
        self._run = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> LiveCamera:
        self.pub.start()
        self._run.set()
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()
        return self

    def _feed(self) -> None:
        while self._run.is_set():
            image = self.make_image(self.sent)
            self.sent_at[self.sent] = time.time()
            try:
                self.pub.send(image)
            except SourceError:
                return
            self.sent += 1
            time.sleep(1.0 / self.fps)

    def stop(self) -> None:
        self._run.clear()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.pub.stop()


@pytest.fixture
def live():
    cams: list[LiveCamera] = []

    def make(fps: float = 25.0) -> LiveCamera:
        cam = LiveCamera(free_udp_port(), fps).start()
        cams.append(cam)
        return cam

    yield make
    for cam in cams:
        cam.stop()


# -- files and folders ----------------------------------------------------------------------


def write_video(path: Path, n: int, fps: int = 10) -> None:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"]
    cmd += ["-pix_fmt", "bgr24", "-s", f"{SIZE[0]}x{SIZE[1]}", "-r", str(fps), "-i", "pipe:0"]
    cmd += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    data = b"".join(frame_image(i).tobytes() for i in range(n))
    subprocess.run(cmd, input=data, check=True, timeout=60)


def test_video_file_every_frame_in_order_with_timestamps(tmp_path: Path) -> None:
    video = tmp_path / "flight.mp4"
    write_video(video, 12, fps=10)
    with FrameReader(VideoFileSource(video, start_time=1000.0)) as reader:
        frames = []
        while not reader.finished:
            f = reader.next_frame(1.0)
            if f is not None:
                frames.append(f)
                time.sleep(0.02)  # a slow consumer: a file still loses nothing
        events = [e.kind for e in reader.events()]
    assert [f.index for f in frames] == list(range(12))
    assert [f.t_capture for f in frames] == pytest.approx(
        [1000.0 + 0.1 * i for i in range(12)], abs=1e-6
    )
    levels = [corner_level(f.image) for f in frames]
    assert levels == pytest.approx([(16 * i) % 256 for i in range(12)], abs=6)
    assert reader.stats.dropped == 0
    assert events[0] == "connected" and events[-1] == "ended"


def test_video_file_start_time_defaults_to_its_recording(tmp_path: Path) -> None:
    video = tmp_path / "flight.mp4"
    write_video(video, 20, fps=10)
    src = VideoFileSource(video)
    src.open()
    try:
        assert src.start_time == pytest.approx(video.stat().st_mtime - 2.0, abs=0.01)
    finally:
        src.close()


def test_image_folder_in_name_order(tmp_path: Path) -> None:
    for n in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img{n:03d}.png"), frame_image(n))
    (tmp_path / "notes.txt").write_text("not an image")
    with FrameReader(ImageFolderSource(tmp_path, start_time=50.0, fps=2.0)) as reader:
        frames = [f for f in (reader.next_frame(1.0) for _ in range(5)) if f is not None]
        assert reader.finished
    assert [Path(f.source).name for f in frames] == ["img000.png", "img001.png", "img002.png"]
    assert [f.t_capture for f in frames] == [50.0, 50.5, 51.0]
    assert [corner_level(f.image) for f in frames] == pytest.approx([0, 16, 32], abs=1)


def test_open_source_picks_the_kind(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    write_video(video, 2)
    assert isinstance(open_source("udp://127.0.0.1:5600"), FfmpegStreamSource)
    assert isinstance(open_source("rtsp://10.0.0.5/live"), FfmpegStreamSource)
    assert isinstance(open_source("0"), CameraSource)
    assert isinstance(open_source(str(tmp_path)), ImageFolderSource)
    assert isinstance(open_source(str(video)), VideoFileSource)
    with pytest.raises(SourceError, match="not a file, folder, camera index or stream URL"):
        open_source(str(tmp_path / "missing.mp4"))


def test_bad_files_say_what_is_wrong(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(SourceError, match="not a video"):
        VideoFileSource(fake).open()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="no images"):
        ImageFolderSource(empty).open()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with (
        FrameReader(ImageFolderSource(broken)) as reader,
        pytest.raises(SourceError, match="not an image"),
    ):
        while True:
            reader.next_frame(1.0)


def test_a_missing_camera_is_a_source_error() -> None:
    with pytest.raises(SourceError, match="camera 97"):
        CameraSource(97).open()


def test_backoff_doubles_up_to_the_cap() -> None:
    b = Backoff(initial_s=0.5, factor=2.0, max_s=3.0)
    assert [b.delay(i) for i in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


# -- live UDP MPEG-TS -----------------------------------------------------------------------


def test_udp_stream_newest_frame_only(live) -> None:
    cam = live(fps=25)
    reader = FrameReader(open_source(cam.pub.url), stall_s=1.0, connect_s=5.0).start()
    try:
        first = reader.next_frame(5.0)
        assert first is not None
        assert first.image.shape == (SIZE[1], SIZE[0], 3)
        ages = []
        for _ in range(6):  # a consumer at ~4 fps against a 25 fps stream
            time.sleep(0.25)
            f = reader.next_frame(1.0)
            assert f is not None
            ages.append(time.time() - f.t_capture)
        stats = reader.stats
    finally:
        reader.close()
    # each frame handed over was the newest one: a queue would hand over ever older frames
    # (about 0.2 s older per 0.25 s wait); the slack is for a busy machine
    assert max(ages) < 0.3
    assert ages[-1] < ages[0] + 0.15
    assert stats.dropped >= 20  # ~6 per 0.25 s wait were overwritten unread
    assert stats.frames_read - stats.frames_delivered - stats.dropped in (0, 1)  # one may wait
    assert stats.frames_delivered == 7
    assert 10 < stats.source_fps < 35


def test_udp_stream_reconnects_with_backoff_and_reports(live) -> None:
    cam = live(fps=25)
    reader = FrameReader(
        open_source(cam.pub.url), stall_s=0.6, connect_s=3.0, backoff=Backoff(0.2, 2.0, 1.0)
    ).start()
    try:
        assert reader.next_frame(5.0) is not None, "no frames from the live stream"
        reader.events()
        cam.stop()  # the drone's video link dies
        killed = time.time()
        down = []
        while time.time() - killed < 3 and len(down) < 2:
            reader.next_frame(0.1)
            down += reader.events()
        assert [e.kind for e in down][:2] == ["stalled", "reconnecting"]
        assert "stalled" in down[0].message
        assert 0.5 < down[0].t - killed < 1.5  # stall_s 0.6 after the last frame
        cam.start()  # and comes back
        back = reader.next_frame(6.0)
        recovered = [e for e in reader.events() if e.kind == "recovered"]
    finally:
        reader.close()
    assert back is not None, "no frames after the stream came back"
    assert recovered and back.t_capture > killed
    assert reader.stats.reconnects == 1
    assert back.index > 0  # indices keep counting across the reconnect


def test_a_stream_that_never_comes_gives_up(live) -> None:
    url = f"udp://127.0.0.1:{free_udp_port()}"
    reader = FrameReader(
        open_source(url), stall_s=0.3, connect_s=0.4, backoff=Backoff(0.1, 2.0, 0.2), give_up_s=1.2
    ).start()
    t0 = time.monotonic()
    try:
        with pytest.raises(SourceError, match="giving up"):
            while time.monotonic() - t0 < 10:
                reader.next_frame(0.5)
    finally:
        reader.close()
    assert time.monotonic() - t0 < 5
    assert reader.finished


def test_publisher_checks_frame_size() -> None:
    pub = StreamPublisher(free_udp_port(), SIZE)
    with pub, pytest.raises(SourceError, match="stream is"):
        pub.send(np.zeros((10, 10, 3), np.uint8))


def test_a_refused_http_stream_reports_ffmpegs_reason() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    reader = FrameReader(
        open_source(f"http://127.0.0.1:{port}/video"),
        connect_s=3.0,
        backoff=Backoff(0.1, 2.0, 0.2),
        give_up_s=1.0,
    ).start()
    try:
        with pytest.raises(SourceError, match="giving up") as err:
            for _ in range(50):
                reader.next_frame(0.2)
    finally:
        reader.close()
    assert "FFmpeg exited" in str(err.value)
    assert "refused" in str(err.value).lower()


def test_closing_a_reader_on_a_silent_stream_is_prompt() -> None:
    reader = FrameReader(open_source(f"udp://127.0.0.1:{free_udp_port()}"), connect_s=30.0).start()
    time.sleep(0.3)  # the reader thread is now blocked waiting for video
    t0 = time.monotonic()
    reader.close()
    assert time.monotonic() - t0 < 1.0
    assert [e.kind for e in reader.events()] == ["connected"]  # no failure reported for a close


def _ffmpeg_children() -> list[int]:
    """Live FFmpeg processes started by this process (zombies excluded)."""
    import os

    out = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        state, ppid = rest.split()[0], int(rest.split()[1])
        if ppid == os.getpid() and "ffmpeg" in name and state != "Z":
            out.append(int(pid))
    return out


@pytest.mark.slow
def test_closing_while_reconnecting_leaves_no_ffmpeg_behind() -> None:
    # a dead stream reconnecting as fast as it can: close() lands in every phase of the
    # loop (opening, probing, backing off) over the runs
    for i in range(25):
        source = FfmpegStreamSource(f"udp://127.0.0.1:{free_udp_port()}")
        reader = FrameReader(source, connect_s=0.05, stall_s=0.05, backoff=Backoff(0.001, 1, 0.001))
        reader.start()
        time.sleep(0.01 * (i % 7))
        t0 = time.monotonic()
        reader.close()
        assert time.monotonic() - t0 < 2.0
        deadline = time.monotonic() + 3.0
        while _ffmpeg_children() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _ffmpeg_children() == [], f"run {i}: FFmpeg left running after close()"


def test_an_interrupted_stream_source_starts_no_new_ffmpeg() -> None:
    # the reader thread reconnecting just after the owner's close() began
    source = FfmpegStreamSource(f"udp://127.0.0.1:{free_udp_port()}")
    source.interrupt()
    with pytest.raises(SourceError, match="interrupted"):
        source.open()
    assert _ffmpeg_children() == []
