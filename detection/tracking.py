"""Track ids for merged detections, with ultralytics' BoT-SORT or ByteTrack.

ultralytics' ``model.track`` tracks the boxes of one predict call; the
detector's boxes come from many tiles merged, so the tracker runs here on the
merged boxes instead. BoT-SORT's camera-motion compensation (sparse optical
flow on the frame) keeps a person's track while the drone flies over them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from detection.errors import DetectionError
from detection.model import configure_offline
from detection.types import Detection

TRACKERS: tuple[str, ...] = ("botsort", "bytetrack")
GMC_WIDTH_PX = 960  # camera motion is estimated on frames shrunk to about this width


class Tracker:
    """Assigns stable ``track_id`` s to successive frames' detections."""

    def __init__(
        self,
        kind: str = "botsort",
        *,
        conf: float = 0.25,
        track_buffer: int = 30,
        match_thresh: float = 0.8,
        gmc: str = "sparseOptFlow",
    ) -> None:
        if kind not in TRACKERS:
            raise DetectionError(f"tracker must be one of {', '.join(TRACKERS)}, not {kind!r}")
        if track_buffer < 1:
            raise DetectionError(f"track_buffer must be at least 1 frame, not {track_buffer!r}")
        configure_offline()
        from ultralytics.trackers import BOTSORT, BYTETracker
        from ultralytics.utils import IterableSimpleNamespace

        # Explicit settings rather than ultralytics' YAML: the thresholds follow
        # the detector's confidence (it drops everything below it anyway).
        args = IterableSimpleNamespace(
            tracker_type=kind,
            track_high_thresh=conf,
            track_low_thresh=min(0.1, conf),
            new_track_thresh=conf,
            track_buffer=track_buffer,
            match_thresh=match_thresh,
            fuse_score=True,
            gmc_method=gmc,
            proximity_thresh=0.5,
            appearance_thresh=0.8,
            with_reid=False,
            model="auto",
            device="cpu",
        )
        self.kind = kind
        self._tracker: Any = BOTSORT(args) if kind == "botsort" else BYTETracker(args)
        self._gmc_sized = False

    def update(self, detections: Sequence[Detection], image_bgr: np.ndarray) -> list[Detection]:
        """The same detections with ``track_id`` set; None where no confirmed track holds it yet."""
        from ultralytics.engine.results import Boxes

        h, w = image_bgr.shape[:2]
        gmc = getattr(self._tracker, "gmc", None)
        if gmc is not None and not self._gmc_sized:
            gmc.downscale = max(1, round(w / GMC_WIDTH_PX))
            self._gmc_sized = True
        data = np.array(
            [[*d.box_xyxy, d.confidence, 0.0] for d in detections], dtype=np.float32
        ).reshape(-1, 6)
        rows = self._tracker.update(Boxes(data, (h, w)), image_bgr)
        ids: dict[int, int] = {}
        for row in np.asarray(rows).reshape(-1, 8):
            ids[int(row[7])] = int(row[4])
        return [dataclasses.replace(d, track_id=ids.get(i)) for i, d in enumerate(detections)]

    def reset(self) -> None:
        self._tracker.reset()  # BoT-SORT also forgets the previous frame's motion features
