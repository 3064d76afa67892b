"""Tile layout for small people, and merging detections across tiles. Pure computation.

The model finds people reliably once they are about ``RELIABLE_PERSON_PX``
tall in its input (measured by ``benchmarks.bench_detection``). So the
enlargement is chosen from the expected person height in the frame (from the
ground sample distance), and the frame is cut into overlapping tiles that fill
the model input at that enlargement. A frame whose people are already large
enough runs as one letterboxed full frame.

A model that takes any input size (``fixed_input=False``: the dynamic ONNX
export, PyTorch) is not held to 640 px squares: the frame is cut into the
fewest large tiles that keep every worker busy, each padded only to the
stride. At 1920x1080 for 45 px people that is 2 tiles of 1728x1920 model
pixels instead of 24 tiles of 640x640, with the same enlargement: 35% fewer
pixels, because the overlap between tiles (which must hold a whole person)
is paid twice instead of 38 times.

Cut boxes are merged on intersection over the *smaller* box, not IoU: a
person cut by a tile edge leaves a partial box inside the whole one, whose
IoU is low but whose IoS is near 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

TilingMode = Literal["auto", "on", "off"]
TILING_MODES: tuple[str, ...] = ("auto", "on", "off")

RELIABLE_PERSON_PX = 78.0  # person height in model-input pixels found reliably (bench_detection)
MAX_ENLARGEMENT = 3.0  # beyond this, enlarging adds cost, not detail
DEFAULT_OVERLAP = 0.2  # fraction of the tile side when the person size is unknown
MIN_OVERLAP = 0.1
PERSON_OVERLAP = 1.2  # overlap >= 1.2 expected person heights: everyone is whole in some tile
MERGE_IOS = 0.5
SEAM_SPAN = 0.8  # cut pieces covering this much of the same rows (or columns) are one person
EDGE_MARGIN_PX = 8.0  # a box this close (model pixels) to an inner tile edge is cut
FILLS_TILE = 0.9  # a box this much of a tile's width and height is the texture, not a person
MAX_PERSON_FACTOR = 8.0  # boxes larger than this many expected person heights are not people
MAX_FREE_SIDE = 1920  # model pixels per side of a free-size tile (memory, and latency per call)
TILE_OVERHEAD_PX = 40_000  # a model call's fixed cost (preprocess, NMS), in model pixels


@dataclass(frozen=True)
class Tile:
    """A crop of the frame, ``[x0, x1) x [y0, y1)`` in frame pixels, run at ``scale``."""

    x0: int
    y0: int
    x1: int
    y1: int
    scale: float  # model-input pixels per frame pixel

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0


@dataclass(frozen=True)
class TilePlan:
    width: int
    height: int
    scale: float
    tiles: tuple[Tile, ...]

    @property
    def full_frame(self) -> bool:
        return len(self.tiles) == 1 and self.tiles[0] == Tile(
            0, 0, self.width, self.height, self.scale
        )


def choose_scale(
    width: int,
    height: int,
    *,
    input_hw: tuple[int, int] = (640, 640),
    mode: TilingMode = "auto",
    person_px: float | None = None,
    reliable_px: float = RELIABLE_PERSON_PX,
) -> float:
    """Model pixels per frame pixel.

    ``off``: the whole frame letterboxed into the input. ``auto``: enough
    enlargement to make a ``person_px`` person ``reliable_px`` tall, never less
    than the full-frame scale; native resolution when the size is unknown.
    ``on``: as ``auto`` but never below native resolution.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    if mode not in TILING_MODES:
        raise ValueError(f"tiling must be one of {', '.join(TILING_MODES)}, got {mode!r}")
    if person_px is not None and person_px <= 0:
        raise ValueError(f"person_px must be positive, got {person_px}")
    full = min(input_hw[0] / height, input_hw[1] / width)
    if mode == "off":
        return full
    wanted = 1.0 if person_px is None else min(reliable_px / person_px, MAX_ENLARGEMENT)
    if mode == "on":
        wanted = max(wanted, 1.0)
    return max(wanted, full)


def axis_starts(length: int, side: int, overlap: float) -> list[int]:
    """Evenly spread starts of ``side``-long windows covering ``[0, length)``, overlapping
    by at least ``overlap``."""
    if side >= length:
        return [0]
    n = math.ceil((length - overlap) / (side - overlap))
    n = max(n, 2)
    step = (length - side) / (n - 1)
    return [round(i * step) for i in range(n)]


def plan_tiles(
    width: int,
    height: int,
    *,
    input_hw: tuple[int, int] = (640, 640),
    mode: TilingMode = "auto",
    person_px: float | None = None,
    reliable_px: float = RELIABLE_PERSON_PX,
    fixed_input: bool = True,
    stride: int = 32,
    workers: int = 1,
) -> TilePlan:
    """The tiles to run for a ``width`` x ``height`` frame.

    ``fixed_input``: every tile fills ``input_hw``. The grid is the fewest
    tiles that reach the chosen enlargement; the tiles are then shrunk to just
    cover the frame with that grid, which enlarges a little more at no extra
    cost. Otherwise tiles may have any size up to ``MAX_FREE_SIDE`` model
    pixels, padded to ``stride``, and the grid is the one that finishes
    soonest on ``workers`` parallel workers (``free_grid``); ``input_hw``
    then only sets the full-frame scale of ``mode="off"``.
    """
    scale = choose_scale(
        width, height, input_hw=input_hw, mode=mode, person_px=person_px, reliable_px=reliable_px
    )
    if not fixed_input:
        if mode == "off":
            return TilePlan(width, height, scale, (Tile(0, 0, width, height, scale),))
        return free_grid(width, height, scale, person_px, stride=stride, workers=workers)
    in_h, in_w = input_hw
    side_w = min(width, math.floor(in_w / scale + 1e-6))
    side_h = min(height, math.floor(in_h / scale + 1e-6))
    if side_w >= width and side_h >= height:
        return TilePlan(width, height, scale, (Tile(0, 0, width, height, scale),))

    def overlap(side: int) -> float:
        return _overlap(side, person_px)

    ov_w, ov_h = overlap(side_w), overlap(side_h)
    n_w = len(axis_starts(width, side_w, ov_w))
    n_h = len(axis_starts(height, side_h, ov_h))
    need_w = math.ceil((width + (n_w - 1) * ov_w) / n_w)
    need_h = math.ceil((height + (n_h - 1) * ov_h) / n_h)
    fitted = min(in_w / need_w, in_h / need_h, max(scale, MAX_ENLARGEMENT))
    if fitted > scale:
        scale = fitted
        side_w = min(width, math.floor(in_w / scale + 1e-6))
        side_h = min(height, math.floor(in_h / scale + 1e-6))
    tiles = tuple(
        Tile(x, y, x + side_w, y + side_h, scale)
        for y in axis_starts(height, side_h, ov_h)
        for x in axis_starts(width, side_w, ov_w)
    )
    return TilePlan(width, height, scale, tiles)


def _overlap(side: int, person_px: float | None) -> float:
    if person_px is None:
        return DEFAULT_OVERLAP * side
    return min(max(PERSON_OVERLAP * person_px, MIN_OVERLAP * side), side / 2)


def model_side(frame_px: int, scale: float, stride: int) -> int:
    """Model-input pixels for ``frame_px`` frame pixels at ``scale``, padded to ``stride``."""
    return -(-round(frame_px * scale) // stride) * stride


def free_grid(
    width: int,
    height: int,
    scale: float,
    person_px: float | None,
    *,
    stride: int = 32,
    workers: int = 1,
    max_side: int = MAX_FREE_SIDE,
) -> TilePlan:
    """Tiles of any size for a model that takes any input: of the grids whose tiles fit
    ``max_side``, the one with the least padded model pixels per worker (the slowest
    worker's share), then the least in all."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    max_frame = max(1, math.floor(max_side / scale + 1e-6))  # frame pixels per tile side
    # a whole person of the expected size, or what a 640 px model tile would overlap
    wanted = PERSON_OVERLAP * person_px if person_px else DEFAULT_OVERLAP * 640 / scale

    def sides(length: int, n: int) -> tuple[int, float] | None:
        if n == 1:
            return (length, 0.0) if length <= max_frame else None
        side = math.ceil((length + (n - 1) * wanted) / n)
        if side < 2 * wanted or side > min(length, max_frame):
            return None  # tiles too small to hold a whole person, or too large for the model
        return side, wanted

    best: tuple[float, float, TilePlan] | None = None
    limit_w = math.ceil(width / max(1.0, max_frame / 2)) + workers + 1
    limit_h = math.ceil(height / max(1.0, max_frame / 2)) + workers + 1
    for n_w in range(1, limit_w + 1):
        along_w = sides(width, n_w)
        if along_w is None:
            continue
        for n_h in range(1, limit_h + 1):
            along_h = sides(height, n_h)
            if along_h is None:
                continue
            (side_w, ov_w), (side_h, ov_h) = along_w, along_h
            px = model_side(side_w, scale, stride) * model_side(side_h, scale, stride)
            n = n_w * n_h
            px += TILE_OVERHEAD_PX
            cost = (math.ceil(n / workers) * px, n * px)
            if best is None or cost < best[:2]:
                # enlarge into the stride padding, at no cost
                mw, mh = model_side(side_w, scale, stride), model_side(side_h, scale, stride)
                fit = min(mw / side_w, mh / side_h, max(scale, MAX_ENLARGEMENT))
                fit = max(scale, math.floor(fit * 1e6) / 1e6)
                tiles = tuple(
                    Tile(x, y, x + side_w, y + side_h, fit)
                    for y in axis_starts(height, side_h, ov_h)
                    for x in axis_starts(width, side_w, ov_w)
                )
                best = (*cost, TilePlan(width, height, fit, tiles))
    if best is None:  # pragma: no cover - one-pixel tiles always fit
        raise ValueError(f"no tile grid fits {width}x{height} at scale {scale}")
    return best[2]


def cut_by_tile_edge(
    boxes: np.ndarray, tile: Tile, width: int, height: int, margin_px: float = EDGE_MARGIN_PX
) -> np.ndarray:
    """Which frame-pixel boxes touch an edge of ``tile`` that lies inside the frame."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    m = margin_px / tile.scale
    cut = np.zeros(len(boxes), dtype=bool)
    if tile.x0 > 0:
        cut |= boxes[:, 0] <= tile.x0 + m
    if tile.y0 > 0:
        cut |= boxes[:, 1] <= tile.y0 + m
    if tile.x1 < width:
        cut |= boxes[:, 2] >= tile.x1 - m
    if tile.y1 < height:
        cut |= boxes[:, 3] >= tile.y1 - m
    return cut


def fills_tile(boxes: np.ndarray, tile: Tile, fraction: float = FILLS_TILE) -> np.ndarray:
    """Which boxes span nearly the whole tile: the model's "person" on empty water texture."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    wide = boxes[:, 2] - boxes[:, 0] >= fraction * tile.width
    tall = boxes[:, 3] - boxes[:, 1] >= fraction * tile.height
    return wide & tall


def intersection_over_smaller(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoS of one xyxy box against many."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    smaller = np.minimum(area, areas)
    return np.where(smaller > 0, inter / np.where(smaller > 0, smaller, 1), 0.0)


def not_nested(boxes: np.ndarray, scores: np.ndarray, ios_threshold: float) -> np.ndarray:
    """Greedy NMS on intersection over the smaller box: which boxes no surer box covers by
    ``ios_threshold`` of the smaller one."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    keep = np.ones(len(boxes), dtype=bool)
    for i in np.argsort(-np.asarray(scores, dtype=float), kind="stable"):
        if not keep[i]:
            continue
        later = keep.copy()
        later[i] = False
        others = np.flatnonzero(later)
        ios = intersection_over_smaller(boxes[i], boxes[others])
        lower = np.asarray(scores)[others] <= scores[i]
        keep[others[(ios >= ios_threshold) & lower]] = False
    return keep


@dataclass(frozen=True)
class Merged:
    index: int  # the detection whose keypoints represent the group
    box_xyxy: tuple[float, float, float, float]
    score: float
    members: tuple[int, ...] = ()  # every detection merged into this one, ``index`` included


def merge_across_tiles(
    boxes: np.ndarray,
    scores: np.ndarray,
    tile_ids: np.ndarray,
    cut: np.ndarray,
    ios_threshold: float = MERGE_IOS,
) -> list[Merged]:
    """Greedy NMS across tiles on intersection over the smaller box.

    Two whole boxes from the same tile never suppress each other (the model's
    own NMS already separated them); any pair with a box from another tile, or
    with a box cut by a tile edge, does. A cut box ranks at half its score, so
    the whole view of a person from a neighbouring tile wins. When the best
    view is itself cut (the person is larger than the overlap), the cut pieces
    are joined into their union box.
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    scores = np.asarray(scores, dtype=float).reshape(-1)
    tile_ids = np.asarray(tile_ids).reshape(-1)
    cut = np.asarray(cut, dtype=bool).reshape(-1)
    if not (len(boxes) == len(scores) == len(tile_ids) == len(cut)):
        raise ValueError("boxes, scores, tile_ids and cut must have the same length")
    rank = scores * np.where(cut, 0.5, 1.0)
    order = np.argsort(-rank, kind="stable")
    alive = np.ones(len(boxes), dtype=bool)
    merged: list[Merged] = []
    for i in order:
        if not alive[i]:
            continue
        alive[i] = False
        mergeable = alive & ((tile_ids != tile_ids[i]) | cut | cut[i])
        others = np.flatnonzero(mergeable)
        group = others[intersection_over_smaller(boxes[i], boxes[others]) >= ios_threshold]
        alive[group] = False
        box = boxes[i]
        if cut[i]:
            # grow the union with further confident cut pieces of the same person,
            # then drop whatever else lies mostly inside it
            best = max(scores[i], scores[group].max() if len(group) else 0.0)
            confident = scores >= 0.5 * best  # a faint piece must not stretch the box
            members = np.concatenate(([i], group[confident[group]]))
            while True:
                box = _union(boxes[members])
                pieces = np.flatnonzero(alive & cut & confident)
                joins = intersection_over_smaller(box, boxes[pieces]) >= ios_threshold
                more = pieces[joins | across_a_seam(box, boxes[pieces])]
                if not len(more):
                    break
                alive[more] = False
                group = np.concatenate((group, more))
                members = np.concatenate((members, more))
            rest = np.flatnonzero(alive)
            inside = rest[intersection_over_smaller(box, boxes[rest]) >= ios_threshold]
            alive[inside] = False
            group = np.concatenate((group, inside))
        score = float(max(scores[i], scores[group].max() if len(group) else 0.0))
        merged.append(
            Merged(
                int(i),
                (float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                score,
                (int(i), *(int(g) for g in group)),
            )
        )
    return merged


def across_a_seam(box: np.ndarray, boxes: np.ndarray, span: float = SEAM_SPAN) -> np.ndarray:
    """Which boxes continue ``box`` across a tile seam: they touch it and cover the same
    rows (a vertical seam) or the same columns (a horizontal one). Two halves of a wide
    person overlap only by the tile overlap, too little for IoS."""
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)

    def span_iou(lo: int, hi: int) -> np.ndarray:
        inter = np.minimum(box[hi], boxes[:, hi]) - np.maximum(box[lo], boxes[:, lo])
        union = np.maximum(box[hi], boxes[:, hi]) - np.minimum(box[lo], boxes[:, lo])
        return np.clip(inter, 0, None) / np.maximum(union, 1e-9)

    touch = (span_iou(0, 2) > 0) & (span_iou(1, 3) > 0)
    return touch & ((span_iou(1, 3) >= span) | (span_iou(0, 2) >= span))


def _union(boxes: np.ndarray) -> np.ndarray:
    return np.array([*boxes[:, :2].min(axis=0), *boxes[:, 2:].max(axis=0)])
