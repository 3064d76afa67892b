"""Evidence JPEGs: boxes, labels, skeletons and the incident id, drawn offline."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from benchmarks import scenes
from detection.errors import DetectionError
from detection.evidence import BANNER_BGR, evidence_jpeg, render_evidence
from detection.types import Detection

BUS = scenes.read_photo("ultralytics", "assets/bus.jpg")  # 810 x 1080


def _person(box: tuple[int, int, int, int], track_id: int | None, conf: float = 0.88) -> Detection:
    x1, y1, x2, y2 = box
    # a plausible standing skeleton inside the box: 17 COCO keypoints
    xs = np.linspace(x1 + 0.3 * (x2 - x1), x2 - 0.3 * (x2 - x1), 17)
    ys = np.linspace(y1 + 0.05 * (y2 - y1), y2 - 0.05 * (y2 - y1), 17)
    return Detection(box, conf, np.stack([xs, ys, np.full(17, 0.9)], axis=1), track_id)


PEOPLE = [_person(p.box, k + 1) for k, p in enumerate(scenes.PEOPLE_SOURCES[:2])]


def _decode(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def _is_red(pixels: np.ndarray) -> np.ndarray:
    b, g, r = (pixels[..., i].astype(int) for i in range(3))
    return (r > 150) & (g < 90) & (b < 90)


def test_frame_evidence_has_the_banner_and_the_focus_box_in_red() -> None:
    image = _decode(evidence_jpeg(BUS, PEOPLE, incident_id="inc-0007", title="distress", focus=[1]))
    h, w = BUS.shape[:2]
    banner = image.shape[0] - h
    assert image.shape[1] == w and 20 < banner < 80
    top = image[:banner]
    # a dark banner with light text in it
    assert np.abs(np.median(top.reshape(-1, 3), axis=0) - BANNER_BGR).max() < 20
    assert (top.min(axis=2) > 200).sum() > 50
    # the focus person's box edge is red, the other person's is not
    x1, y1, x2, y2 = PEOPLE[0].box_xyxy
    left_edge = image[banner + int(y1) + 40 : banner + int(y2) - 40, int(x1) - 1 : int(x1) + 2]
    assert _is_red(left_edge).mean() > 0.5
    x1, y1, x2, y2 = PEOPLE[1].box_xyxy
    right_edge = image[banner + int(y1) + 40 : banner + int(y2) - 40, int(x2) - 1 : int(x2) + 2]
    assert _is_red(right_edge).mean() < 0.1
    # outside every box the photograph is unchanged (up to JPEG noise)
    corner = (slice(banner + 20, banner + 200), slice(500, 650))
    assert np.abs(image[corner].astype(int) - BUS[20:200, 500:650].astype(int)).mean() < 6


def test_crop_evidence_zooms_on_the_people_in_focus() -> None:
    frame = scenes.water(1920, 1080, np.random.default_rng(1))
    person = _person((900, 500, 925, 550), 4, 0.7)  # 50 px tall in a 1080p frame
    elsewhere = _person((100, 100, 125, 150), 5, 0.6)
    image = render_evidence(frame, [person, elsewhere], incident_id="inc-9", focus=[4], crop=True)
    assert min(image.shape[:2]) >= 480
    assert image.shape[1] < 1920 / 2  # a close-up, not the whole frame
    rows_with_red = _is_red(image).any(axis=1).sum()
    # the 50 px person's red box (and its label) is enlarged: ~1.9x at a 480 px crop
    assert rows_with_red >= 85


def test_large_frames_are_shrunk_to_max_side() -> None:
    frame = cv2.resize(BUS, (3000, 4000))
    image = render_evidence(frame, [], incident_id="inc-1", max_side=1000)
    assert max(image.shape[:2]) <= 1000 + 60
    assert image.shape[1] == 750


def test_non_ascii_titles_are_drawn_with_the_local_font() -> None:
    image = render_evidence(BUS, PEOPLE, incident_id="inc-2", title="赛湖 person_in_water")
    assert image.shape[0] > BUS.shape[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"incident_id": ""}, "incident id"),
        ({"incident_id": "x", "max_side": 10}, "max_side"),
        ({"incident_id": "x", "quality": 0}, "quality"),
    ],
)
def test_bad_requests_say_what_to_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(DetectionError, match=message):
        evidence_jpeg(BUS, PEOPLE, **kwargs)


def test_a_grey_frame_is_refused() -> None:
    with pytest.raises(DetectionError, match="BGR frame"):
        evidence_jpeg(BUS[..., 0], PEOPLE, incident_id="x")
