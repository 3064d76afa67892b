"""Time from a person appearing in a live stream to the incident opening (target: within 1 s).

    python -m benchmarks.bench_stream_alert [--runs N] [--size 1280x720] [--fps 25] [--tiling auto]

A composed water scene (``benchmarks.scenes``) is encoded live (H.264,
zero-latency) into a UDP MPEG-TS stream on loopback at ``--fps``. After a few
seconds of empty water the same scene with a person pasted in is sent; the
clock starts when the first such frame goes to the encoder. The receiving side
is the real ``detect`` pipeline: FFmpeg reader thread (newest frame only), the
YOLO pose detector with tracking, georeferencing from a fixed pose over the
sample lake, rules and incidents. The clock stops when the person_in_water
incident opens (``in_water_frames`` consecutive detections are needed).

Printed per run: alert latency, and its parts: stream (encode, UDP, decode:
capture time of the first processed frame showing the person, minus the
send time), waiting for and detecting the frames the rule needs. The encoder,
the decoder and the detector share this machine's cores.
"""

from __future__ import annotations

import argparse
import faulthandler
import socket
import statistics
import threading
import time
from pathlib import Path

import numpy as np

import geofences
from benchmarks.scenes import compose
from detection.detector import Detector
from detection.incidents import Incident
from detection.pipeline import FrameResult, Pipeline
from detection.pose import Pose, static_pose
from detection.sources import FrameReader, StreamPublisher, open_source
from geofences.projection import LocalProjection

LAKE_FILE = Path(geofences.__file__).parent / "samples" / "gqc-lake.yaml"
RUN_LIMIT_S = 90.0  # a run that takes longer has hung: dump every thread's stack and exit


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def water_pose(kw: geofences.KeyWater, alt_m: float) -> Pose:
    """Hovering over open water: a point of the lake 40 m from any bank."""
    c = kw.water.centroid
    proj = LocalProjection.around(c.y, c.x)
    p = proj.geom_to_m(kw.water).buffer(-40.0).representative_point()
    lon, lat = proj.to_lonlat(p.x, p.y)
    return Pose(t=0.0, lat=lat, lon=lon, alt_m=alt_m)


class Player:
    """Sends ``empty`` until ``show_person()``, then ``person``, paced at ``fps``."""

    def __init__(self, pub: StreamPublisher, empty: np.ndarray, person: np.ndarray, fps: float):
        self.pub, self.empty, self.person, self.fps = pub, empty, person, fps
        self.appeared_at: float | None = None
        self._show = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Player:
        self._thread.start()
        return self

    def show_person(self) -> None:
        self._show.set()

    def _run(self) -> None:
        period = 1.0 / self.fps
        next_t = time.monotonic()
        while not self._stop.is_set():
            if self._show.is_set():
                if self.appeared_at is None:
                    self.appeared_at = time.time()
                self.pub.send(self.person)
            else:
                self.pub.send(self.empty)
            next_t += period
            time.sleep(max(0.0, next_t - time.monotonic()))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def one_run(
    detector: Detector,
    kw: geofences.KeyWater,
    pose: Pose,
    size: tuple[int, int],
    fps: float,
    person_px: float,
    seed: int,
) -> dict[str, float]:
    w, h = size
    empty = compose(w, h, heights_px=[], n_lookalikes=0, seed=seed).image
    person = compose(w, h, heights_px=[person_px], n_lookalikes=0, seed=seed).image
    detector.reset_tracks()
    pipe = Pipeline(detector, keywater=kw, pose=static_pose(pose))
    results: list[FrameResult] = []
    with StreamPublisher(free_udp_port(), size, fps=fps) as pub:
        player = Player(pub, empty, person, fps).start()
        warm_until: list[float] = []

        def on_result(r: FrameResult) -> None:
            results.append(r)
            if not warm_until:  # the stream is up: 2 s of empty water first
                warm_until.append(time.monotonic() + 2.0)
            elif time.monotonic() >= warm_until[0]:
                player.show_person()

        opened = None
        try:
            with FrameReader(open_source(pub.url), connect_s=10.0) as reader:
                for ev in pipe.run(reader, duration_s=15.0, on_result=on_result):
                    if isinstance(ev, Incident) and ev.status == "open":
                        opened = time.time()
                        break
                stats = reader.stats
        finally:
            player.stop()
    if player.appeared_at is None:
        raise SystemExit("the stream never came up: no frames within 13 s")
    t0 = player.appeared_at
    seen = [r for r in results if r.frame.t_capture >= t0 and r.detections]
    after = [r for r in results if r.frame.t_capture >= t0]
    return {
        "latency_s": opened - t0 if opened is not None else float("nan"),
        "stream_s": seen[0].frame.t_capture - t0 if seen else float("nan"),
        "frames_to_alert": len(after),
        "detect_ms": 1000 * statistics.mean(r.detect_s for r in results),
        "fps": pipe.status().fps,
        "dropped": stats.dropped,
        "source_fps": stats.source_fps,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="1280x720", help="stream size WxH")
    ap.add_argument("--fps", type=float, default=25.0, help="stream frame rate")
    ap.add_argument("--person-px", type=float, default=110.0, help="person height in the stream")
    ap.add_argument("--tiling", default="auto", choices=["auto", "on", "off"])
    ap.add_argument("--alt", type=float, default=40.0, help="pose height above the water")
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    kw = geofences.load(LAKE_FILE)
    pose = water_pose(kw, args.alt)
    t = time.monotonic()
    detector = Detector(tiling=args.tiling, person_px=args.person_px)
    print(f"model loaded in {time.monotonic() - t:.1f} s: {detector.describe()}")
    print(
        f"stream {w}x{h} @ {args.fps:g} fps, person {args.person_px:g} px, "
        f"in_water_frames={kw.rules.in_water_frames}"
    )
    runs = []
    with detector:
        for i in range(args.runs):
            faulthandler.dump_traceback_later(RUN_LIMIT_S, exit=True)
            r = one_run(detector, kw, pose, (w, h), args.fps, args.person_px, seed=i)
            faulthandler.cancel_dump_traceback_later()
            runs.append(r)
            alert = "MISSED (no incident)" if r["latency_s"] != r["latency_s"] else "alert"
            print(
                f"run {i + 1}: {alert} {r['latency_s']:.2f} s (stream {r['stream_s']:.2f} s, "
                f"{r['frames_to_alert']} frames processed)  detect {r['detect_ms']:.0f} ms/frame  "
                f"{r['fps']:.1f} fps  dropped {r['dropped']} of a {r['source_fps']:.1f} fps stream"
            )
    lat = [r["latency_s"] for r in runs if r["latency_s"] == r["latency_s"]]
    missed = len(runs) - len(lat)
    if not lat:
        raise SystemExit(f"no alert in {len(runs)} runs")
    print(
        f"alert latency over {len(lat)} runs ({missed} missed): "
        f"median {statistics.median(lat):.2f} s, "
        f"max {max(lat):.2f} s (target <= 1.0 s: {'met' if max(lat) <= 1.0 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
