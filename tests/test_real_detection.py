"""The committed aerial weights on real drone photographs (val split of aerial-people)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks.bench_real_detection import DATA, Score
from detection.detector import Detector
from detection.model import AERIAL_WEIGHTS
from detection.training.dataset import read_split

VAL = DATA / "aerial-people"
# a fixed subset: North Sea frames from the start, middle and end of the val flight, and
# three frames of the lake the training never saw (one swimmer each, boats around)
SUBSET = (
    "sds_NorthSea_Sat_Z30_DJI003_14036",
    "sds_NorthSea_Sat_Z30_DJI003_14038",
    "sds_NorthSea_Sat_Z30_DJI003_14052",
    "sds_DJI_0001_d3_15971",
    "sds_DJI_0001_d3_15975",
    "sds_DJI_0001_d3_15979",
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not VAL.is_dir(), reason=f"real footage {VAL} not present (../shared)"),
]


def test_the_weights_are_committed_and_load_offline() -> None:
    assert AERIAL_WEIGHTS.is_file(), f"{AERIAL_WEIGHTS} missing: python -m detection.train"
    assert AERIAL_WEIGHTS.stat().st_size < 12_000_000  # stripped of the optimizer state
    assert AERIAL_WEIGHTS.with_name("MODEL_CARD.md").is_file()


def test_the_aerial_detector_finds_real_swimmers() -> None:
    frames = [f for f in read_split(VAL, "val") if f.path.stem in SUBSET]
    assert len(frames) == len(SUBSET), "the val split changed: update SUBSET"
    score = Score()
    with Detector(AERIAL_WEIGHTS, pose=False) as det:
        for frame in frames:
            found = det.detect(cv2.imread(str(frame.path)))
            score.add(frame, [(d.box_xyxy, d.confidence) for d in found], 0.0)
    people, hits, false = score.counts(det.conf)
    # aerial: 24 of these 29 people, 3 false; the pose-only detector (tiles for 20 px): 3 of
    # 29. A broken model finds none, or everything (precision)
    assert hits >= 0.7 * people, (hits, people)
    assert hits >= 0.7 * (hits + false), (hits, false)
    lake = [f for f in frames if "DJI_0001" in f.path.stem]
    assert all(len(f.boxes) == 1 for f in lake)
    assert np.isfinite(score.ap50())
