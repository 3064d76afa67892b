"""Turn the real aerial frames into a training set a small CPU can learn from.

The frames are 1920x1080 with swimmers 20-100 px; letterboxed whole into a
640 px input they shrink to 7-33 px, which a CPU-sized run cannot learn
well. So the training set is made of 640 px tiles:

- positives: crops around a random labelled person, at a random zoom;
- negatives: crops of people-free water, including the frames without people;
- synthetic: swimmers cut from the training frames and pasted, feathered, on
  other water, recoloured water and made-up water (another hue, ripples,
  glints), the whole tile then shifted in hue, brightness and contrast,
  blurred and JPEG-recompressed: the model must not learn one sea's colour.

Boats and jetskis carry unlabelled riders (``boats.json``): they are greyed
out so the model is neither taught to call them people nor to ignore people.
Validation tiles cover each val frame at native scale, so the metrics
ultralytics prints during training are at the scale the detector runs.

Pure computation apart from reading the source and writing the output folder;
one seeded generator makes the result reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
GREY = 114  # ultralytics' pad grey: "nothing here"
MIN_VISIBLE = 0.6  # a person cut by a tile edge stays labelled when this much of them is inside


@dataclass(frozen=True)
class Frame:
    path: Path
    boxes: np.ndarray  # (n, 4) xyxy pixels
    boats: np.ndarray  # (m, 4) xyxy pixels
    size: tuple[int, int] = (0, 0)  # width, height


@dataclass(frozen=True)
class DatasetSettings:
    tile: int = 640
    positives_per_frame: int = 3
    zoom: tuple[float, float] = (0.7, 1.8)  # model pixels per frame pixel in positive tiles
    negatives_per_frame: int = 1
    synthetic: int = 200  # pasted tiles
    pastes_per_tile: tuple[int, int] = (1, 6)
    paste_scale: tuple[float, float] = (0.5, 1.6)
    val_overlap: float = 0.15

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> DatasetSettings:
        known = set(cls.__dataclass_fields__)
        unknown = set(raw) - known
        if unknown:
            raise ValueError(
                f"unknown dataset setting(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()}
        return cls(**values)


def read_split(root: Path, split: str) -> list[Frame]:
    """The frames of ``root/images/<split>`` with their person and boat boxes in pixels."""
    boats_file = root / "boats.json"
    boats = json.loads(boats_file.read_text()) if boats_file.is_file() else {}
    folder = root / "images" / split
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is missing: expected the ultralytics layout")
    frames = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
        h, w = _image_size(path)
        label = root / "labels" / split / f"{path.stem}.txt"
        rows = np.loadtxt(label, ndmin=2) if label.is_file() and label.stat().st_size else None
        boxes = np.zeros((0, 4))
        if rows is not None and len(rows):
            cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
            boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
        key = f"images/{split}/{path.name}"
        boat_boxes = np.asarray(boats.get(key, []), float).reshape(-1, 4)
        frames.append(Frame(path, boxes, boat_boxes, (w, h)))
    return frames


def _image_size(path: Path) -> tuple[int, int]:
    image = cv2.imread(str(path))
    if image is None:
        raise ValueError(f"cannot read image {path}")
    return image.shape[:2]


def data_hash(root: Path) -> str:
    """sha256 over every file of the source dataset (names and bytes), in name order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def load(frame: Frame) -> np.ndarray:
    """The frame with its boats greyed out."""
    image = cv2.imread(str(frame.path))
    for x0, y0, x1, y1 in frame.boats.astype(int):
        image[max(0, y0) : y1, max(0, x0) : x1] = GREY
    return image


def crop_labels(boxes: np.ndarray, x0: float, y0: float, side: float, out: int) -> np.ndarray:
    """YOLO rows (cls cx cy w h, normalised) of the boxes inside a square crop of ``side``
    frame pixels at ``(x0, y0)`` resized to ``out``; people mostly outside are dropped."""
    if not len(boxes):
        return np.zeros((0, 5))
    clipped = boxes.copy()
    clipped[:, [0, 2]] = clipped[:, [0, 2]].clip(x0, x0 + side)
    clipped[:, [1, 3]] = clipped[:, [1, 3]].clip(y0, y0 + side)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = inside >= MIN_VISIBLE * np.maximum(area, 1e-9)
    b = (clipped[keep] - [x0, y0, x0, y0]) / side
    rows = np.stack(
        [
            np.zeros(len(b)),
            (b[:, 0] + b[:, 2]) / 2,
            (b[:, 1] + b[:, 3]) / 2,
            b[:, 2] - b[:, 0],
            b[:, 3] - b[:, 1],
        ],
        axis=1,
    )
    return rows.reshape(-1, 5)


def cut(image: np.ndarray, x0: float, y0: float, side: float, out: int) -> np.ndarray:
    """A square crop (grey beyond the frame) resized to ``out`` px."""
    scale = out / side
    m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], dtype=np.float64)
    interp = cv2.INTER_LINEAR if scale >= 1 else cv2.INTER_AREA
    return cv2.warpAffine(image, m, (out, out), flags=interp, borderValue=(GREY, GREY, GREY))


def _overlaps(boxes: np.ndarray, x0: float, y0: float, side: float, margin: float) -> bool:
    if not len(boxes):
        return False
    return bool(
        (
            (boxes[:, 2] > x0 - margin)
            & (boxes[:, 0] < x0 + side + margin)
            & (boxes[:, 3] > y0 - margin)
            & (boxes[:, 1] < y0 + side + margin)
        ).any()
    )


def positive_tiles(frame: Frame, image: np.ndarray, s: DatasetSettings, rng: np.random.Generator):
    h, w = image.shape[:2]
    for _ in range(s.positives_per_frame if len(frame.boxes) else 0):
        zoom = math.exp(rng.uniform(math.log(s.zoom[0]), math.log(s.zoom[1])))
        side = s.tile / zoom
        bx = frame.boxes[rng.integers(len(frame.boxes))]
        cx, cy = rng.uniform(bx[0], bx[2]), rng.uniform(bx[1], bx[3])
        x0 = float(np.clip(cx - rng.uniform(0.1, 0.9) * side, 0, max(0, w - side)))
        y0 = float(np.clip(cy - rng.uniform(0.1, 0.9) * side, 0, max(0, h - side)))
        yield cut(image, x0, y0, side, s.tile), crop_labels(frame.boxes, x0, y0, side, s.tile)


def water_crops(
    frame: Frame, image: np.ndarray, side: float, count: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Up to ``count`` people-free, boat-free crops of ``side`` frame px (not resized)."""
    h, w = image.shape[:2]
    side = min(side, w, h)
    found = []
    for _ in range(count * 20):
        x0, y0 = rng.uniform(0, w - side), rng.uniform(0, h - side)
        if _overlaps(frame.boxes, x0, y0, side, 10) or _overlaps(frame.boats, x0, y0, side, 10):
            continue
        found.append(image[int(y0) : int(y0 + side), int(x0) : int(x0 + side)])
        if len(found) == count:
            break
    return found


def cutouts(frames: list[Frame], images: list[np.ndarray], min_px: float = 16.0):
    """Each labelled person with a margin of their own water, for pasting."""
    out = []
    for frame, image in zip(frames, images, strict=True):
        h, w = image.shape[:2]
        for x0, y0, x1, y1 in frame.boxes:
            if max(x1 - x0, y1 - y0) < min_px:
                continue
            mx, my = 0.35 * (x1 - x0) + 2, 0.35 * (y1 - y0) + 2
            a, b = int(max(0, x0 - mx)), int(max(0, y0 - my))
            c, d = int(min(w, x1 + mx)), int(min(h, y1 + my))
            out.append((image[b:d, a:c].copy(), np.array([x0 - a, y0 - b, x1 - a, y1 - b])))
    return out


def made_up_water(size: int, rng: np.random.Generator) -> np.ndarray:
    """Water of a random colour: smooth shading, ripple streaks and sun glints."""
    hue = rng.uniform(10, 120)  # OpenCV hue: browns, greens, cyans, blues
    sat, val = rng.uniform(15, 140), rng.uniform(50, 200)
    field = np.zeros((size, size), np.float32)
    for cell, amp in ((size // 2, 18), (size // 8, 10), (size // 32, 6)):
        n = max(2, size // cell + 2)
        noise = rng.normal(0, 1, (n, n)).astype(np.float32)
        field += amp * cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
    angle = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    along = xx * math.cos(angle) + yy * math.sin(angle)
    field += rng.uniform(0, 12) * np.sin(along / rng.uniform(2, 9) + field / 9)
    hsv = np.empty((size, size, 3), np.float32)
    hsv[..., 0] = (hue + field / 12) % 180
    hsv[..., 1] = np.clip(sat + field * 0.5, 0, 255)
    hsv[..., 2] = np.clip(val + field, 0, 255)
    image = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)
    for _ in range(int(rng.integers(0, 60))):  # glints
        x, y = int(rng.integers(size)), int(rng.integers(size))
        r = int(rng.integers(1, 3))
        cv2.circle(image, (x, y), r, (245, 245, 245), -1, lineType=cv2.LINE_AA)
    return image


def recolour(image: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """Shift hue, saturation, brightness and contrast."""
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + strength * rng.uniform(-40, 40)) % 180
    hsv[..., 1] *= math.exp(strength * rng.uniform(-0.7, 0.5))
    hsv[..., 2] *= math.exp(strength * rng.uniform(-0.5, 0.4))
    out = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2BGR)
    contrast = math.exp(strength * rng.uniform(-0.4, 0.3))
    mean = out.mean(axis=(0, 1), keepdims=True)
    return np.clip((out - mean) * contrast + mean, 0, 255).astype(np.uint8)


def degrade(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Camera differences: blur and JPEG quality."""
    if rng.random() < 0.4:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.4, 1.2))
    quality = int(rng.integers(45, 95))
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR) if ok else image


def paste(
    canvas: np.ndarray, piece: np.ndarray, box: np.ndarray, scale: float, rng: np.random.Generator
) -> np.ndarray | None:
    """Paste a cut-out (feathered, so its own water fades into the canvas) at a random place;
    return the person's box on the canvas, or None where it does not fit."""
    if rng.random() < 0.5:
        piece, box = (
            piece[:, ::-1],
            np.array([piece.shape[1] - box[2], box[1], piece.shape[1] - box[0], box[3]]),
        )
    turns = int(rng.integers(4))
    for _ in range(turns):  # from above, any way up
        ph, pw = piece.shape[:2]
        piece = np.rot90(piece)
        box = np.array([box[1], pw - box[2], box[3], pw - box[0]])
    ph, pw = piece.shape[:2]
    nw, nh = max(4, round(pw * scale)), max(4, round(ph * scale))
    size = canvas.shape[0]
    if nw >= size or nh >= size:
        return None
    piece = cv2.resize(
        np.ascontiguousarray(piece),
        (nw, nh),
        interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
    )
    box = box * [nw / pw, nh / ph, nw / pw, nh / ph]
    x, y = int(rng.integers(0, size - nw)), int(rng.integers(0, size - nh))
    # an ellipse just around the person, feathered: little of the cut-out's own water comes along
    bw, bh = box[2] - box[0], box[3] - box[1]
    centre = (round((box[0] + box[2]) / 2), round((box[1] + box[3]) / 2))
    axes = (max(1, round(0.62 * bw)), max(1, round(0.62 * bh)))
    mask = np.zeros((nh, nw), np.float32)
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    mask = cv2.GaussianBlur(mask, (0, 0), max(0.8, 0.1 * min(bw, bh)))[..., None]
    region = canvas[y : y + nh, x : x + nw].astype(np.float32)
    # match the colour of the cut-out's water (its border) to the canvas: no tell-tale halo
    piece = piece.astype(np.float32)
    border = np.concatenate([piece[0], piece[-1], piece[:, 0], piece[:, -1]])
    ratio = (region.reshape(-1, 3).mean(0) + 1) / (border.mean(0) + 1)
    piece = piece * ratio**0.7  # most of the way: the person keeps some of their colours
    canvas[y : y + nh, x : x + nw] = np.clip(mask * piece + (1 - mask) * region, 0, 255)
    return box + np.array([x, y, x, y])


def synthetic_tile(
    pieces: list, waters: list[np.ndarray], s: DatasetSettings, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if waters and rng.random() < 0.5:
        water = waters[int(rng.integers(len(waters)))]
        canvas = recolour(cv2.resize(water, (s.tile, s.tile)), rng)
    else:
        canvas = made_up_water(s.tile, rng)
    boxes = []
    for _ in range(int(rng.integers(s.pastes_per_tile[0], s.pastes_per_tile[1] + 1))):
        piece, box = pieces[int(rng.integers(len(pieces)))]
        scale = math.exp(rng.uniform(math.log(s.paste_scale[0]), math.log(s.paste_scale[1])))
        placed = paste(canvas, piece, box, scale, rng)
        if placed is not None:
            boxes.append(placed)
    canvas = degrade(recolour(canvas, rng, 0.5), rng)
    arr = np.array(boxes, float).reshape(-1, 4)
    return canvas, crop_labels(arr, 0, 0, s.tile, s.tile)


def val_tiles(frame: Frame, image: np.ndarray, s: DatasetSettings):
    """A native-scale grid of ``tile`` squares over the whole frame."""
    h, w = image.shape[:2]
    side = min(s.tile, w, h)

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = math.ceil((length - s.val_overlap * side) / (side - s.val_overlap * side))
        return [round(i * (length - side) / (n - 1)) for i in range(n)]

    for y0 in starts(h):
        for x0 in starts(w):
            yield cut(image, x0, y0, side, s.tile), crop_labels(frame.boxes, x0, y0, side, s.tile)


def _write(folder: Path, name: str, image: np.ndarray, rows: np.ndarray) -> None:
    cv2.imwrite(str(folder / "images" / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    text = "".join(f"0 {r[1]:.6f} {r[2]:.6f} {r[3]:.6f} {r[4]:.6f}\n" for r in rows)
    (folder / "labels" / f"{name}.txt").write_text(text)


def prepare(source: Path, out: Path, settings: DatasetSettings, seed: int) -> dict[str, Any]:
    """Write the tiled training set to ``out`` (replacing it); return counts and ``data.yaml``."""
    import shutil

    rng = np.random.default_rng(seed)
    if out.exists():
        shutil.rmtree(out)
    counts = {"positive": 0, "negative": 0, "synthetic": 0, "val": 0, "people": 0}
    for split in ("train", "val"):
        for sub in ("images", "labels"):
            (out / split / sub).mkdir(parents=True)
    train = read_split(source, "train")
    images = [load(f) for f in train]
    waters: list[np.ndarray] = []
    for frame, image in zip(train, images, strict=True):
        stem = frame.path.stem
        for k, (tile, rows) in enumerate(positive_tiles(frame, image, settings, rng)):
            _write(out / "train", f"{stem}_p{k}", tile, rows)
            counts["positive"] += 1
            counts["people"] += len(rows)
        side = settings.tile / rng.uniform(*settings.zoom)
        negs = water_crops(frame, image, side, settings.negatives_per_frame, rng)
        for k, crop in enumerate(negs):
            tile = cv2.resize(crop, (settings.tile, settings.tile))
            _write(out / "train", f"{stem}_n{k}", tile, np.zeros((0, 5)))
            counts["negative"] += 1
        waters.extend(water_crops(frame, image, settings.tile, 1, rng))
    pieces = cutouts(train, images)
    for k in range(settings.synthetic if pieces else 0):
        tile, rows = synthetic_tile(pieces, waters, settings, rng)
        _write(out / "train", f"synthetic_{k:04d}", tile, rows)
        counts["synthetic"] += 1
        counts["people"] += len(rows)
    for frame in read_split(source, "val"):
        image = load(frame)
        for k, (tile, rows) in enumerate(val_tiles(frame, image, settings)):
            _write(out / "val", f"{frame.path.stem}_v{k}", tile, rows)
            counts["val"] += 1
    data_yaml = out / "data.yaml"
    data_yaml.write_text(
        f"path: {out.resolve()}\ntrain: train/images\nval: val/images\nnames:\n  0: person\n"
    )
    return {"data_yaml": str(data_yaml), "counts": counts}
