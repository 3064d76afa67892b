"""Time from a swimmer entering the camera's view to the alert stored at the station (p50/p95).

    python -m benchmarks.bench_patrol_latency [--runs N] [--speedup 1] [--water FILE]
                                              [--swimmers N] [--json]

Each run is the whole closed loop, every part real (``sitl.demo.run_demo``): the simulated
vehicle flying the water's shoreline loop over MAVLink on loopback, the synthetic camera
following its telemetry as H.264 MPEG-TS over UDP, the detection pipeline on that stream,
the outbox, signed webhook delivery and the station receiver. By default the vehicle flies
in real time (``--speedup 1``), so the pipeline runs at the rate it would on a real patrol.

A swimmer enters the view at the capture time of the first frame showing at least half of
them (the camera's ground truth); the alert is stored when the receiver committed it. The
time between includes the stream's delay, waiting for ``in_water_frames`` detections of a
confirmed track, the alert's evidence image, the outbox commit and the delivery. Each run
seeds a different scene. Figures measured on a shared machine are slower than on a quiet one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import geofences
from sitl.demo import DemoSettings, run_demo

POND = Path(geofences.__file__).parent / "samples" / "gqc-pond.geojson"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=2, help="patrols to fly (each a new scene)")
    ap.add_argument("--speedup", type=float, default=1.0, help="vehicle speed-up (1: real time)")
    ap.add_argument("--water", type=Path, default=POND, help="key-water file to patrol")
    ap.add_argument("--swimmers", type=int, default=3, help="swimmers placed per run")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    kw = geofences.load(args.water)
    samples: list[float] = []
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-patrol-") as tmp:
        for i in range(args.runs):
            settings = DemoSettings(
                out_dir=Path(tmp),
                seed=100 + i,
                speedup=args.speedup,
                vehicle="sim",
                swimmers=args.swimmers,
                walkers=0,
            )
            t0 = time.monotonic()
            r = run_demo(settings, keywater=kw)
            times = [
                p.time_to_alert_s
                for p in r.score.people
                if p.in_water and p.time_to_alert_s is not None
            ]
            missed = sum(1 for p in r.score.people if p.in_water and not p.alerted)
            samples += times
            runs.append(
                {
                    "seed": settings.seed,
                    "times_s": [round(t, 3) for t in times],
                    "missed": missed,
                    "detector_fps": round(r.patrol.video.fps, 2),
                    "detect_ms": round(r.patrol.video.detect_ms, 1),
                    "video_delay_s": round(r.video_delay_s, 3),
                    "wall_s": round(time.monotonic() - t0, 1),
                }
            )
            if not args.json:
                print(
                    f"run {i + 1} (seed {settings.seed}): "
                    + ", ".join(f"{t:.2f} s" for t in times)
                    + (f"; {missed} swimmer(s) not alerted" if missed else "")
                    + f"  [pipeline {r.patrol.video.fps:.1f} fps, detector "
                    f"{r.patrol.video.detect_ms:.0f} ms/frame, stream delay "
                    f"{r.video_delay_s * 1000:.0f} ms, {time.monotonic() - t0:.0f} s]",
                    flush=True,
                )
    if not samples:
        raise SystemExit("no swimmer was alerted: nothing to time")
    p50, p95 = (float(np.percentile(samples, q)) for q in (50, 95))
    summary = {
        "water": kw.id,
        "speedup": args.speedup,
        "swimmers_timed": len(samples),
        "p50_s": round(p50, 3),
        "p95_s": round(p95, 3),
        "mean_s": round(statistics.mean(samples), 3),
        "max_s": round(max(samples), 3),
        "runs": runs,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"swimmer in view -> alert stored at the station, {len(samples)} swimmers over "
            f"{args.runs} run(s) at x{args.speedup:g}: p50 {p50:.2f} s, p95 {p95:.2f} s, "
            f"max {max(samples):.2f} s"
        )


if __name__ == "__main__":
    main()
