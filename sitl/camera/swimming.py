"""A real swimmer drawn on the water as the drone sees them. Pure computation.

The cut-out (``sitl.camera.swimmers``) lies flat on the water: one affine map
takes its pixels to the frame, made of its scale (the person's width in
metres over the cut-out's width in pixels), the person's heading, and the
local Jacobian of the ground-to-image homography (so it follows the GSD, the
camera's yaw and an oblique view's foreshortening). On top of that:

- submerged: the body fades into the water from one end of its long axis
  (a random end and depth per person, the depth bobbing with the waves);
- motion: the heading sways a few degrees;
- the water around them: a brighter ring of disturbed water with glints,
  and for active swimmers (the waving one, half of the others) white splashes
  that change every tenth of a second.

The visible body (alpha > 0.5) is placed so that its box's centre is the
person's position: for a swimmer that centre, not a foot, is where they are.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from sitl.camera.scene import Person
from sitl.camera.swimmers import SwimmerCutout, moments

SUBMERGED = (0.15, 0.45)  # share of the body faded at the far end of its axis
BOB = 0.08  # the waterline's swing, as a share of the body
SWAY_DEG = 6.0
ACTIVE_SHARE = 0.5  # of the swimmers not waving: these splash
SPLASH_BGR = np.array([228.0, 234.0, 236.0], np.float32)
FLICKER_HZ = 10.0  # splashes and glints change this often


@dataclass(frozen=True)
class Drawn:
    box_xyxy: tuple[float, float, float, float]  # the visible body, clipped to the frame
    visible_fraction: float  # of the body's box inside the frame


def draw(
    image: np.ndarray,
    cut: SwimmerCutout,
    person: Person,
    jacobian: np.ndarray,
    uv: tuple[float, float],
    t: float,
) -> Drawn | None:
    """Draw ``person`` as ``cut`` on BGR ``image`` at pixel ``uv`` (in place).

    ``jacobian``: 2x2 image pixels per ground metre (east, north) at the person; ``t``: the
    frame's time in seconds (motion, splashes). None when nothing of them shows.
    """
    rng = np.random.default_rng([person.variant, 17])
    phase = float(rng.uniform(0.0, 2 * math.pi))
    depth = float(rng.uniform(*SUBMERGED))
    far_end = 1.0 if rng.random() < 0.5 else -1.0
    active = person.kind == "swimmer_waving" or rng.random() < ACTIVE_SHARE
    heading = math.radians(person.heading_deg + SWAY_DEG * math.sin(2 * math.pi * t / 3.1 + phase))
    depth = float(np.clip(depth + BOB * math.sin(2 * math.pi * t / 1.9 + phase), 0.0, 0.85))

    s = person.width_m / cut.width_px  # metres per cut-out pixel
    ch, sh = math.cos(heading), math.sin(heading)
    a = jacobian @ (s * np.array([[ch, -sh], [-sh, -ch]]))  # cut-out px -> image px
    src = cut.bgra
    shrink = math.sqrt(abs(np.linalg.det(a)))
    if shrink < 0.8:  # area-average first: warpAffine would alias the small result
        size = (max(2, round(src.shape[1] * shrink)), max(2, round(src.shape[0] * shrink)))
        f = np.array([size[0] / src.shape[1], size[1] / src.shape[0]])
        src = cv2.resize(src, size, interpolation=cv2.INTER_AREA)
        a = a / f[None, :]
    (cx, cy), (major, _), axis = moments(src[..., 3])
    hs, ws = src.shape[:2]
    corners = a @ (np.array([[0, 0], [ws, 0], [0, hs], [ws, hs]], float) - (cx, cy)).T
    extent = corners.max(axis=1) - corners.min(axis=1)
    margin = 0.5 * float(extent.max()) + 3.0
    pw, ph = (math.ceil(float(e) + 2 * margin) for e in extent)
    centre = np.array([pw / 2.0, ph / 2.0])
    m = np.hstack([a, (centre - a @ np.array([cx, cy]))[:, None]])
    warped = cv2.warpAffine(src.astype(np.float32), m, (pw, ph), flags=cv2.INTER_LINEAR)

    # submerged: the ramp along the body's axis, linear in cut-out pixels, so in patch pixels
    yy, xx = np.mgrid[0:ph, 0:pw].astype(np.float32)
    inv = np.linalg.inv(a)
    along = np.array([math.cos(math.radians(axis)), math.sin(math.radians(axis))]) @ inv
    d = far_end * (along[0] * (xx - centre[0]) + along[1] * (yy - centre[1])) / (major / 2.0)
    r = np.clip((d + 0.2) / 1.2, 0.0, 1.0)
    under = depth * r * r * (3.0 - 2.0 * r)
    body = warped[..., 3] / 255.0 * (1.0 - under)
    ys, xs = np.nonzero(body > 0.5)
    if len(ys) == 0:
        return None
    bx1, by1, bx2, by2 = xs.min(), ys.min(), xs.max() + 1, ys.max() + 1
    ox = round(uv[0] - (bx1 + bx2) / 2.0)  # the visible body's centre on the position
    oy = round(uv[1] - (by1 + by2) / 2.0)

    h, w = image.shape[:2]
    x1, y1, x2, y2 = max(ox, 0), max(oy, 0), min(ox + pw, w), min(oy + ph, h)
    if x1 >= x2 or y1 >= y2:
        return None
    win = (slice(y1 - oy, y2 - oy), slice(x1 - ox, x2 - ox))
    region = image[y1:y2, x1:x2].astype(np.float32)
    water = np.median(region.reshape(-1, 3), axis=0)

    flicker = np.random.default_rng([person.variant, round(t * FLICKER_HZ)])
    width_img = person.width_m * math.sqrt(abs(np.linalg.det(jacobian)))  # body width, px
    wake = _wake(body, width_img, active, flicker)
    splash = _splash(body, wake, width_img, flicker) if active else None

    out = region + wake[win][..., None]
    k = (0.5 * under[win])[..., None]
    rgb = warped[win][..., :3] * (1.0 - k) + water * k
    al = body[win][..., None]
    out = out * (1.0 - al) + rgb * al
    if splash is not None:
        sa = splash[win][..., None]
        out = out * (1.0 - sa) + SPLASH_BGR * sa
    image[y1:y2, x1:x2] = np.clip(out, 0, 255).astype(np.uint8)

    full = (bx2 - bx1) * (by2 - by1)
    cx1, cy1 = max(ox + bx1, 0), max(oy + by1, 0)
    cx2, cy2 = min(ox + bx2, w), min(oy + by2, h)
    if cx1 >= cx2 or cy1 >= cy2:
        return None
    return Drawn(
        (float(cx1), float(cy1), float(cx2), float(cy2)),
        (cx2 - cx1) * (cy2 - cy1) / float(full),
    )


def _wake(body: np.ndarray, width_px: float, active: bool, rng: np.random.Generator) -> np.ndarray:
    """Brightening (grey levels) of the disturbed water around the body, with glints."""
    reach = max(1, round(0.25 * width_px))
    near = cv2.dilate((body > 0.2).astype(np.uint8), np.ones((2 * reach + 1,) * 2, np.uint8))
    ring = cv2.GaussianBlur(near.astype(np.float32), (0, 0), max(0.6, 0.5 * reach))
    ring *= 1.0 - np.clip(body * 2.0, 0.0, 1.0)
    noise = cv2.GaussianBlur(rng.random(body.shape).astype(np.float32), (0, 0), 0.8)
    amp = 16.0 if active else 7.0
    wake = ring * amp * (0.4 + 1.2 * noise)
    glint = (rng.random(body.shape) < 0.03) & (ring > 0.3)
    wake[glint] += 45.0
    return wake


def _splash(
    body: np.ndarray, wake: np.ndarray, width_px: float, rng: np.random.Generator
) -> np.ndarray:
    """White water thrown up by kicks and strokes: blobs of speckle at the body's edge."""
    ys, xs = np.nonzero((wake > 8.0) & (body < 0.3))
    splash = np.zeros(body.shape, np.float32)
    if len(ys) == 0:
        return splash
    for i in rng.choice(len(ys), size=min(len(ys), int(rng.integers(1, 4))), replace=False):
        radius = max(1, round(rng.uniform(0.12, 0.3) * width_px))
        cv2.circle(splash, (int(xs[i]), int(ys[i])), radius, 1.0, -1)
    speckle = cv2.GaussianBlur(rng.random(body.shape).astype(np.float32), (0, 0), 0.7)
    splash *= np.clip((speckle - 0.35) * 4.0, 0.0, 0.85)
    return cv2.GaussianBlur(splash, (0, 0), 0.6)
