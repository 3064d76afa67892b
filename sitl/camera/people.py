"""People cut out of real photographs shipped in packages, and the sprites drawn from them.

Sources: the two men of ultralytics' ``bus.jpg`` (whole bodies), the coach on
the right of its ``zidane.jpg`` and scikit-image's ``astronaut.png`` (upper
bodies; the astronaut when scikit-image is installed). Each is cut out with
GrabCut seeded by strokes traced along the body (``benchmarks/scenes.py``
reuses them for the detector's test scenes). The waving swimmer is a
composite of real pixels: the beige-coated man of ``bus.jpg`` with the
pointing arm of ``zidane.jpg`` (a traced outline) set on both shoulders,
raised above his head.

A sprite is always as tall as the person's body length at the local GSD (as
``Camera.person_height_px`` assumes), raised arms extra. People in the water
show their lower body through the water: faded and tinted toward it.
"""

from __future__ import annotations

import functools
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from sitl.camera.errors import AssetError

Point = tuple[int, int]

WORK_HEIGHT_PX = 240  # cut-outs are made at this height, then shrunk per frame


@dataclass(frozen=True)
class PersonSource:
    name: str
    package: str
    file: str
    box: tuple[int, int, int, int]  # x1 y1 x2 y2 in the original photo
    strokes: tuple[tuple[Point, ...], ...]  # polylines surely on the person
    background: tuple[tuple[Point, ...], ...] = ()  # polylines surely not on the person
    full_body: bool = True  # head to feet (standing people on land need one)


SOURCES: tuple[PersonSource, ...] = (
    PersonSource(
        "bus-coat",
        "ultralytics",
        "assets/bus.jpg",
        (48, 399, 245, 905),
        (
            ((143, 440), (125, 496), (124, 647)),
            ((124, 647), (179, 749), (187, 849)),
            ((124, 647), (95, 756), (74, 857)),
            ((157, 493), (94, 499)),
            ((157, 493), (177, 550)),
            ((94, 499), (110, 567), (161, 534)),
        ),
        (
            ((135, 715), (135, 840)),
            ((115, 862), (170, 860)),
            ((55, 740), (60, 810)),
            ((228, 700), (235, 835)),
        ),
    ),
    PersonSource(
        "bus-jacket",
        "ultralytics",
        "assets/bus.jpg",
        (222, 405, 345, 860),
        (
            ((293, 451), (285, 498), (281, 631)),
            ((303, 631), (301, 726), (288, 808)),
            ((259, 631), (261, 720), (261, 807)),
            ((318, 496), (251, 500)),
            ((318, 496), (329, 555), (279, 535)),
            ((251, 500), (252, 575), (256, 615)),
        ),
    ),
    PersonSource(
        "ancelotti",
        "ultralytics",
        "assets/zidane.jpg",
        (745, 38, 1142, 716),
        (
            ((990, 185), (947, 335), (947, 700)),
            ((1049, 342), (845, 327)),
            ((1049, 342), (1065, 529), (1098, 510)),
            ((845, 327), (800, 520)),
        ),
        full_body=False,
    ),
    PersonSource(
        "astronaut",
        "skimage",
        "data/astronaut.png",
        (12, 18, 360, 511),
        (
            ((221, 110), (208, 250), (208, 500)),
            ((312, 250), (104, 243)),
            ((312, 250), (345, 413)),
            ((104, 243), (60, 426)),
        ),
        full_body=False,
    ),
)

# Zidane himself (left of zidane.jpg): his cut-out is too wide and picks up
# background, so the camera does not draw him; the detector benchmarks and
# tests still use him as a real photographed person.
ZIDANE = PersonSource(
    "zidane",
    "ultralytics",
    "assets/zidane.jpg",
    (140, 200, 1045, 716),
    (
        ((640, 335), (470, 420), (470, 700)),
        ((623, 420), (316, 420)),
        ((623, 420), (810, 471), (959, 493)),
        ((316, 420), (153, 576), (307, 692)),
    ),
    full_body=False,
)

# The pointing arm of zidane.jpg, shoulder end first (x, y in the photo), traced by eye:
# black sleeve, white cuff, hand with the index finger out.
ARM_OUTLINE: tuple[Point, ...] = (
    (640, 400), (700, 414), (800, 428), (900, 438), (930, 436), (960, 430), (1000, 418),
    (1040, 408), (1060, 404), (1100, 404), (1140, 408), (1152, 414), (1140, 422), (1090, 424),
    (1078, 430), (1080, 442), (1072, 458), (1066, 476), (1040, 486), (1000, 486), (975, 492),
    (958, 505), (930, 500), (900, 482), (800, 467), (700, 463), (640, 455),
)  # fmt: skip
ARM_AXIS: tuple[Point, Point] = ((650, 430), (1150, 414))  # shoulder end -> fingertip
# bus-coat in its photo: crown, chin and shoulders, to size and seat the arms
COAT_CROWN_Y, COAT_CHIN_Y = 412, 478
COAT_SHOULDERS: tuple[Point, Point] = ((94, 499), (160, 493))


@dataclass(frozen=True)
class Cutout:
    """A person on a transparent background, tight crop, BGRA."""

    name: str
    bgra: np.ndarray
    full_body: bool
    body_px: float  # rows of ``bgra`` that make the body's length (raised arms excluded)


def package_file(package: str, relative: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise AssetError(f"package {package!r} is not installed: install it for its photographs")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise AssetError(f"{path} is missing from package {package!r}: reinstall {package}")
    return path


def read_photo(package: str, relative: str) -> np.ndarray:
    image = cv2.imread(str(package_file(package, relative)), cv2.IMREAD_COLOR)
    if image is None:
        raise AssetError(f"cannot decode {relative} from package {package}: reinstall {package}")
    return image


def _available(source: PersonSource) -> bool:
    return importlib.util.find_spec(source.package) is not None


@functools.lru_cache(maxsize=1)
def cutouts() -> tuple[Cutout, ...]:
    """Every source person whose package is installed (ultralytics always is)."""
    out = []
    for src in SOURCES:
        if not _available(src):
            continue
        bgra, _ = grabcut(read_photo(src.package, src.file), src)
        out.append(Cutout(src.name, bgra, src.full_body, float(bgra.shape[0])))
    if not out:
        raise AssetError("no person photographs found: install ultralytics")
    return tuple(out)


def grabcut(
    image: np.ndarray, person: PersonSource, work_height: int = WORK_HEIGHT_PX
) -> tuple[np.ndarray, np.ndarray]:
    """The person of ``person.box`` cut out of ``image`` at ``work_height`` rows.

    Returns the tight BGRA crop and the 2x3 affine taking photo pixels to crop pixels.
    """
    x1, y1, x2, y2 = person.box
    pad = 16
    h, w = image.shape[:2]
    cx1, cy1, cx2, cy2 = max(0, x1 - pad), max(0, y1 - pad), min(w, x2 + pad), min(h, y2 + pad)
    s = work_height / (cy2 - cy1)
    crop = cv2.resize(
        image[cy1:cy2, cx1:cx2],
        (max(1, round((cx2 - cx1) * s)), work_height),
        interpolation=cv2.INTER_AREA,
    )

    def to_crop(x: float, y: float) -> tuple[int, int]:
        return round((x - cx1) * s), round((y - cy1) * s)

    mask = np.full(crop.shape[:2], cv2.GC_BGD, np.uint8)
    (rx1, ry1), (rx2, ry2) = to_crop(x1, y1), to_crop(x2, y2)
    mask[ry1:ry2, rx1:rx2] = cv2.GC_PR_BGD
    thick = max(3, round(0.05 * (ry2 - ry1)))
    sure = np.zeros_like(mask)
    for line in person.strokes:
        cv2.polylines(sure, [np.array([to_crop(*p) for p in line], np.int32)], False, 1, thick)
    near = cv2.dilate(sure, np.ones((3 * thick, 3 * thick), np.uint8))
    mask[(near > 0) & (mask == cv2.GC_PR_BGD)] = cv2.GC_PR_FGD
    mask[sure > 0] = cv2.GC_FGD
    for line in person.background:
        pts = np.array([to_crop(*p) for p in line], np.int32)
        cv2.polylines(mask, [pts], False, cv2.GC_BGD, thick)
    cv2.setRNGSeed(0)
    cv2.grabCut(crop, mask, None, np.zeros((1, 65)), np.zeros((1, 65)), 4, cv2.GC_INIT_WITH_MASK)
    alpha = np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 255, 0).astype(np.uint8)
    _, labels = cv2.connectedComponents(alpha)  # keep the blob holding the strokes
    keep = np.bincount(labels[sure > 0].ravel()).argmax()
    alpha = np.where(labels == keep, 255, 0).astype(np.uint8)
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0)
    bgra = np.dstack([crop, alpha])
    ys, xs = np.nonzero(alpha > 127)
    left, top = int(xs.min()), int(ys.min())
    to_cut = np.array([[s, 0.0, -cx1 * s - left], [0.0, s, -cy1 * s - top]])
    return trim(bgra), to_cut


def trim(bgra: np.ndarray) -> np.ndarray:
    """Crop to the rows and columns where alpha > 127."""
    ys, xs = np.nonzero(bgra[..., 3] > 127)
    if len(ys) == 0:
        return bgra[:0, :0]
    return np.ascontiguousarray(bgra[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1])


def _arm(length_px: float) -> tuple[np.ndarray, tuple[float, float]]:
    """Zidane's arm pointing straight up (fingertip at the top), ``length_px`` from shoulder
    to fingertip: (bgra, shoulder_xy)."""
    photo = read_photo("ultralytics", "assets/zidane.jpg")
    outline = np.array(ARM_OUTLINE, np.float64)
    (ax, ay), (bx, by) = ARM_AXIS
    along = math.degrees(math.atan2(by - ay, bx - ax))
    scale = length_px / math.hypot(bx - ax, by - ay)
    alpha = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(alpha, [np.round(outline).astype(np.int32)], 255, cv2.LINE_AA)
    bgra = np.dstack([photo, cv2.GaussianBlur(alpha, (3, 3), 0)])
    # rotate about the shoulder end so the arm points to image-up, and scale
    m = cv2.getRotationMatrix2D((ax, ay), along + 90.0, scale)
    side = round(length_px * 1.3)
    m[:, 2] += (side / 2 - ax, side - 0.1 * side - ay)  # shoulder near the bottom centre
    up = cv2.warpAffine(bgra, m, (side, side), flags=cv2.INTER_AREA)
    shoulder = m @ np.array([ax, ay, 1.0])
    return up, (float(shoulder[0]), float(shoulder[1]))


@functools.lru_cache(maxsize=1)
def waving_cutout() -> Cutout:
    """A man with both arms raised above his head, composed from two photographs."""
    coat = next(s for s in SOURCES if s.name == "bus-coat")
    body, to_cut = grabcut(read_photo(coat.package, coat.file), coat)
    head_px = (COAT_CHIN_Y - COAT_CROWN_Y) * to_cut[1, 1]
    arm, (ax, ay) = _arm(3.2 * head_px)  # shoulder to fingertip: about 3.2 head heights
    pad = arm.shape[0]
    canvas = np.zeros((body.shape[0] + pad, body.shape[1] + 2 * pad, 4), np.uint8)
    paste_bgra(canvas, body, pad, pad)
    for (px, py), tilt in zip(COAT_SHOULDERS, (-15.0, 15.0), strict=True):
        sx, sy = to_cut @ np.array([px, py, 1.0])
        piece = arm if tilt > 0 else arm[:, ::-1]  # the other arm is the mirror image
        pivot = (ax if tilt > 0 else arm.shape[1] - 1 - ax, ay)
        m = cv2.getRotationMatrix2D(pivot, -tilt, 1.0)  # lean out from the head
        m[:, 2] += (sx + pad - pivot[0], sy + pad - pivot[1])
        layer = cv2.warpAffine(
            np.ascontiguousarray(piece),
            m,
            (canvas.shape[1], canvas.shape[0]),
            flags=cv2.INTER_LINEAR,
        )
        paste_bgra(canvas, layer, 0, 0)
    return Cutout("bus-coat+zidane-arms", trim(canvas), True, float(body.shape[0]))


def paste_bgra(canvas: np.ndarray, bgra: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend ``bgra`` onto ``canvas`` (BGR or BGRA) with its top-left at (x, y), clipped."""
    h, w = bgra.shape[:2]
    ch, cw = canvas.shape[:2]
    x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + w, cw), min(y + h, ch)
    if x1 >= x2 or y1 >= y2:
        return
    src = bgra[y1 - y : y2 - y, x1 - x : x2 - x]
    a = src[..., 3:4].astype(np.float32) / 255.0
    region = canvas[y1:y2, x1:x2]
    rgb = region[..., :3].astype(np.float32) * (1.0 - a) + src[..., :3].astype(np.float32) * a
    region[..., :3] = rgb.astype(np.uint8)
    if canvas.shape[2] == 4:
        region[..., 3] = np.maximum(region[..., 3], src[..., 3])
