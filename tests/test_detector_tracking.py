"""One person is one track across frames, while the drone's camera moves over the water."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import scenes
from detection.detector import Detector
from detection.errors import DetectionError
from detection.tracking import Tracker
from detection.types import Detection

VIEW_W, VIEW_H = 1280, 720
STEP = (30, 10)  # camera drift per frame, pixels: a drone flying over the scene
FRAMES = 10


@pytest.fixture(scope="module")
def world() -> scenes.Scene:
    """A water scene larger than the camera view, with three people 95-120 px tall."""
    seen_throughout = (STEP[0] * FRAMES, STEP[1] * FRAMES, VIEW_W, VIEW_H)
    return scenes.compose(
        1640,
        900,
        heights_px=[95.0, 105.0, 120.0],
        n_lookalikes=4,
        seed=8,
        people_within=seen_throughout,
    )


def _views(world: scenes.Scene) -> list[tuple[np.ndarray, np.ndarray]]:
    """Camera frames and the people's boxes in each, for a view sliding across ``world``."""
    out = []
    for k in range(FRAMES):
        x0, y0 = k * STEP[0], k * STEP[1]
        frame = np.ascontiguousarray(world.image[y0 : y0 + VIEW_H, x0 : x0 + VIEW_W])
        boxes = world.boxes - [x0, y0, x0, y0]
        visible = (boxes[:, 0] >= 0) & (boxes[:, 1] >= 0)
        visible &= (boxes[:, 2] <= VIEW_W) & (boxes[:, 3] <= VIEW_H)
        out.append((frame, np.where(visible[:, None], boxes, np.nan)))
    return out


@pytest.mark.slow
@pytest.mark.parametrize("tracker", ["botsort", "bytetrack"])
def test_each_person_keeps_one_track_while_the_camera_moves(
    world: scenes.Scene, tracker: str
) -> None:
    ids_per_person: dict[int, set[int]] = {i: set() for i in range(len(world.boxes))}
    tracked_frames = dict.fromkeys(range(len(world.boxes)), 0)
    with Detector(person_px=95, tracker=tracker) as det:
        for frame, truth in _views(world):
            for d in det.track(frame):
                ious = scenes.box_iou(np.array([d.box_xyxy]), np.nan_to_num(truth, nan=-1e6))[0]
                person = int(ious.argmax())
                if ious[person] < 0.4:
                    continue
                if d.track_id is not None:
                    ids_per_person[person].add(d.track_id)
                    tracked_frames[person] += 1
    visible = [i for i in ids_per_person if tracked_frames[i]]
    assert len(visible) == 3, f"people never tracked: {tracked_frames}"
    for person in visible:
        assert len(ids_per_person[person]) == 1, f"person {person} got ids {ids_per_person[person]}"
        assert tracked_frames[person] >= FRAMES - 2  # confirmed from the second frame at the latest
    all_ids = [next(iter(ids_per_person[p])) for p in visible]
    assert len(set(all_ids)) == len(all_ids), "two people share a track"


def test_reset_tracks_starts_the_ids_again(world: scenes.Scene) -> None:
    frame, _ = _views(world)[0]
    with Detector(person_px=95) as det:
        first = {d.track_id for d in det.track(frame)}
        again = {d.track_id for d in det.track(frame)}
        assert first == again and None not in first
        det.reset_tracks()
        after = {d.track_id for d in det.track(frame)}
    assert after == first  # numbering restarts; the same people get the first ids again


def test_detect_does_not_touch_tracks(world: scenes.Scene) -> None:
    frame, _ = _views(world)[0]
    with Detector(person_px=95) as det:
        assert all(d.track_id is None for d in det.detect(frame))


def test_tracker_on_scripted_boxes_confirms_on_the_second_frame() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    tracker = Tracker("bytetrack")
    a = Detection((100.0, 100.0, 140.0, 200.0), 0.9)
    tracker.update([a], image)  # frame 1: tracks start confirmed
    moved = Detection((104.0, 101.0, 144.0, 201.0), 0.9)
    newcomer = Detection((400.0, 300.0, 440.0, 400.0), 0.9)
    second = tracker.update([moved, newcomer], image)
    assert second[0].track_id == 1
    assert second[1].track_id is None  # a new track is confirmed only when seen again
    third = tracker.update([moved, newcomer], image)
    assert third[0].track_id == 1 and third[1].track_id == 2


def test_unknown_tracker_is_refused() -> None:
    with pytest.raises(DetectionError, match="tracker must be one of"):
        Tracker("sort")
