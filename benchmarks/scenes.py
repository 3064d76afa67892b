"""Composed aerial water scenes with ground truth, from photographs shipped in packages.

People are cut out (GrabCut seeded by traced strokes, sitl/camera/people.py) of
ultralytics' ``bus.jpg`` and ``zidane.jpg`` and scikit-image's ``astronaut.png``, scaled to
the 45-170 px a drone at 30-60 m sees, some sunk to the waist, and pasted onto
a procedural water texture. Look-alikes float among them: buoys, logs, foam,
bottles, boards and scikit-image's ``coffee.png`` cup. The frame is then JPEG
round-tripped like a video frame. Ground truth is the box of each pasted
person's visible (alpha > 0.5) pixels.

Deterministic for a given seed. Used by ``bench_detection`` and the detector
tests.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass

import cv2
import numpy as np

from sitl.camera.people import SOURCES, ZIDANE, PersonSource, grabcut, paste_bgra, read_photo

# The photographed people: the synthetic camera's sources plus Zidane, in the
# order the detector tests index them (bus x2, zidane x2, astronaut).
PEOPLE_SOURCES: tuple[PersonSource, ...] = (
    *(s for s in SOURCES if s.file == "assets/bus.jpg"),
    ZIDANE,
    *(s for s in SOURCES if s.file != "assets/bus.jpg"),
)
HEIGHTS_PX = (45.0, 170.0)


@dataclass(frozen=True)
class Cutout:
    name: str
    bgra: np.ndarray  # tight crop, alpha 0..255


@dataclass(frozen=True)
class Scene:
    name: str
    image: np.ndarray  # H x W x 3 BGR uint8
    boxes: np.ndarray  # (N, 4) ground-truth person boxes, frame pixels
    n_lookalikes: int


@functools.lru_cache(maxsize=1)
def person_cutouts() -> tuple[Cutout, ...]:
    """The people of ``PEOPLE_SOURCES`` cut out of their backgrounds."""
    return tuple(
        Cutout(p.name, grabcut(read_photo(p.package, p.file), p)[0])
        for p in PEOPLE_SOURCES
        if importlib.util.find_spec(p.package) is not None
    )


def water(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A lake surface seen from above: colour drift, ripples, fine noise, sun glints."""

    def field(cell: int) -> np.ndarray:
        small = rng.standard_normal((max(2, height // cell), max(2, width // cell))).astype(
            np.float32
        )
        return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)

    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    drift = cv2.GaussianBlur(field(96), (0, 0), 3)
    theta = rng.uniform(0, np.pi)
    wavelength = rng.uniform(14, 30)
    phase = (xx * np.cos(theta) + yy * np.sin(theta)) * (2 * np.pi / wavelength)
    ripple = np.sin(phase + 2.5 * field(24)) * (0.6 + 0.4 * field(48))
    fine = rng.standard_normal((height, width)).astype(np.float32)
    deep = np.array(rng.uniform([60, 70, 30], [95, 100, 55]), np.float32)  # BGR
    shallow = deep + np.array(rng.uniform([10, 25, 10], [25, 45, 30]), np.float32)
    mix = np.clip(0.5 + 0.35 * drift, 0, 1)[..., None]
    img = deep * (1 - mix) + shallow * mix
    img += (7 * ripple + 2.5 * fine)[..., None]
    glint = (ripple > 1.05) & (rng.random((height, width)) < 0.15)
    img[glint] += rng.uniform(60, 120)
    return np.clip(img, 0, 255).astype(np.uint8)


def _person(cutout: Cutout, visible_px: float, rng: np.random.Generator, sunk: bool) -> np.ndarray:
    bgra = cutout.bgra
    if rng.random() < 0.5:
        bgra = bgra[:, ::-1]
    visible = rng.uniform(0.55, 0.8) if sunk else 1.0
    height = max(8, round(visible_px / visible))
    width = max(4, round(bgra.shape[1] * height / bgra.shape[0]))
    out = cv2.resize(np.ascontiguousarray(bgra), (width, height), interpolation=cv2.INTER_AREA)
    gain = rng.uniform(0.8, 1.15)
    out[..., :3] = np.clip(out[..., :3].astype(np.float32) * gain, 0, 255).astype(np.uint8)
    if sunk:  # waterline: fade out below it
        line = visible * height
        ramp = np.clip((line - np.arange(height)) / max(2.0, 0.05 * height) + 0.5, 0, 1)
        out[..., 3] = (out[..., 3] * ramp[:, None]).astype(np.uint8)
    rows = np.nonzero((out[..., 3] > 127).any(axis=1))[0]
    return out[: rows.max() + 1]


def _lookalike(rng: np.random.Generator, kind: str) -> np.ndarray:
    """A floating object that is not a person, as BGRA."""
    if kind == "coffee":
        cup = read_photo("skimage", "data/coffee.png")[20:390, 30:420]
        d = round(rng.uniform(50, 120))
        img = cv2.resize(
            cup, (d, round(d * cup.shape[0] / cup.shape[1])), interpolation=cv2.INTER_AREA
        )
        alpha = np.zeros(img.shape[:2], np.uint8)
        cv2.ellipse(
            alpha,
            (img.shape[1] // 2, img.shape[0] // 2),
            (img.shape[1] // 2 - 1, img.shape[0] // 2 - 1),
            0,
            0,
            360,
            255,
            -1,
        )
        return np.dstack([img, cv2.GaussianBlur(alpha, (3, 3), 0)])
    size = {"buoy": 40, "log": 220, "foam": 140, "bottle": 40, "board": 170}[kind]
    img = np.zeros((size, size, 4), np.uint8)
    c = (size // 2, size // 2)
    angle = rng.uniform(0, 180)
    if kind == "buoy":
        r = round(rng.uniform(6, 16))
        colour = [(30, 90, 240), (40, 40, 220), (235, 235, 235), (30, 200, 240)][rng.integers(4)]
        cv2.circle(img, c, r, (*colour, 255), -1, cv2.LINE_AA)
        cv2.circle(
            img,
            (c[0] - r // 3, c[1] - r // 3),
            max(1, r // 3),
            (255, 255, 255, 255),
            -1,
            cv2.LINE_AA,
        )
    elif kind == "log":
        axes = (round(rng.uniform(25, 100)), round(rng.uniform(4, 10)))
        cv2.ellipse(img, c, axes, angle, 0, 360, (40, 70, 100, 255), -1, cv2.LINE_AA)
        cv2.ellipse(
            img,
            c,
            (axes[0], max(1, axes[1] // 3)),
            angle,
            0,
            360,
            (60, 95, 130, 255),
            -1,
            cv2.LINE_AA,
        )
    elif kind == "foam":
        for _ in range(int(rng.integers(4, 9))):
            p = (c[0] + round(rng.normal(0, 18)), c[1] + round(rng.normal(0, 12)))
            axes = (round(rng.uniform(8, 30)), round(rng.uniform(4, 14)))
            cv2.ellipse(img, p, axes, angle, 0, 360, (225, 230, 230, 200), -1, cv2.LINE_AA)
        img = cv2.GaussianBlur(img, (0, 0), 3)
    elif kind == "bottle":
        axes = (round(rng.uniform(7, 15)), round(rng.uniform(3, 5)))
        cv2.ellipse(img, c, axes, angle, 0, 360, (200, 210, 190, 255), -1, cv2.LINE_AA)
    else:  # an empty paddle board or kayak
        length, width = rng.uniform(50, 80), rng.uniform(8, 14)
        colour = [(0, 140, 255), (200, 80, 0), (40, 200, 40)][rng.integers(3)]
        pts = cv2.boxPoints((c, (2 * length, 2 * width), angle)).astype(np.int32)
        cv2.fillConvexPoly(img, pts, (*colour, 255), cv2.LINE_AA)
    ys, xs = np.nonzero(img[..., 3])
    return np.ascontiguousarray(img[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


LOOKALIKES = ("buoy", "log", "foam", "bottle", "board", "coffee")


def _place(
    taken: list[tuple[int, int, int, int]],
    w: int,
    h: int,
    bounds: tuple[int, int, int, int],
    rng: np.random.Generator,
) -> tuple[int, int] | None:
    """A free spot for a ``w`` x ``h`` object inside ``bounds`` (x0, y0, x1, y1)."""
    margin = 24
    x0, y0, x1, y1 = bounds
    for _ in range(200):
        x = int(rng.integers(x0 + 8, max(x0 + 9, x1 - w - 8)))
        y = int(rng.integers(y0 + 8, max(y0 + 9, y1 - h - 8)))
        if all(
            x + w + margin < a or a2 + margin < x or y + h + margin < b or b2 + margin < y
            for a, b, a2, b2 in taken
        ):
            return x, y
    return None


def compose(
    width: int = 1920,
    height: int = 1080,
    *,
    heights_px: list[float] | None = None,
    n_lookalikes: int = 6,
    sunk_fraction: float = 0.3,
    seed: int = 0,
    jpeg_quality: int = 85,
    people_within: tuple[int, int, int, int] | None = None,
) -> Scene:
    """A water scene with one person of each height in ``heights_px`` (visible box height),
    placed inside ``people_within`` (x0, y0, x1, y1; default the whole frame)."""
    rng = np.random.default_rng(seed)
    frame = (0, 0, width, height)
    canvas = water(width, height, rng)
    cutouts = person_cutouts()
    taken: list[tuple[int, int, int, int]] = []
    boxes = []
    for visible_px in heights_px or []:
        person = _person(
            cutouts[int(rng.integers(len(cutouts)))], visible_px, rng, rng.random() < sunk_fraction
        )
        spot = _place(taken, person.shape[1], person.shape[0], people_within or frame, rng)
        if spot is None:
            raise ValueError(f"no room for {len(heights_px or [])} people in {width}x{height}")
        x, y = spot
        paste_bgra(canvas, person, x, y)
        ys, xs = np.nonzero(person[..., 3] > 127)
        boxes.append((x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1))
        taken.append((x, y, x + person.shape[1], y + person.shape[0]))
    placed = 0
    for k in range(n_lookalikes):
        thing = _lookalike(rng, LOOKALIKES[k % len(LOOKALIKES)])
        spot = _place(taken, thing.shape[1], thing.shape[0], frame, rng)
        if spot is None:
            continue
        paste_bgra(canvas, thing, *spot)
        taken.append((spot[0], spot[1], spot[0] + thing.shape[1], spot[1] + thing.shape[0]))
        placed += 1
    ok, jpg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality])
    image = cv2.imdecode(jpg, cv2.IMREAD_COLOR) if ok else canvas
    return Scene(
        f"water-{width}x{height}-s{seed}",
        image,
        np.array(boxes, dtype=float).reshape(-1, 4),
        placed,
    )


def scene_set(
    n_scenes: int,
    width: int = 1920,
    height: int = 1080,
    *,
    people_per_scene: int = 6,
    heights_px: tuple[float, float] = HEIGHTS_PX,
    n_lookalikes: int = 6,
    seed: int = 0,
) -> list[Scene]:
    """Scenes whose people together cover ``heights_px`` evenly (stratified sizes)."""
    rng = np.random.default_rng(seed)
    total = n_scenes * people_per_scene
    lo, hi = heights_px
    sizes = lo + (hi - lo) * (np.arange(total) + rng.random(total)) / total
    rng.shuffle(sizes)
    return [
        compose(
            width,
            height,
            heights_px=list(sizes[i * people_per_scene : (i + 1) * people_per_scene]),
            n_lookalikes=n_lookalikes,
            seed=seed * 1000 + i,
        )
        for i in range(n_scenes)
    ]


def negatives(
    n_scenes: int, width: int = 1920, height: int = 1080, *, seed: int = 100
) -> list[Scene]:
    """Empty water with look-alikes only."""
    return [
        compose(width, height, heights_px=[], n_lookalikes=14, seed=seed + i)
        for i in range(n_scenes)
    ]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of xyxy boxes, (len(a), len(b))."""
    a = np.asarray(a, float).reshape(-1, 4)[:, None]
    b = np.asarray(b, float).reshape(-1, 4)[None]
    iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / np.maximum(area_a + area_b - inter, 1e-9)


@dataclass(frozen=True)
class Match:
    found: np.ndarray  # (n_truth,) bool: each true person matched by a detection
    false: int  # detections matching no one (duplicates included)


MATCH_IOU = 0.4  # small boxes: a few pixels of disagreement costs a lot of IoU


def match(predicted: np.ndarray, truth: np.ndarray, iou: float = MATCH_IOU) -> Match:
    """Greedy one-to-one matching of predicted to true boxes, best IoU first."""
    predicted = np.asarray(predicted, float).reshape(-1, 4)
    truth = np.asarray(truth, float).reshape(-1, 4)
    found = np.zeros(len(truth), bool)
    used = np.zeros(len(predicted), bool)
    if len(predicted) and len(truth):
        ious = box_iou(predicted, truth)
        for flat in np.argsort(-ious, axis=None):
            p, t = np.unravel_index(flat, ious.shape)
            if ious[p, t] < iou:
                break
            if not used[p] and not found[t]:
                used[p] = found[t] = True
    return Match(found, int((~used).sum()))
