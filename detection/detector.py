"""The person detector: tiled YOLO inference, merged across tiles, optionally tracked.

``Detector.detect`` cuts the frame into the tiles of ``detection.tiling``
(by default a few large tiles: the model takes any input size), runs each
tile through the model (OpenVINO: one request on every core; other runtimes:
single-thread workers, each with its own model instance), maps the boxes and
keypoints back to frame pixels and merges them across tiles. Then look-alikes
are weeded out: with a pose model, every box must show a head and a shoulder
(``_shows_a_body``), and an unsure one must stand a second, closer look
(``_confirmed``).

Two stages: a detect model (the aerial detector, ``detection/weights``) has no
keypoints, so the pose model looks at each found person's enlarged crop
(``_with_pose``) for the keypoints the distress rules read. A pose model
passed as ``model`` does both at once (one stage).
``Detector.track`` adds stable track ids (``detection.tracking``).
"""

from __future__ import annotations

import dataclasses
import math
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
from detection.model import RUNTIMES, Backend, default_weights, load_backend, prepare
from detection.tracking import TRACKERS, Tracker
from detection.types import Detection

Runtime = Literal["auto", "openvino", "onnx", "torch"]
PAD_VALUE = 114  # ultralytics' letterbox grey
NMS_IOU = 0.7  # within one tile, as ultralytics predicts
MAX_DET = 300
HEAD_KEYPOINTS = slice(0, 5)  # COCO: nose, eyes, ears
SHOULDER_KEYPOINTS = slice(5, 7)
UPPER_BODY = slice(0, 7)
COCO_KEYPOINTS = 17  # the checks below read COCO's keypoint order
MIN_HEAD_KPT = 0.5  # see head_evidence
MIN_SHOULDER_KPT = 0.8  # see shoulder_evidence
SURE_CONF = 0.8  # this sure a box needs no full head (a person seen from behind), see _shows_a_body
SECOND_LOOK_PX = 256  # model pixels of the closer look at an unsure box
SECOND_LOOK_CONTEXT = 2.0  # its crop's side, in the box's longer sides
POSE_CONF_DEFAULT = 0.25  # a pose model's (one-stage) threshold, see bench_detection
# The aerial detector (a detect model), chosen on the val split of aerial-people
# (bench_real_detection; never on aerial-people-eval):
AERIAL_CONF = 0.4  # lake scene 7/9 found, 0 false; North Sea 184/206, 24 false
# see _run_tile; at conf 0.25 with the second look: North Sea 192 found, 45 false -> 185, 18
AERIAL_NESTED_IOS = 0.5
AERIAL_RELIABLE_PX = 20.0  # enlarging 20 px people 1.6x lost people (lake 6/9 vs 8/9)
POSE_PX = 256  # model pixels of the pose stage's crop around a found person
POSE_CONTEXT = 2.0  # its side, in the box's longer sides: room for raised arms
POSE_CONF = 0.1  # the pose stage reads keypoints off whatever person it sees over the box


def head_evidence(keypoints: np.ndarray) -> np.ndarray:
    """How surely the pose head sees a head: the second most confident of the five head
    keypoints, per detection (``keypoints`` is (n, 17, 3)).

    A person, whole, waist-up or sunk to the shoulders, shows two or more of nose,
    eyes and ears; foam, logs and a made-up lower body under a waist-up person
    mostly do not (bench_detection: people 0.56-1.0; of 13 look-alikes at conf
    >= 0.25, 8 below 0.5). See ``Detector._shows_a_body``.
    """
    head = np.asarray(keypoints, dtype=float)[:, HEAD_KEYPOINTS, 2]
    return np.sort(head, axis=1)[:, -2]


def shoulder_evidence(keypoints: np.ndarray) -> np.ndarray:
    """How surely the pose head sees a shoulder: the surer of the two, per detection.

    Foam blobs on water fool the head check (white blobs get a nose and both eyes
    at 0.9) but seldom the shoulders: of 23 look-alikes at conf >= 0.1 in 36 composed
    1080p scenes, those with a head scored 0.33-0.73 on their better shoulder,
    while all 145 people found, waist-up and sunk ones included, scored 0.89-1.0
    (bench_detection; a blob at 0.86 in another set is left to the second look).
    """
    return np.asarray(keypoints, dtype=float)[:, SHOULDER_KEYPOINTS, 2].max(axis=1)


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
        conf: float | None = None,
        *,
        imgsz: int = 640,
        runtime: Runtime = "auto",
        workers: int | None = None,
        tracker: str = "botsort",
        reliable_px: float | None = None,
        merge_ios: float = tl.MERGE_IOS,
        nested_ios: float | None = None,
        min_head_kpt: float = MIN_HEAD_KPT,
        min_shoulder_kpt: float = MIN_SHOULDER_KPT,
        free_tiles: bool = True,
        second_look: bool | None = None,
        pose: bool | str | os.PathLike[str] = True,
        pose_check: bool = False,
    ) -> None:
        if tiling not in tl.TILING_MODES:
            raise DetectionError(
                f"tiling must be one of {', '.join(tl.TILING_MODES)}, not {tiling!r}"
            )
        if person_px is not None and not person_px > 0:
            raise DetectionError(
                f"person_px must be a positive height in pixels, not {person_px!r}"
            )
        if conf is not None and not 0.0 < conf < 1.0:
            raise DetectionError(f"conf must be between 0 and 1, not {conf!r}")
        for name, value in (("min_head_kpt", min_head_kpt), ("min_shoulder_kpt", min_shoulder_kpt)):
            if not 0.0 <= value < 1.0:
                raise DetectionError(
                    f"{name} must be between 0 (no keypoint check) and 1, not {value!r}"
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
        self.imgsz = imgsz
        self.merge_ios = merge_ios
        self.min_head_kpt = min_head_kpt
        self.min_shoulder_kpt = min_shoulder_kpt
        self.pose_check = pose_check
        # free_tiles: a few large tiles from the dynamic export instead of 640 px squares
        # (1.5x faster at 1080p for 45 px people, and more people found: the whole-frame
        # attention block sees them in context); False runs the fixed 640 export
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
        if reliable_px is None:  # the pose model needs people larger than the aerial detector
            reliable_px = tl.RELIABLE_PERSON_PX if self.keypoints else AERIAL_RELIABLE_PX
        self.reliable_px = reliable_px
        # operating points measured per kind of model: bench_detection (pose), bench_real
        self.conf = (
            conf if conf is not None else (POSE_CONF_DEFAULT if self.keypoints else AERIAL_CONF)
        )
        self.second_look = self.keypoints if second_look is None else second_look
        if nested_ios is None:
            nested_ios = 1.0 if self.keypoints else AERIAL_NESTED_IOS
        self.nested_ios = nested_ios
        self._kpt_shape = first.kpt_shape
        self._person = first.person_class
        self._input_hw = first.input_size or (imgsz, imgsz)
        self._fixed_input = first.input_size is not None
        self._stride = first.stride
        self._pool = ThreadPoolExecutor(workers, "detector") if workers > 1 else None
        self._plans: dict[tuple[int, int], tl.TilePlan] = {}
        self._tracker_kind = tracker
        self._tracker: Any = None
        # the second stage: a detect model's people get keypoints from the pose model
        self._pose: Detector | None = None
        if not self.keypoints and (pose is not False or pose_check):
            pose_model = default_weights() if pose is True or pose is False else pose
            self._pose = Detector(
                pose_model,
                tiling="off",
                conf=POSE_CONF,
                runtime=runtime,
                workers=1,
                free_tiles=free_tiles,
                second_look=False,
                pose=False,
            )
            if not self._pose.keypoints:
                self._pose.close()
                raise DetectionError(f"pose model {pose_model} has no keypoints; pass a pose model")

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
        results = self._map(lambda t: self._run_tile(image, t, w, h), plan.tiles)
        found = self._merge(results)
        if self.second_look:
            stands = self._map(
                lambda d: d.confidence >= SURE_CONF or self._confirmed(image, d), found
            )
            found = [d for d, ok in zip(found, stands, strict=True) if ok]
        if self._pose is None:
            return found
        posed = self._map(lambda d: self._with_pose(image, d), found)
        if self.pose_check:  # a look-alike filter: the pose model must see a person too
            return [d for d in posed if d.keypoints is not None]
        return posed

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
            "min_shoulder_kpt": self.min_shoulder_kpt if self.keypoints else None,
            "second_look": self.second_look,
            "fixed_input": self._fixed_input,
            "pose_model": None if self._pose is None else str(self._pose.model_path),
            "pose_check": self.pose_check,
        }

    def close(self) -> None:
        if self._pose is not None:
            self._pose.close()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __enter__(self) -> Detector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- inside ---------------------------------------------------------------

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        if self._pool is None or len(items) < 2:
            return [fn(x) for x in items]
        return list(self._pool.map(fn, items))

    def _shows_a_body(self, score: float, keypoints: np.ndarray) -> bool:
        """The first look's keypoint check on a box's pieces (``keypoints``: (n, 17, 3)).

        A sure box needs any head or shoulder keypoint (an arm or a leg alone is a
        person's box misplaced: a lying swimmer boxed by one arm at 0.90); an unsure one
        a head and a shoulder.
        """
        if score >= SURE_CONF:
            return bool(keypoints[:, UPPER_BODY, 2].max() >= self.min_head_kpt)
        return bool(
            head_evidence(keypoints).max() >= self.min_head_kpt
            and shoulder_evidence(keypoints).max() >= self.min_shoulder_kpt
        )

    def _with_pose(self, image: np.ndarray, det: Detection) -> Detection:
        """``det`` with the keypoints the pose model reads off a crop ``POSE_CONTEXT`` times
        its size around it, enlarged to ``POSE_PX``: of the people it sees over the box's
        centre, the surest. Without one the keypoints stay None (the rules cannot tell)."""
        assert self._pose is not None
        height, width = image.shape[:2]
        tile = _crop_around(det.box_xyxy, POSE_CONTEXT, POSE_PX, width, height)
        side = (POSE_PX, POSE_PX)
        found = self._pose._run_tile(image, tile, width, height, canvas_hw=side, plausible=False)
        best = _best_over_centre(found, det.box_xyxy)
        if best is None or found.keypoints is None:
            return det
        return dataclasses.replace(det, keypoints=found.keypoints[best])

    def _confirmed(self, image: np.ndarray, det: Detection) -> bool:
        """A second, closer look at an unsure box: a crop ``SECOND_LOOK_CONTEXT`` times its
        size around it, enlarged to ``SECOND_LOOK_PX``. The box stands when the model again
        finds a person over its centre, as sure as ``conf``, with a shoulder (the head is
        judged at the first look: closer, a person seen from behind can lose it).

        Most foam blobs that fool the first look vanish at the second (bench_detection). No
        stricter score: upright people seen closer scored 0.64-0.89, but a swimmer lying
        across the view only 0.40-0.48 (synthetic camera), and a threshold of 0.5 lost
        one pond swimmer in 3 of 25 views and with it the end-to-end test's alert. About
        5-8 ms a box on 2 cores.
        """
        height, width = image.shape[:2]
        tile = _crop_around(det.box_xyxy, SECOND_LOOK_CONTEXT, SECOND_LOOK_PX, width, height)
        side = (SECOND_LOOK_PX, SECOND_LOOK_PX)  # one shape: OpenVINO compiles it once
        found = self._run_tile(image, tile, width, height, canvas_hw=side, plausible=False)
        best = _best_over_centre(found, det.box_xyxy)
        if best is None:
            return False
        if found.keypoints is None:
            return True
        kpts = found.keypoints[best : best + 1]
        return bool(shoulder_evidence(kpts)[0] >= self.min_shoulder_kpt)

    def _run_tile(
        self,
        image: np.ndarray,
        tile: tl.Tile,
        width: int,
        height: int,
        *,
        canvas_hw: tuple[int, int] | None = None,
        plausible: bool = True,
    ) -> _TileResult:
        batch, sx, sy = self._preprocess(image, tile, canvas_hw)
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
        keep = self._plausible(boxes, tile, width, height) if plausible else np.ones(len(det), bool)
        if self.nested_ios < 1.0:
            # the aerial detector boxes a swimmer twice, whole and half (or with the splash),
            # at IoU under NMS_IOU; the lesser box lies mostly inside the other
            keep &= tl.not_nested(boxes, det[:, 4], self.nested_ios)
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

    def _preprocess(
        self, image: np.ndarray, tile: tl.Tile, canvas_hw: tuple[int, int] | None = None
    ) -> tuple[np.ndarray, float, float]:
        """The tile resized by its scale onto a grey canvas: the model's fixed input, else
        ``canvas_hw``, else the resized tile padded to the stride."""
        crop = image[tile.y0 : tile.y1, tile.x0 : tile.x1]
        new_w = round(tile.width * tile.scale)
        new_h = round(tile.height * tile.scale)
        if self._fixed_input:  # fixed-shape exports take exactly their input size
            canvas_hw = self._input_hw
        if canvas_hw is not None:
            pad_h, pad_w = canvas_hw
            new_w, new_h = min(pad_w, new_w), min(pad_h, new_h)
        else:  # any multiple of the stride: pad no more than needed
            pad_h = -(-new_h // self._stride) * self._stride
            pad_w = -(-new_w // self._stride) * self._stride
        if (new_w, new_h) != (tile.width, tile.height):
            interp = cv2.INTER_LINEAR if tile.scale > 1 else cv2.INTER_AREA
            crop = cv2.resize(crop, (new_w, new_h), interpolation=interp)
        canvas = np.full((1, pad_h, pad_w, 3), PAD_VALUE, dtype=np.uint8)
        canvas[0, :new_h, :new_w] = crop
        return canvas, new_w / tile.width, new_h / tile.height

    def _nms(self, raw: Any, backend: Backend) -> np.ndarray:
        """Person rows ``x1 y1 x2 y2 conf class [keypoints...]`` of one raw head output.

        numpy and OpenCV rather than ultralytics' torch NMS: a 1080p frame's two large
        tiles have ~60,000 anchors each, and torch's threads took 30 ms a tile under load.
        """
        out = raw.detach().cpu().numpy() if hasattr(raw, "detach") else np.asarray(raw)
        out = out[0].astype(np.float64, copy=False)
        nc = len(backend.names)
        if backend.end2end:  # already one box per object: (max_det, 6 + extra)
            keep = (out[:, 4] > self.conf) & (out[:, 5] == self._person)
            return out[keep]
        classes = out[4 : 4 + nc]
        cls = classes.argmax(axis=0) if nc > 1 else np.zeros(out.shape[1], dtype=int)
        score = classes[cls, np.arange(out.shape[1])]
        idx = np.flatnonzero((score > self.conf) & (cls == self._person))
        if not len(idx):
            return np.zeros((0, 6 + out.shape[0] - 4 - nc))
        cx, cy, w, h = out[:4, idx]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        kept = cv2.dnn.NMSBoxes(
            np.stack([boxes[:, 0], boxes[:, 1], w, h], axis=1).tolist(),
            score[idx].tolist(),
            self.conf,
            NMS_IOU,
            top_k=MAX_DET,
        )
        kept = np.asarray(kept, dtype=int).reshape(-1)
        return np.concatenate(
            [
                boxes[kept],
                score[idx][kept, None],
                np.full((len(kept), 1), float(self._person)),
                out[4 + nc :, idx[kept]].T,
            ],
            axis=1,
        )

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
        if kpts is not None and kpts.shape[1] == COCO_KEYPOINTS:
            # a person cut by a seam shows its head and shoulders in one of its pieces
            merged = [m for m in merged if self._shows_a_body(m.score, kpts[list(m.members)])]
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


def _crop_around(
    box: tuple[float, float, float, float], context: float, model_px: int, width: int, height: int
) -> tl.Tile:
    """A square of ``context`` times the box's longer side around its centre (clipped to the
    frame), scaled so that the square fills ``model_px`` model pixels."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = context * max(x1 - x0, y1 - y0, 1.0) / 2
    return tl.Tile(
        max(0, int(cx - half)),
        max(0, int(cy - half)),
        min(width, math.ceil(cx + half)),
        min(height, math.ceil(cy + half)),
        model_px / (2 * half),
    )


def _best_over_centre(found: _TileResult, box: tuple[float, float, float, float]) -> int | None:
    """The surest of ``found`` whose box covers the centre of ``box``."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    b = found.boxes
    over = (b[:, 0] <= cx) & (cx <= b[:, 2]) & (b[:, 1] <= cy) & (cy <= b[:, 3])
    if not over.any():
        return None
    return int(np.flatnonzero(over)[found.scores[over].argmax()])


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
