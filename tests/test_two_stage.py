"""Two stages: the aerial detector finds people, the pose model reads their keypoints."""

from __future__ import annotations

import numpy as np
import pytest

import geofences
from detection.detector import Detector
from detection.model import AERIAL_WEIGHTS, default_weights
from detection.rules import arms_raised
from detection.types import Detection
from sitl.camera import build_scene, render

pytestmark = pytest.mark.skipif(not AERIAL_WEIGHTS.is_file(), reason=f"{AERIAL_WEIGHTS} missing")

LAKE = geofences.load(next(p for p in geofences.sample_paths() if p.stem == "gqc-lake"))


@pytest.fixture(scope="module")
def two_stage() -> Detector:
    with Detector(AERIAL_WEIGHTS, workers=1) as det:
        yield det


def _rendered_swimmers():
    """Each in-water person of the demo lake seen from 30 m, with their true box."""
    from detection.pose import Pose

    cam = LAKE.patrol.camera
    scene = build_scene(LAKE, seed=1)
    for p in (q for q in scene.people if q.in_water):
        frame = render(scene, cam, Pose(0.0, p.lat + 2e-5, p.lon - 2e-5, 30.0, yaw_deg=60.0))
        truth = next(v for v in frame.people if v.id == p.id)
        yield p, frame.image, truth.box_xyxy


def test_a_detect_model_gets_the_pose_model_as_second_stage(two_stage: Detector) -> None:
    info = two_stage.describe()
    assert info["keypoints"] is False
    assert info["pose_model"] is not None
    with Detector(default_weights(), tiling="off", workers=1) as one_stage:
        assert one_stage.keypoints and one_stage.describe()["pose_model"] is None
    with Detector(AERIAL_WEIGHTS, workers=1, pose=False) as boxes_only:
        assert boxes_only.describe()["pose_model"] is None


@pytest.mark.slow
def test_the_pose_stage_reads_raised_arms_off_a_found_swimmer(two_stage: Detector) -> None:
    kinds = set()
    for person, image, box in _rendered_swimmers():
        # the second stage on the box the first stage reports for this person
        posed = two_stage._with_pose(image, Detection(box, 0.9))
        assert posed.keypoints is not None and posed.keypoints.shape == (17, 3), person.id
        x0, y0, x1, y1 = box
        nose = posed.keypoints[0]
        assert x0 - (x1 - x0) <= nose[0] <= x1 + (x1 - x0), "keypoints in frame pixels"
        assert y0 - (y1 - y0) <= nose[1] <= y1 + (y1 - y0), "keypoints in frame pixels"
        raised = arms_raised(posed.keypoints)
        assert (raised is True) == (person.kind == "swimmer_waving"), (person.id, raised)
        kinds.add(person.kind)
    assert "swimmer_waving" in kinds and len(kinds) > 1


def test_nothing_found_means_no_pose_call(two_stage: Detector) -> None:
    water = np.full((360, 640, 3), (120, 90, 40), np.uint8)
    assert two_stage.detect(water) == []
