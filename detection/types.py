"""Types shared across the detection pipeline. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One decoded video frame and when it was captured."""

    image: np.ndarray  # H x W x 3, BGR uint8 (OpenCV order)
    t_capture: float  # UNIX seconds (time.time() clock) when the frame was captured
    index: int  # sequence number at the source (gaps = frames dropped)
    source: str = ""


@dataclass(frozen=True)
class Detection:
    """A person in one frame, in full-frame pixel coordinates."""

    box_xyxy: tuple[float, float, float, float]
    confidence: float
    keypoints: np.ndarray | None = field(default=None, compare=False)  # (17, 3): x, y, conf
    track_id: int | None = None

    @property
    def foot_px(self) -> tuple[float, float]:
        """Bottom-centre of the box: where the person meets the ground or water."""
        x1, _, x2, y2 = self.box_xyxy
        return (x1 + x2) / 2.0, y2

    @property
    def centre_px(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box_xyxy
        return (x1 + x2) / 2.0, (y1 + y2) / 2.0

    @property
    def height_px(self) -> float:
        return self.box_xyxy[3] - self.box_xyxy[1]
