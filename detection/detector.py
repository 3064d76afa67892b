"""The person detector: tiled YOLO inference, merged across tiles, optionally tracked.

``Detector.detect`` cuts the frame into the tiles of ``detection.tiling``,
runs each tile through the model (one call per tile, spread over single-thread
workers, each with its own model instance), maps the boxes and keypoints back
to frame pixels and merges them across tiles. ``Detector.track`` adds stable
track ids (``detection.tracking``).
"""

from __future__ import annotations

import os
import queue
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from detection import tiling as tl
from detection.errors import DetectionError
from detection.model import RUNTIMES, Backend, load_backend, prepare
from detection.tracking import TRACKERS, Tracker
from detection.types import Detection

Runtime = Literal["auto", "openvino", "onnx", "torch"]
PAD_VALUE = 114  # ultralytics' letterbox grey
NMS_IOU = 0.7  # within one tile, as ultralytics predicts
HEAD_KEYPOINTS = slice(0, 5)  # COCO: nose, eyes, ears
MIN_HEAD_KPT = 0.5  # see head_evidence
SURE_CONF = 0.8  # this sure a box needs no head: bus.jpg's edge passenger (0.89, head 0.04)


def head_evidence(keypoints: np.ndarray) -> np.ndarray:
    """How surely the pose head sees a head: the second most confident of the five head
    keypoints, per detection (``keypoints`` is (n, 17, 3)).

    A person, whole, waist-up or sunk to the shoulders, shows two or more of nose,
    eyes and ears; foam, logs and a made-up lower body under a waist-up person
    mostly do not (bench_detection: people 0.56-1.0; of 13 look-alikes at conf
    >= 0.25, 8 below 0.5). Boxes of ``SURE_CONF`` or more skip the check.
    """
    head = np.asarray(keypoints, dtype=float)[:, HEAD_KEYPOINTS, 2]
    if head.shape[1] < 2:
        return np.ones(len(head))
    return np.sort(head, axis=1)[:, -2]


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class _TileResult:
    boxes: np.ndarray  # (n, 4) frame pixels
    scores: np.ndarray  # (n,)
    keypoints: np.ndarray | None  # (n, k, 3) frame pixels
    cut: np.ndarray  # (n,) bool


class Detector:
    """Finds people in BGR frames. Not thread-safe: call it from one thread."""

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        tiling: tl.TilingMode = "auto",
        person_px: float | None = None,
        conf: float = 0.25,
        *,
        imgsz: int = 640,
        runtime: Runtime = "auto",
        workers: int | None = None,
        tracker: str = "botsort",
        reliable_px: float = tl.RELIABLE_PERSON_PX,
        merge_ios: float = tl.MERGE_IOS,
        min_head_kpt: float = MIN_HEAD_KPT,
        free_tiles: bool = False,
    ) -> None:
        if tiling not in tl.TILING_MODES:
            raise DetectionError(
                f"tiling must be one of {', '.join(tl.TILING_MODES)}, not {tiling!r}"
            )
        if person_px is not None and not person_px > 0:
            raise DetectionError(
                f"person_px must be a positive height in pixels, not {person_px!r}"
            )
        if not 0.0 < conf < 1.0:
            raise DetectionError(f"conf must be between 0 and 1, not {conf!r}")
        if not 0.0 <= min_head_kpt < 1.0:
            raise DetectionError(
                f"min_head_kpt must be between 0 (no keypoint check) and 1, not {min_head_kpt!r}"
            )
        if imgsz < 32 or imgsz % 32:
            raise DetectionError(f"imgsz must be a positive multiple of 32, not {imgsz!r}")
        if runtime not in RUNTIMES:
            raise DetectionError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
        if tracker not in TRACKERS:
            raise DetectionError(f"tracker must be one of {', '.join(TRACKERS)}, not {tracker!r}")
        if workers is not None and workers < 1:
            raise DetectionError(f"workers must be at least 1, not {workers!r}")
        self.tiling = tiling
        self.person_px = person_px
        self.conf = conf
        self.imgsz = imgsz
        self.reliable_px = reliable_px
        self.merge_ios = merge_ios
        self.min_head_kpt = min_head_kpt
        # free_tiles: a few large tiles (2x faster at 1080p for 45 px people) from the
        # dynamic export; it also changes the model's confidences (more foam "people",
        # one synthetic-camera swimmer lost), so it is opt-in; see bench_detection
        spec = prepare(model, runtime=runtime, imgsz=imgsz, free_size=free_tiles)
        self.model_path = spec.path
        self.runtime = spec.runtime
        # OpenVINO: one request using every core. Two requests inferring at once from
        # two Python threads deadlocked inside OpenVINO's input dispatch (seen twice,
        # both threads waiting, no CPU), so its parallelism stays inside the runtime.
        threads = 1
        if workers is None:
            workers = 1 if spec.runtime == "openvino" else default_workers()
            threads = default_workers() if spec.runtime == "openvino" else 1
        self.workers = workers
        first = load_backend(spec, threads=threads)
        self._backends: queue.Queue[Backend] = queue.Queue()
        self._backends.put(first)
        for _ in range(workers - 1):
            self._backends.put(load_backend(spec, threads=threads))
        self.names = first.names
        self.keypoints = first.kpt_shape is not None
        self._kpt_shape = first.kpt_shape
        self._person = first.person_class
        self._input_hw = first.input_size or (imgsz, imgsz)
        self._fixed_input = first.input_size is not None
        self._stride = first.stride
        self._pool = ThreadPoolExecutor(workers, "detector") if workers > 1 else None
        self._plans: dict[tuple[int, int], tl.TilePlan] = {}
        self._tracker_kind = tracker
        self._tracker: Any = None

    # -- public ---------------------------------------------------------------

    def plan(self, width: int, height: int) -> tl.TilePlan:
        """The tiles a ``width`` x ``height`` frame is cut into."""
        key = (width, height)
        if key not in self._plans:
            self._plans[key] = tl.plan_tiles(
                width,
                height,
                input_hw=self._input_hw,
                mode=self.tiling,
                person_px=self.person_px,
                reliable_px=self.reliable_px,
                fixed_input=self._fixed_input,
                stride=self._stride,
                workers=self.workers,
            )
        return self._plans[key]

    def detect(self, image_bgr: np.ndarray) -> list[Detection]:
        """People in one BGR frame, in frame pixels, most confident first."""
        image = _check_image(image_bgr)
        h, w = image.shape[:2]
        plan = self.plan(w, h)
        if self._pool is None or len(plan.tiles) == 1:
            results = [self._run_tile(image, t, w, h) for t in plan.tiles]
        else:
            results = list(self._pool.map(lambda t: self._run_tile(image, t, w, h), plan.tiles))
        return self._merge(results)

    def track(self, image_bgr: np.ndarray) -> list[Detection]:
        """As ``detect``, with ``track_id`` stable across calls; None until a track is confirmed."""
        detections = self.detect(image_bgr)
        if self._tracker is None:
            self._tracker = Tracker(kind=self._tracker_kind, conf=self.conf)
        return self._tracker.update(detections, image_bgr)

    def reset_tracks(self) -> None:
        """Forget all tracks (a new flight, a cut in the video)."""
        if self._tracker is not None:
            self._tracker.reset()

    def describe(self) -> dict[str, Any]:
        """What runs, for status lines and ``--json``."""
        return {
            "model": str(self.model_path),
            "runtime": self.runtime,
            "keypoints": self.keypoints,
            "tiling": self.tiling,
            "person_px": self.person_px,
            "conf": self.conf,
            "input_hw": list(self._input_hw),
            "workers": self.workers,
            "tracker": self._tracker_kind,
            "min_head_kpt": self.min_head_kpt if self.keypoints else None,
            "fixed_input": self._fixed_input,
        }

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ---------------------------------------------------------------

    def _run_tile(self, image: np.ndarray, tile: tl.Tile, width: int, height: int) -> _TileResult:
        batch, sx, sy = self._preprocess(image, tile)
        backend = self._backends.get(timeout=60)
        try:
            raw = backend.infer(batch)
        finally:
            self._backends.put(backend)
        det = self._nms(raw, backend)
        boxes = det[:, :4].copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]] / sx + tile.x0
        boxes[:, [1, 3]] = boxes[:, [1, 3]] / sy + tile.y0
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, width)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, height)
        kpts = None
        if self._kpt_shape is not None:
            kpts = det[:, 6:].reshape(len(det), *self._kpt_shape).copy()
            kpts[..., 0] = kpts[..., 0] / sx + tile.x0
            kpts[..., 1] = kpts[..., 1] / sy + tile.y0
        keep = self._plausible(boxes, tile, width, height)
        boxes, kpts = boxes[keep], None if kpts is None else kpts[keep]
        cut = tl.cut_by_tile_edge(boxes, tile, width, height)
        return _TileResult(boxes, det[keep, 4].copy(), kpts, cut)

    def _plausible(self, boxes: np.ndarray, tile: tl.Tile, width: int, height: int) -> np.ndarray:
        """Drop what cannot be a person: a box filling a whole tile, or one far larger than
        the expected person (the pose model sees "people" in rippled water at tile scale)."""
        keep = np.ones(len(boxes), dtype=bool)
        if (tile.width, tile.height) != (width, height):
            keep &= ~tl.fills_tile(boxes, tile)
        if self.person_px is not None:
            size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            keep &= size <= tl.MAX_PERSON_FACTOR * self.person_px
        return keep

    def _preprocess(self, image: np.ndarray, tile: tl.Tile) -> tuple[np.ndarray, float, float]:
        crop = image[tile.y0 : tile.y1, tile.x0 : tile.x1]
        in_h, in_w = self._input_hw
        new_w = round(tile.width * tile.scale)
        new_h = round(tile.height * tile.scale)
        if self._fixed_input:
            new_w, new_h = min(in_w, new_w), min(in_h, new_h)
        if (new_w, new_h) != (tile.width, tile.height):
            interp = cv2.INTER_LINEAR if tile.scale > 1 else cv2.INTER_AREA
            crop = cv2.resize(crop, (new_w, new_h), interpolation=interp)
        if self._fixed_input:  # fixed-shape exports take exactly their input size
            pad_h, pad_w = in_h, in_w
        else:  # any multiple of the stride: pad no more than needed
            pad_h = -(-new_h // self._stride) * self._stride
            pad_w = -(-new_w // self._stride) * self._stride
        canvas = np.full((pad_h, pad_w, 3), PAD_VALUE, dtype=np.uint8)
        canvas[:new_h, :new_w] = crop
        batch = canvas[None, :, :, ::-1].transpose(0, 3, 1, 2)  # BGR HWC -> RGB CHW
        batch = np.ascontiguousarray(batch, dtype=np.float32) / 255.0
        return batch, new_w / tile.width, new_h / tile.height

    def _nms(self, raw: Any, backend: Backend) -> np.ndarray:
        import torch
        from ultralytics.utils.nms import non_max_suppression

        pred = torch.from_numpy(raw) if isinstance(raw, np.ndarray) else raw
        out = non_max_suppression(
            pred,
            self.conf,
            NMS_IOU,
            classes=[self._person],
            nc=len(backend.names),
            end2end=backend.end2end,
        )[0]
        return out.detach().cpu().numpy().astype(np.float64)

    def _merge(self, results: Sequence[_TileResult]) -> list[Detection]:
        boxes = np.concatenate([r.boxes for r in results]).reshape(-1, 4)
        scores = np.concatenate([r.scores for r in results])
        kpts = None
        if self.keypoints:
            kpts = np.concatenate([r.keypoints for r in results if r.keypoints is not None])
        if len(results) == 1:
            merged = [
                tl.Merged(int(i), tuple(map(float, boxes[i])), float(scores[i]), (int(i),))
                for i in range(len(boxes))
            ]
        else:
            cut = np.concatenate([r.cut for r in results])
            tile_ids = np.concatenate([np.full(len(r.scores), k) for k, r in enumerate(results)])
            merged = tl.merge_across_tiles(boxes, scores, tile_ids, cut, self.merge_ios)
        if kpts is not None and self.min_head_kpt > 0:
            # a person cut by a seam shows its head in one of its pieces
            head = head_evidence(kpts)
            merged = [
                m
                for m in merged
                if m.score >= SURE_CONF or head[list(m.members)].max() >= self.min_head_kpt
            ]
        dets = [
            Detection(
                box_xyxy=m.box_xyxy,  # type: ignore[arg-type]
                confidence=m.score,
                keypoints=None if kpts is None else kpts[m.index],
            )
            for m in merged
        ]
        dets.sort(key=lambda d: -d.confidence)
        return dets


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise DetectionError(f"a frame must be a numpy BGR image, not {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise DetectionError(
            f"a frame must be H x W x 3 uint8 BGR, got shape {image.shape} dtype {image.dtype}"
        )
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise DetectionError(
            f"frame of {image.shape[1]}x{image.shape[0]} px is too small to search"
        )
    return image
