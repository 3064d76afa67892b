"""Synthetic camera: render time per 1920x1080 frame, and the fps it streams at over UDP.

    python -m benchmarks.bench_camera [--frames N] [--seconds S] [--detect ALT,ALT...]
                                      [--swimmers composed|real|auto]

Render: the sample lake's scene from four kinds of pose (open water, the shore
with the group, an oblique view with the horizon, a high pass at 120 m), each
timed over N frames with the camera moving; median and p95 in ms; then a
crowd of 12 swimmers in one nadir frame from 90 m.
Stream: ``UdpCameraStream`` at 1920x1080 for S seconds per rate while an
FFmpeg receiver decodes it on loopback; frames sent, received and skipped.
``--detect``: the project's detector (``detection.detector.Detector``, auto
tiling for the altitude) on a nadir frame over each placed person, recall per
kind of person (slow: a few seconds per frame on 2 cores). ``--swimmers``:
how the people in the water look in the render and detection passes.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import threading
import time

import numpy as np

import geofences
from detection.pose import Pose
from sitl.camera import (
    SyntheticCamera,
    UdpCameraStream,
    build_scene,
    default_assets,
    render,
)
from sitl.endpoints import free_port

LAKE = next(p for p in geofences.sample_paths() if p.stem == "gqc-lake")


def _poses(kind: str, scene, n: int) -> list[Pose]:
    sw = scene.person("swimmer-3")
    out = []
    for i in range(n):
        d = 2e-6 * i  # about 0.2 m per frame: a 10 m/s drone at 50 fps of motion
        if kind == "open water":
            out.append(Pose(0.0, sw.lat + d, sw.lon, 50.0, yaw_deg=30.0 + i))
        elif kind == "shore + group":
            g = scene.person("group-1")
            out.append(Pose(0.0, g.lat - d, g.lon, 50.0, yaw_deg=77.0))
        elif kind == "12 swimmers":  # all of them in one frame
            out.append(Pose(0.1 * i, sw.lat + d, sw.lon, 60.0, yaw_deg=10.0))
        elif kind == "oblique":
            out.append(Pose(0.0, sw.lat - 5e-4, sw.lon + d, 40.0, gimbal_pitch_deg=-20.0))
        else:
            out.append(Pose(0.0, sw.lat + d, sw.lon, 120.0, yaw_deg=-40.0))
    return out


def _crowd(scene):
    """The scene's swimmers moved onto a 4 x 3 grid, 10 m apart, around swimmer-3."""
    c = scene.person("swimmer-3")
    people = tuple(
        dataclasses.replace(p, lat=c.lat + 9e-5 * (k // 4 - 1), lon=c.lon + 1e-4 * (k % 4 - 1.5))
        for k, p in enumerate(scene.people)
    )
    return dataclasses.replace(scene, people=people)


def bench_render(n: int, look: str) -> None:
    kw = geofences.load(LAKE)
    scene = build_scene(kw, seed=0, swimmer_look=look)
    t0 = time.perf_counter()
    assets = default_assets()
    print(f"assets (cut-outs, textures): {1000 * (time.perf_counter() - t0):.0f} ms once")
    if scene.swimmers == "real":
        t0 = time.perf_counter()
        n_real = len(assets.real_swimmers)
        took = 1000 * (time.perf_counter() - t0)
        print(f"real swimmers: {n_real} cut-outs in {took:.0f} ms (cache; ~5 s the first time)")
    crowd = _crowd(build_scene(kw, 0, swimmers=12, group_size=0, walkers=0, swimmer_look=look))
    print(f"swimmers drawn: {scene.swimmers}")
    print(f"{'render 1920x1080':<18} {'median ms':>10} {'p95 ms':>8} {'people':>7}")
    for kind in ("open water", "shore + group", "oblique", "120 m", "12 swimmers"):
        times, people = [], 0
        sc = crowd if kind == "12 swimmers" else scene
        for pose in _poses(kind, sc, n):
            t = time.perf_counter()
            fr = render(sc, kw.patrol.camera, pose, assets=assets)
            times.append(1000 * (time.perf_counter() - t))
            people = max(people, len(fr.people))
        times.sort()
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        print(f"{kind:<18} {statistics.median(times):>10.1f} {p95:>8.1f} {people:>7}")


def bench_stream(seconds: float, rates: list[float]) -> None:
    from detection.sources import FfmpegStreamSource

    kw = geofences.load(LAKE)
    scene = build_scene(kw, seed=0)
    sw = scene.person("swimmer-1")
    start = time.time()

    def moving(t: float) -> Pose:  # 10 m/s north over the swimmer
        return Pose(t, sw.lat - 2e-4 + 9e-5 * (t - start), sw.lon, 50.0)

    print(f"{'stream 1920x1080':<18} {'asked':>6} {'sent fps':>9} {'recv fps':>9} {'skipped':>8}")
    for fps in rates:
        cam = SyntheticCamera(scene, kw.patrol.camera, moving)
        port = free_port()
        received: list[float] = []
        stop = threading.Event()
        with UdpCameraStream(cam, port, fps=fps) as stream:
            source = FfmpegStreamSource(stream.url)
            source.open()
            thread = threading.Thread(target=_receive, args=(source, received, stop), daemon=True)
            thread.start()
            time.sleep(seconds)
            stats = stream.stats
            stop.set()
            source.close()
            thread.join(timeout=5.0)
        recv = [t for t in received if t >= received[0] + 1.0] if received else []
        recv_fps = (len(recv) - 1) / (recv[-1] - recv[0]) if len(recv) > 1 else 0.0
        print(
            f"{'':<18} {fps:>6g} {stats.fps:>9.1f} {recv_fps:>9.1f} {stats.ticks_skipped:>8}"
            f"   (render {stats.mean_render_ms:.0f} ms/frame)"
        )


def _receive(source, received: list[float], stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            received.append(source.read(5.0).t_capture)
        except Exception:  # closed under us: the run is over
            return


def bench_detect(altitudes: list[float], look: str) -> None:
    from detection.detector import Detector

    kw = geofences.load(LAKE)
    cam = kw.patrol.camera
    print(
        f"{'detect (nadir)':<18} {'alt m':>6} {'person px':>10} {'ms/frame':>9}"
        "  found/placed by kind"
    )
    for alt in altitudes:
        det = Detector(person_px=cam.person_height_px(alt), workers=1)
        found: dict[str, list[int]] = {}
        times = []
        false = 0
        for seed in (0, 1):
            scene = build_scene(kw, seed, swimmer_look=look)
            for p in scene.people:
                fr = render(scene, cam, Pose(0.0, p.lat + 2e-5, p.lon - 2e-5, alt, yaw_deg=60.0))
                t = time.perf_counter()
                boxes = np.array([d.box_xyxy for d in det.detect(fr.image)]).reshape(-1, 4)
                times.append(1000 * (time.perf_counter() - t))
                v = next(v for v in fr.people if v.id == p.id)
                hit = _iou(boxes, np.array(v.box_xyxy)).max(initial=0.0) >= 0.4
                k = found.setdefault(p.kind, [0, 0])
                k[0] += int(hit)
                k[1] += 1
                truth = np.array([q.box_xyxy for q in fr.people])
                false += sum(_iou(truth, b).max(initial=0.0) < 0.4 for b in boxes)
        kinds = ", ".join(f"{k} {a}/{b}" for k, (a, b) in sorted(found.items()))
        print(
            f"{'':<18} {alt:>6g} {cam.person_height_px(alt):>10.0f} "
            f"{statistics.median(times):>9.0f}  {kinds}; false boxes {false}"
        )
        det.close()


def _iou(boxes: np.ndarray, box: np.ndarray) -> np.ndarray:
    boxes = boxes.reshape(-1, 4)
    iw = np.clip(np.minimum(boxes[:, 2], box[2]) - np.maximum(boxes[:, 0], box[0]), 0, None)
    ih = np.clip(np.minimum(boxes[:, 3], box[3]) - np.maximum(boxes[:, 1], box[1]), 0, None)
    inter = iw * ih
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + (box[2] - box[0]) * (box[3] - box[1]) - inter, 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=40, help="frames timed per pose kind")
    ap.add_argument("--seconds", type=float, default=5.0, help="streaming time per rate")
    ap.add_argument("--rates", default="10,25", help="stream rates to try, comma-separated")
    ap.add_argument("--detect", default="", help="altitudes (m) for the detection pass, e.g. 30,50")
    ap.add_argument(
        "--swimmers", default="composed", choices=("composed", "real", "auto"), help="their look"
    )
    args = ap.parse_args()
    bench_render(args.frames, args.swimmers)
    bench_stream(args.seconds, [float(r) for r in args.rates.split(",") if r])
    if args.detect:
        bench_detect([float(a) for a in args.detect.split(",")], args.swimmers)


if __name__ == "__main__":
    main()
