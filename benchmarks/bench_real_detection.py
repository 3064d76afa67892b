"""Person detection on real drone photographs: recall, precision, AP50 by size, and speed.

    python -m benchmarks.bench_real_detection [--sets val,eval] [--configs NAME,...]
                                              [--conf C] [--limit N] [--no-ap]
                                              [--weights PT] [--json]

Sets (from ``../shared/data``): ``val``, the val split of ``aerial-people``, each
scene on its own (the lake ``DJI_0001_d3`` is the honest one: the North Sea
val frames are later frames of the training flight); ``eval``,
``aerial-people-eval``, whole and by source (beaches, mountains, campus), for
measuring only: never train or tune on it.

Configurations (``configs``): ``pose-only``, the previous default detector
(yolo11n-pose, tiles for 20 px people, keypoint check and second look);
``aerial``, the aerial detector two-stage with the detector's defaults for it
(conf ``AERIAL_CONF``, no second look, nested boxes dropped, native scale);
variants that each change one of those (``aerial-second-look``,
``aerial-keep-nested``, ``aerial-pose-check``: the pose model must also see a
person, ``aerial-x1.6``: tiles enlarged 1.6x); ``sahi-slicing``, plain
SAHI-style slicing with the same aerial weights (640 px slices at native
scale, 20% overlap, plus the whole frame at 640, merged by greedy NMS on
intersection over the smaller box 0.5, no filters).

Matching: greedy one-to-one at IoU >= ``MATCH_IOU``; a detection inside a
boat (``boats.json``, IoS >= 0.5) that matches nobody counts as neither right
nor wrong (its riders are unlabelled). Size buckets are by the labelled
box's longer side in frame pixels (<16, 16-32, 32-64, >64); a false
detection is put in the bucket of its own longer side. "people >= 16 px"
drops the smaller people, and the detections matching them, from both counts.
Each configuration runs twice: at ``--conf`` (default: the detector's own
operating threshold) for recall, precision and speed, and at a low conf
(``SWEEP_CONF``) for AP50 and the found/false table by threshold (the second
look judges at the detector's conf, so one run cannot give both).
Frames per second: the operating run's detect calls on 1920x1080 frames, with
the detector's default threads.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.scenes import box_iou
from detection import tiling as tl
from detection.detector import Detector
from detection.model import AERIAL_WEIGHTS, REPO_ROOT, default_weights
from detection.training.dataset import Frame, read_split

DATA = REPO_ROOT.parent / "shared" / "data"
MATCH_IOU = 0.5
SWEEP_CONF = 0.05
BUCKETS = ((0, 16), (16, 32), (32, 64), (64, 100_000))
THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # the low-conf run read at these
EVAL_SOURCES = {"beaches": "gv_beach", "mountains": "gv_mtn", "campus": "mp_"}  # by file name


def configs(weights: Path = AERIAL_WEIGHTS) -> dict[str, dict[str, Any]]:
    """Name -> Detector keyword arguments (``slicing``: the SAHI-style baseline instead)."""
    pose = str(default_weights())
    aerial = str(weights)
    return {
        "pose-only": {"model": pose, "person_px": 20.0},  # the previous default detector
        "aerial": {"model": aerial},  # two-stage, the detector's defaults
        "aerial-second-look": {"model": aerial, "second_look": True},
        "aerial-pose-check": {"model": aerial, "pose_check": True},
        "aerial-keep-nested": {"model": aerial, "nested_ios": 1.0},
        "aerial-x1.6": {"model": aerial, "person_px": 12.5},  # tiles enlarged 20/12.5
        "sahi-slicing": {"model": aerial, "slicing": True},
    }


@dataclass
class Score:
    """Detections of one configuration on one set, matched at every threshold."""

    people: list[float] = field(default_factory=list)  # longer side of each labelled person
    # per detection: confidence, longer side, matched person's size (nan: false), ignored
    dets: list[tuple[float, float, float, bool]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    def add(self, frame: Frame, found: list[tuple[tuple[float, ...], float]], t: float) -> None:
        truth = frame.boxes
        sizes = np.maximum(truth[:, 2] - truth[:, 0], truth[:, 3] - truth[:, 1])
        self.people.extend(sizes.tolist())
        self.seconds.append(t)
        order = sorted(range(len(found)), key=lambda i: -found[i][1])
        boxes = np.array([found[i][0] for i in order], float).reshape(-1, 4)
        taken = np.zeros(len(truth), bool)
        ious = box_iou(boxes, truth) if len(truth) else np.zeros((len(boxes), 0))
        for k, i in enumerate(order):  # most confident first, as AP counts them
            box, conf = boxes[k], found[i][1]
            side = float(max(box[2] - box[0], box[3] - box[1]))
            cand = np.where(taken, -1.0, ious[k]) if len(truth) else np.zeros(0)
            if len(cand) and cand.max() >= MATCH_IOU:
                j = int(cand.argmax())
                taken[j] = True
                self.dets.append((conf, side, float(sizes[j]), False))
            else:
                in_boat = len(frame.boats) and tl.intersection_over_smaller(box, frame.boats).max()
                self.dets.append((conf, side, math.nan, bool(in_boat and in_boat >= 0.5)))

    def counts(self, conf: float, lo: float = 0, hi: float = 1e9) -> tuple[int, int, int]:
        """(people, found, false) at ``conf`` for people (and false detections) in [lo, hi)."""
        people = sum(lo <= s < hi for s in self.people)
        found = false = 0
        for c, side, matched, ignored in self.dets:
            if c < conf or ignored:
                continue
            if not math.isnan(matched):
                found += lo <= matched < hi
            elif lo <= side < hi:
                false += 1
        return people, found, false

    def ap50(self, lo: float = 0, hi: float = 1e9) -> float:
        """Area under the interpolated precision-recall curve (all-point, as COCO/VOC)."""
        people = sum(lo <= s < hi for s in self.people)
        rows = sorted(
            (d for d in self.dets if not d[3] and lo <= (d[1] if math.isnan(d[2]) else d[2]) < hi),
            key=lambda d: -d[0],
        )
        if not people:
            return math.nan
        tp = np.cumsum([not math.isnan(d[2]) for d in rows])
        fp = np.cumsum([math.isnan(d[2]) for d in rows])
        recall = np.concatenate(([0.0], tp / people, [tp[-1] / people if len(tp) else 0.0]))
        precision = np.concatenate(([1.0], tp / np.maximum(tp + fp, 1), [0.0]))
        precision = np.maximum.accumulate(precision[::-1])[::-1]
        return float(np.sum(np.diff(recall) * precision[1:]))

    def fps_1080p(self, frames: list[Frame]) -> float | None:
        times = [t for f, t in zip(frames, self.seconds, strict=True) if f.size == (1920, 1080)]
        return round(len(times) / sum(times), 2) if times else None

    def summary(self, conf: float, sweep: Score) -> dict[str, Any]:
        out: dict[str, Any] = {}
        ranges = {"all": (0, 1e9), ">=16": (16, 1e9)}
        ranges |= {f"{lo}-{hi if hi < 1e5 else 'up'}": (lo, hi) for lo, hi in BUCKETS}
        for name, (lo, hi) in ranges.items():
            people, found, false = self.counts(conf, lo, hi)
            out[name] = {
                "people": people,
                "found": found,
                "false": false,
                "recall": round(found / people, 3) if people else None,
                "precision": round(found / (found + false), 3) if found + false else None,
                "ap50": round(sweep.ap50(lo, hi), 3) if people else None,
            }
        return out


def slice_detect(det: Detector, image: np.ndarray) -> list[tuple[tuple[float, ...], float]]:
    """SAHI's standard recipe with the detector's model: 640 px slices at native scale with
    20% overlap, plus the whole frame letterboxed to 640, merged by greedy NMS on IoS 0.5."""
    h, w = image.shape[:2]
    side = 640
    tiles = [
        tl.Tile(x, y, min(w, x + side), min(h, y + side), 1.0)
        for y in tl.axis_starts(h, min(side, h), 0.2 * side)
        for x in tl.axis_starts(w, min(side, w), 0.2 * side)
    ]
    full = min(640 / w, 640 / h)
    tiles.append(tl.Tile(0, 0, w, h, full))
    boxes, scores = [], []
    for tile in tiles:
        r = det._run_tile(image, tile, w, h, plausible=False)
        boxes.append(r.boxes)
        scores.append(r.scores)
    b = np.concatenate(boxes).reshape(-1, 4)
    s = np.concatenate(scores)
    keep: list[int] = []
    alive = np.ones(len(b), bool)
    for i in np.argsort(-s):
        if not alive[i]:
            continue
        keep.append(int(i))
        alive &= tl.intersection_over_smaller(b[i], b) < 0.5
    return [(tuple(b[i]), float(s[i])) for i in keep]


def run(kwargs: dict[str, Any], frames: list[Frame], conf: float | None) -> tuple[Score, float]:
    """The detections of one configuration on ``frames``, and the threshold it ran at."""
    kwargs = dict(kwargs)
    slicing = kwargs.pop("slicing", False)
    score = Score()
    with Detector(conf=conf, **kwargs) as det:
        conf = det.conf
        if slicing:
            slice_detect(det, cv2.imread(str(frames[0].path)))  # warm-up (model compiles)
        else:
            det.detect(cv2.imread(str(frames[0].path)))
        for frame in frames:
            image = cv2.imread(str(frame.path))
            t0 = time.perf_counter()
            if slicing:
                found = slice_detect(det, image)
            else:
                found = [(d.box_xyxy, d.confidence) for d in det.detect(image)]
            score.add(frame, found, time.perf_counter() - t0)
    return score, conf


def scene_of(frame: Frame) -> str:
    stem = frame.path.stem
    return stem.rsplit("_", 1)[0].removeprefix("sds_")


def load_sets(names: list[str], limit: int | None) -> dict[str, list[Frame]]:
    sets: dict[str, list[Frame]] = {}
    if "val" in names:
        for frame in read_split(DATA / "aerial-people", "val"):
            sets.setdefault(f"val:{scene_of(frame)}", []).append(frame)
    if "eval" in names:
        frames = _read_flat(DATA / "aerial-people-eval")
        sets["eval:all"] = frames
        for source, prefix in EVAL_SOURCES.items():
            sets[f"eval:{source}"] = [f for f in frames if f.path.stem.startswith(prefix)]
    return {k: v[:limit] if limit else v for k, v in sets.items()}


def _read_flat(root: Path) -> list[Frame]:
    """``aerial-people-eval``: images/ and labels/ without splits, no boats."""
    frames = []
    for path in sorted((root / "images").iterdir()):
        image = cv2.imread(str(path))
        h, w = image.shape[:2]
        label = root / "labels" / f"{path.stem}.txt"
        rows = np.loadtxt(label, ndmin=2) if label.is_file() and label.stat().st_size else None
        boxes = np.zeros((0, 4))
        if rows is not None and len(rows):
            cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
            boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        frames.append(Frame(path, boxes, np.zeros((0, 4)), (w, h)))
    return frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="val,eval")
    parser.add_argument("--configs", default=None, help="comma-separated names (default: all)")
    parser.add_argument(
        "--conf", type=float, default=None, help="operating threshold (default: the detector's)"
    )
    parser.add_argument("--limit", type=int, default=None, help="frames per set")
    parser.add_argument("--no-ap", action="store_true", help="skip the low-conf run (AP50)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--weights", type=Path, default=AERIAL_WEIGHTS, help="aerial weights")
    args = parser.parse_args()
    table = configs(args.weights)
    chosen = list(table) if args.configs is None else args.configs.split(",")
    unknown = [c for c in chosen if c not in table]
    if unknown:
        parser.error(f"unknown configuration(s) {unknown}; choose from {list(table)}")
    sets = load_sets(args.sets.split(","), args.limit)
    report: dict[str, Any] = {"match_iou": MATCH_IOU, "results": []}
    for name in chosen:
        row: dict[str, Any] = {"config": name, "sets": {}}
        for set_name, frames in sets.items():
            score, conf = run(table[name], frames, args.conf)
            sweep = run(table[name], frames, SWEEP_CONF)[0] if not args.no_ap else score
            row["sets"][set_name] = score.summary(conf, sweep)
            row["sets"][set_name]["conf"] = conf
            row["sets"][set_name]["fps_1080p"] = score.fps_1080p(frames)
            # (found, false) of people >= 16 px by threshold, from the low-conf run: where to
            # put the operating point (choose it on val, never on eval)
            row["sets"][set_name]["by_conf"] = {c: sweep.counts(c, 16)[1:] for c in THRESHOLDS}
            if not args.json:
                _print(name, set_name, row["sets"][set_name])
        report["results"].append(row)
    if args.json:
        print(json.dumps(report, indent=2))


def _print(config: str, set_name: str, summary: dict[str, Any]) -> None:
    parts = [f"conf {summary['conf']}", f"{summary['fps_1080p']} fps"]
    for bucket, s in summary.items():
        if bucket in ("fps_1080p", "by_conf", "conf"):
            continue
        if not s["people"] and not s["false"]:
            continue
        parts.append(
            f"{bucket}: {s['found']}/{s['people']} false {s['false']} "
            f"R {s['recall']} P {s['precision']} AP50 {s['ap50']}"
        )
    print(f"{config} | {set_name} | " + " | ".join(parts), flush=True)
    sweep = "  ".join(f"{c}: {f}/{x}" for c, (f, x) in summary["by_conf"].items())
    print(f"    found/false (>=16 px) by conf: {sweep}", flush=True)


if __name__ == "__main__":
    main()
