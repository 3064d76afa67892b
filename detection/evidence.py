"""Evidence images for incidents: the frame (or a crop around the people concerned)
with boxes, labels, pose skeletons and the incident id in a banner above it.

Drawn with ultralytics' ``Annotator`` in PIL mode, whose font is the local
copy put in place by ``detection.model.configure_offline`` (nothing is
downloaded). A person 45 px tall is a speck in a whole 1080p frame, so
``crop=True`` gives a close-up around the incident's people instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from detection.errors import DetectionError
from detection.model import configure_offline
from detection.types import Detection

if TYPE_CHECKING:
    from detection.incidents import Incident

FOCUS_BGR = (0, 0, 255)
OTHER_BGR = (200, 160, 40)
BANNER_BGR = (32, 32, 32)
MIN_CROP_PX = 256  # a crop is at least this big in frame pixels
CROP_SHORT_SIDE_PX = 480  # and enlarged to at least this (4x at most)
MIN_SKELETON_PX = 80  # skeletons are drawn on people at least this tall in the output


def render_evidence(
    image_bgr: np.ndarray,
    detections: Sequence[Detection],
    *,
    incident_id: str,
    title: str = "",
    focus: Iterable[int] | None = None,
    crop: bool = False,
    max_side: int = 1920,
) -> np.ndarray:
    """The annotated evidence image (BGR).

    ``focus``: track ids of the incident's people, drawn in red; the others in
    blue. None: every detection is in focus. ``crop``: a close-up around the
    people in focus rather than the whole frame, scaled to fit ``max_side``.
    """
    if not isinstance(image_bgr, np.ndarray) or image_bgr.ndim != 3 or image_bgr.shape[2] != 3:
        raise DetectionError("evidence needs an H x W x 3 BGR frame")
    if not incident_id:
        raise DetectionError("evidence needs the incident id to print on it")
    if max_side < 64:
        raise DetectionError(f"max_side must be at least 64 px, not {max_side}")
    focus_ids = None if focus is None else set(focus)
    in_focus = [
        focus_ids is None or (d.track_id is not None and d.track_id in focus_ids)
        for d in detections
    ]
    h, w = image_bgr.shape[:2]
    x0, y0, x1, y1 = 0, 0, w, h
    if crop:
        x0, y0, x1, y1 = _crop_region(
            [d for d, f in zip(detections, in_focus, strict=True) if f], w, h
        )
    region = image_bgr[y0:y1, x0:x1]
    rh, rw = region.shape[:2]
    scale = min(max_side / max(rh, rw), 1.0)
    if crop:
        scale = min(max(scale, CROP_SHORT_SIDE_PX / min(rh, rw)), 4.0, max_side / max(rh, rw))
    size = (max(1, round(rw * scale)), max(1, round(rh * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    body = cv2.resize(region, size, interpolation=interp) if scale != 1 else region.copy()

    banner_text = f"{incident_id}  {title}".strip()
    labels = [_label(d) for d in detections]
    font_px = max(14, round(0.022 * max(size)))
    banner_h = round(font_px * 1.8)
    canvas = np.empty((size[1] + banner_h, size[0], 3), np.uint8)
    canvas[:banner_h] = BANNER_BGR
    canvas[banner_h:] = body

    configure_offline()
    from ultralytics.utils.plotting import Annotator

    ann = Annotator(
        canvas,
        line_width=max(1, round(font_px / 7)),
        font_size=font_px,
        pil=True,
        example=banner_text + "".join(labels),
    )
    ann.text([round(font_px * 0.4), round(font_px * 0.3)], banner_text, txt_color=(255, 255, 255))

    def to_out(x: np.ndarray | float, y: np.ndarray | float) -> tuple:
        return (x - x0) * scale, (y - y0) * scale + banner_h

    order = sorted(range(len(detections)), key=lambda i: in_focus[i])  # focus drawn last, on top
    for i in order:
        d = detections[i]
        bx1, by1 = to_out(d.box_xyxy[0], d.box_xyxy[1])
        bx2, by2 = to_out(d.box_xyxy[2], d.box_xyxy[3])
        if bx2 < 0 or by2 < banner_h or bx1 > size[0] or by1 > canvas.shape[0]:
            continue
        color = FOCUS_BGR if in_focus[i] else OTHER_BGR
        ann.box_label([bx1, by1, bx2, by2], labels[i], color=color)
        if in_focus[i] and d.keypoints is not None and by2 - by1 >= MIN_SKELETON_PX:
            kpts = np.asarray(d.keypoints, dtype=float).copy()
            kpts[:, 0], kpts[:, 1] = to_out(kpts[:, 0], kpts[:, 1])
            radius = max(1, round(min(font_px / 6, (by2 - by1) / 40)))
            ann.kpts(kpts, shape=canvas.shape[:2], radius=radius)
    return np.ascontiguousarray(ann.result())


def evidence_jpeg(
    image_bgr: np.ndarray,
    detections: Sequence[Detection],
    *,
    incident_id: str,
    title: str = "",
    focus: Iterable[int] | None = None,
    crop: bool = False,
    max_side: int = 1920,
    quality: int = 85,
) -> bytes:
    """``render_evidence`` encoded as JPEG bytes, ready for the alert or a file."""
    if not 1 <= quality <= 100:
        raise DetectionError(f"JPEG quality must be 1..100, not {quality}")
    image = render_evidence(
        image_bgr,
        detections,
        incident_id=incident_id,
        title=title,
        focus=focus,
        crop=crop,
        max_side=max_side,
    )
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise DetectionError("JPEG encoding of the evidence image failed")
    return buf.tobytes()


def incident_evidence(
    incident: Incident, image_bgr: np.ndarray, detections: Sequence[Detection]
) -> tuple[str, bytes]:
    """An incident's evidence: its file name (incident id and frame) and a JPEG close-up of
    the frame it is about (people seen from altitude are specks in the whole frame), its
    people in focus."""
    jpeg = evidence_jpeg(
        image_bgr,
        detections,
        incident_id=incident.id,
        title=f"{incident.type} {incident.severity}",
        focus=incident.track_ids or None,
        crop=True,
    )
    return f"{incident.id}-{incident.evidence_frame:06d}.jpg", jpeg


def _label(d: Detection) -> str:
    who = f"#{d.track_id} person" if d.track_id is not None else "person"
    return f"{who} {d.confidence:.2f}"


def _crop_region(focus: Sequence[Detection], width: int, height: int) -> tuple[int, int, int, int]:
    """A region around the people in focus: their union box, padded, at least MIN_CROP_PX."""
    if not focus:
        return 0, 0, width, height
    boxes = np.array([d.box_xyxy for d in focus], dtype=float)
    x1, y1 = boxes[:, :2].min(axis=0)
    x2, y2 = boxes[:, 2:].max(axis=0)
    pad = max(x2 - x1, y2 - y1) * 0.5 + 16
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    half_w = max((x2 - x1) / 2 + pad, MIN_CROP_PX / 2)
    half_h = max((y2 - y1) / 2 + pad, MIN_CROP_PX / 2)
    # slide the window inside the frame rather than shrink it at the borders
    half_w, half_h = min(half_w, width / 2), min(half_h, height / 2)
    cx = min(max(cx, half_w), width - half_w)
    cy = min(max(cy, half_h), height - half_h)
    return (
        max(0, round(cx - half_w)),
        max(0, round(cy - half_h)),
        min(width, round(cx + half_w)),
        min(height, round(cy + half_h)),
    )
