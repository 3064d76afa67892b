"""Real swimmers cut out of drone footage, for the synthetic camera's "real" look.

Source: the *train* split of ``../shared/data/aerial-people`` (SeaDronesSee
North Sea frames, CC0; YOLO labels, class 0 person). Never its val split and
never ``aerial-people-eval``: those measure the detector, and a camera that
drew their people would flatter it.

Each labelled box becomes a cut-out: the box's pixels with a soft alpha that
separates the person from the water around them (colour distance, in Lab, to
the water just outside the box, in units of that water's own spread), the
colours un-mixed from the real water at the soft edge so they blend onto any
water. The footage's ground sample distance is unknown, so each cut-out keeps
its pixel size and its width across the body (``width_px``, from the alpha's
second moments); the renderer draws it at the person's width in metres
(``scene.SWIM_WIDTH_M``) at the frame's GSD.

Cut-outs are made once and cached under ``var/cache/swimmers/`` (gitignored:
the repository never holds the images), keyed by the source files' names,
sizes and times. ``unavailable_reason()`` says why they cannot be had (no
``../shared``, no train split); the scene then falls back to the composed
people of ``sitl.camera.people`` with that reason logged.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitl.camera.errors import AssetError

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DATA_ROOT = REPO.parent / "shared" / "data" / "aerial-people"
CACHE_DIR = REPO / "var" / "cache" / "swimmers"
SPLIT = "train"  # the only split this module reads
LOOKS = ("auto", "real", "composed")  # how swimmers are drawn: see choose_look
CACHE_VERSION = 2

MIN_BOX_PX = 12  # smaller boxes hold too few pixels to cut anything out of
PAD = 0.6  # the water sampled around a box: this share of its longer side, each way
EDGE_SIGMA = (2.5, 5.5)  # colour distance (water spreads) where alpha goes from 0 to 1
FOAM_L, FOAM_SHARE = 215, 0.25  # Lab lightness (0..255) of white water; most a cut-out may hold
MIN_SPREAD_LAB = 2.0  # floor of the water's spread per Lab channel (flat, compressed water)


@dataclass(frozen=True)
class SwimmerCutout:
    """A real swimmer on a transparent background, BGRA, as big as in the footage."""

    source: str  # "<image file>#<label line>"
    bgra: np.ndarray
    width_px: float  # across the body: drawn at the person's width in metres
    axis_deg: float  # the body's long axis in the cut-out, degrees from image-right

    @property
    def centroid(self) -> tuple[float, float]:
        """Alpha-weighted centre (x, y) in the cut-out's pixels."""
        return moments(self.bgra[..., 3])[0]


# -- cutting out ------------------------------------------------------------------------


def cut_out(
    image: np.ndarray,
    box: tuple[int, int, int, int],
    source: str = "",
    avoid: list[tuple[int, int, int, int]] | None = None,
) -> SwimmerCutout | None:
    """The person in ``box`` (x1 y1 x2 y2 pixels of BGR ``image``) on a soft alpha, or None
    when there is not enough of them or of the water around them to tell them apart.

    ``avoid``: other boxes (other people, boats) whose pixels are neither water nor person.
    """
    h, w = image.shape[:2]
    x1, y1, x2, y2 = box
    if min(x2 - x1, y2 - y1) < MIN_BOX_PX or x1 < 1 or y1 < 1 or x2 > w - 1 or y2 > h - 1:
        return None  # too small, or cut by the frame's edge
    pad = max(4, round(PAD * max(x2 - x1, y2 - y1)))
    cx1, cy1, cx2, cy2 = max(0, x1 - pad), max(0, y1 - pad), min(w, x2 + pad), min(h, y2 + pad)
    crop = image[cy1:cy2, cx1:cx2]
    lab = cv2.cvtColor(crop, cv2.COLOR_BGR2Lab).astype(np.float32)
    inside = np.zeros(crop.shape[:2], bool)
    inside[y1 - cy1 : y2 - cy1, x1 - cx1 : x2 - cx1] = True
    water = ~inside
    for ax1, ay1, ax2, ay2 in avoid or ():
        water[max(0, ay1 - cy1) : max(0, ay2 - cy1), max(0, ax1 - cx1) : max(0, ax2 - cx1)] = False
    if water.sum() < 4 * (x2 - x1 + y2 - y1):
        return None  # crowded: too little water around to learn its colour
    ref = lab[water]
    centre = np.median(ref, axis=0)
    spread = np.maximum(1.4826 * np.median(np.abs(ref - centre), axis=0), MIN_SPREAD_LAB)
    dist = np.sqrt((((lab - centre) / spread) ** 2).sum(axis=2))
    lo, hi = EDGE_SIGMA
    t = np.clip((dist - lo) / (hi - lo), 0.0, 1.0)
    alpha = t * t * (3.0 - 2.0 * t)  # smoothstep
    alpha[~inside] = 0.0  # the label says where the person is: nothing outside the box
    alpha = _largest_parts(alpha)
    body = alpha > 0.5
    if body.sum() < 12:
        return None
    if (lab[..., 0][body] > FOAM_L).mean() > FOAM_SHARE:
        return None  # mostly white water: a splash or a wake, not a person to draw
    # un-mix: observed = a * person + (1 - a) * water, so person = water + (observed - water) / a
    water_bgr = np.median(crop[water].astype(np.float32), axis=0)
    a = np.maximum(alpha, 0.5)[..., None]
    fg = np.clip(water_bgr + (crop.astype(np.float32) - water_bgr) / a, 0, 255)
    bgra = np.dstack([fg, 255.0 * alpha]).astype(np.uint8)
    ys, xs = np.nonzero(bgra[..., 3] > 8)
    bgra = np.ascontiguousarray(bgra[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])
    _, (_, minor), axis = moments(bgra[..., 3])
    return SwimmerCutout(source, bgra, width_px=minor, axis_deg=axis)


def _largest_parts(alpha: np.ndarray) -> np.ndarray:
    """Alpha without specks: keep the parts (alpha > 0.5) at least a fifth of the largest."""
    hard = (alpha > 0.5).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(hard, connectivity=8)
    if n <= 2:
        return alpha
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= max(3, 0.2 * areas.max())) + 1
    near = cv2.dilate(np.isin(labels, keep).astype(np.uint8), np.ones((3, 3), np.uint8))
    return alpha * near


def moments(alpha: np.ndarray) -> tuple[tuple[float, float], tuple[float, float], float]:
    """Centre (x, y), full extents along the long and short axes (as a uniform rectangle's:
    sqrt(12 * variance)) and the long axis's direction (degrees from image-right, y down)."""
    m = cv2.moments(alpha.astype(np.float32))
    if m["m00"] <= 0:
        h, w = alpha.shape[:2]
        return (w / 2.0, h / 2.0), (float(max(w, h)), float(min(w, h))), 0.0
    cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
    cov = np.array([[m["mu20"], m["mu11"]], [m["mu11"], m["mu02"]]]) / m["m00"]
    vals, vecs = np.linalg.eigh(cov)
    major, minor = np.sqrt(12.0 * np.maximum(vals[::-1], 0.0))
    axis = float(np.degrees(np.arctan2(vecs[1, 1], vecs[0, 1])))
    return (float(cx), float(cy)), (float(major), float(max(minor, 1.0))), axis


def choose_look(asked: str, root: Path = DATA_ROOT) -> str:
    """ "real" or "composed" for the swimmers' look ``asked`` ("auto", "real", "composed").

    "auto": real when the train split is there, else composed with the reason logged;
    "real" without the data is an error naming what is missing.
    """
    if asked not in LOOKS:
        raise AssetError(f"swimmer look {asked!r}: choose one of {', '.join(LOOKS)}")
    if asked == "composed":
        return asked
    reason = unavailable_reason(root)
    if reason is None:
        return "real"
    if asked == "real":
        raise AssetError(f"real swimmers asked for, but {reason}")
    log.warning("swimmers drawn from composed photographs: %s", reason)
    return "composed"


# -- the data set -----------------------------------------------------------------------


def unavailable_reason(root: Path = DATA_ROOT) -> str | None:
    """Why real swimmers cannot be cut out of ``root`` (None: they can)."""
    if "eval" in root.name:
        return (
            f"{root} is an evaluation set: the camera draws only from aerial-people's train split"
        )
    images, labels = root / "images" / SPLIT, root / "labels" / SPLIT
    for folder in (images, labels):
        if not folder.is_dir():
            return f"{folder} is missing (the real swimmers come from ../shared/data/aerial-people)"
    if not any(labels.glob("*.txt")):
        return f"{labels} holds no labels"
    return None


def _sources(root: Path) -> list[tuple[Path, Path]]:
    """(image, label) pairs of the train split with at least one labelled person."""
    pairs = []
    for label in sorted((root / "labels" / SPLIT).glob("*.txt")):
        image = root / "images" / SPLIT / f"{label.stem}.jpg"
        if image.is_file() and label.stat().st_size > 0:
            pairs.append((image, label))
    return pairs


def _boats(root: Path) -> dict[str, list[tuple[int, int, int, int]]]:
    path = root / "boats.json"
    if not path.is_file():
        return {}
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AssetError(f"{path}: cannot read the boat boxes ({exc}); restore the file") from exc
    return {Path(k).name: [tuple(int(v) for v in b) for b in boxes] for k, boxes in doc.items()}


def read_boxes(label: Path, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The person boxes (x1 y1 x2 y2 pixels) of a YOLO label file."""
    boxes = []
    for n, line in enumerate(label.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls, x, y, bw, bh = int(parts[0]), *map(float, parts[1:5])
        except (ValueError, TypeError) as exc:
            raise AssetError(f"{label}:{n}: not a YOLO line 'class x y w h' ({line!r})") from exc
        if cls != 0:
            continue
        boxes.append(
            (
                round((x - bw / 2) * width),
                round((y - bh / 2) * height),
                round((x + bw / 2) * width),
                round((y + bh / 2) * height),
            )
        )
    return boxes


def extract(root: Path = DATA_ROOT) -> tuple[SwimmerCutout, ...]:
    """Every usable swimmer of the train split, cut out (a few seconds)."""
    reason = unavailable_reason(root)
    if reason:
        raise AssetError(reason)
    boats = _boats(root)
    out = []
    for image_path, label in _sources(root):
        image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        if image is None:
            raise AssetError(f"cannot decode {image_path}: restore it from the data set")
        boxes = read_boxes(label, image.shape[1], image.shape[0])
        near_boat = boats.get(image_path.name, [])
        for i, box in enumerate(boxes):
            if any(_overlap(box, b) for b in near_boat):
                continue  # labels by boats are people aboard or beside them: not swimmers
            others = [b for j, b in enumerate(boxes) if j != i] + near_boat
            cut = cut_out(image, box, f"{image_path.name}#{i + 1}", others)
            if cut is not None:
                out.append(cut)
    if not out:
        raise AssetError(f"no swimmer could be cut out of {root / 'images' / SPLIT}")
    return tuple(out)


def _overlap(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])


# -- the cache --------------------------------------------------------------------------


def _cache_key(root: Path) -> str:
    h = hashlib.sha256(f"v{CACHE_VERSION} {PAD} {EDGE_SIGMA} {MIN_BOX_PX}".encode())
    extra = [root / "boats.json"] if (root / "boats.json").is_file() else []
    for image, label in _sources(root):
        for p in (image, label, *extra):
            st = p.stat()
            h.update(f"{p.name} {st.st_size} {st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def _save(path: Path, cuts: tuple[SwimmerCutout, ...]) -> None:
    meta = [{"source": c.source, "width_px": c.width_px, "axis_deg": c.axis_deg} for c in cuts]
    buf = io.BytesIO()
    arrays = {f"c{i}": c.bgra for i, c in enumerate(cuts)}
    np.savez_compressed(buf, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, path)  # readers never see half a file


def _load(path: Path) -> tuple[SwimmerCutout, ...]:
    with np.load(path) as z:
        meta = json.loads(z["meta"].tobytes())
        return tuple(
            SwimmerCutout(m["source"], z[f"c{i}"], float(m["width_px"]), float(m["axis_deg"]))
            for i, m in enumerate(meta)
        )


def load_cutouts(root: Path = DATA_ROOT, cache_dir: Path = CACHE_DIR) -> tuple[SwimmerCutout, ...]:
    """The train split's swimmers, from the cache, cut out and cached at first use."""
    reason = unavailable_reason(root)
    if reason:
        raise AssetError(reason)
    path = cache_dir / f"cutouts-{_cache_key(root)}.npz"
    if path.is_file():
        try:
            return _load(path)
        except (OSError, ValueError, KeyError) as exc:
            log.warning("swimmer cache %s unreadable (%s): cutting out again", path, exc)
    cuts = extract(root)
    try:
        _save(path, cuts)
        for old in cache_dir.glob("cutouts-*.npz"):  # made from older data or code
            if old != path:
                old.unlink(missing_ok=True)
    except OSError as exc:  # a read-only checkout still renders, only slower to start
        log.warning("cannot cache the swimmer cut-outs in %s: %s", cache_dir, exc.strerror)
    return cuts


@functools.lru_cache(maxsize=1)
def default_cutouts() -> tuple[SwimmerCutout, ...]:
    """``load_cutouts()`` once per process."""
    return load_cutouts()
