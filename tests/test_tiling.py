"""Tile layout and cross-tile merging: pure invariants, no model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detection import tiling as tl

FRAME = st.tuples(st.integers(200, 4000), st.integers(200, 2200))
PERSON = st.one_of(st.none(), st.floats(20.0, 400.0))


@settings(max_examples=200, deadline=None)
@given(FRAME, PERSON, st.sampled_from(tl.TILING_MODES))
def test_tiles_cover_the_frame_and_fit_the_model_input(
    frame: tuple[int, int], person_px: float | None, mode: str
) -> None:
    w, h = frame
    plan = tl.plan_tiles(w, h, mode=mode, person_px=person_px)  # type: ignore[arg-type]
    covered = np.zeros((h, w), bool)
    for t in plan.tiles:
        assert 0 <= t.x0 < t.x1 <= w and 0 <= t.y0 < t.y1 <= h
        assert round(t.width * t.scale) <= 640 and round(t.height * t.scale) <= 640
        assert t.scale == plan.scale
        covered[t.y0 : t.y1, t.x0 : t.x1] = True
    assert covered.all()


@settings(max_examples=200, deadline=None)
@given(FRAME, st.floats(20.0, 200.0), st.data())
def test_every_person_of_the_expected_size_is_whole_in_some_tile(
    frame: tuple[int, int], person_px: float, data: st.DataObject
) -> None:
    w, h = frame
    plan = tl.plan_tiles(w, h, mode="on", person_px=person_px)
    side = min(person_px, w, h)
    x = data.draw(st.floats(0, w - side))
    y = data.draw(st.floats(0, h - side))
    inside = [
        t for t in plan.tiles if t.x0 <= x and x + side <= t.x1 and t.y0 <= y and y + side <= t.y1
    ]
    assert inside, f"a {side:.0f} px person at ({x:.0f}, {y:.0f}) is cut in every tile"


def test_scale_follows_the_expected_person_size() -> None:
    small = tl.plan_tiles(1920, 1080, person_px=45)
    native = tl.plan_tiles(1920, 1080, person_px=None)
    # enlarged so a 45 px person reaches the reliable size in the model input
    assert small.scale * 45 >= tl.RELIABLE_PERSON_PX
    assert small.scale > native.scale >= 1.0
    assert len(small.tiles) > len(native.tiles) > 1
    # people large enough for the whole frame: one letterboxed full frame
    big = tl.plan_tiles(1920, 1080, person_px=300)
    assert big.full_frame and big.scale == pytest.approx(640 / 1920)
    # "on" never goes below native resolution; "off" is always the full frame
    assert tl.plan_tiles(1920, 1080, mode="on", person_px=300).scale >= 1.0
    off = tl.plan_tiles(1920, 1080, mode="off", person_px=20)
    assert off.full_frame and len(off.tiles) == 1
    # enlargement is capped: tiny people do not explode the tile count
    assert tl.plan_tiles(1920, 1080, person_px=5).scale <= tl.MAX_ENLARGEMENT


def test_grid_fit_enlarges_more_without_more_tiles() -> None:
    # the wanted scale for a 45 px person needs a 5 x 3 grid; shrinking the tiles
    # to just cover the frame with that grid enlarges beyond what was asked
    wanted = tl.choose_scale(1920, 1080, person_px=45)
    plan = tl.plan_tiles(1920, 1080, person_px=45)
    assert plan.scale >= wanted
    side = round(640 / wanted)
    assert len(plan.tiles) == len(tl.axis_starts(1920, side, 54)) * len(
        tl.axis_starts(1080, side, 54)
    )


def test_small_frame_is_one_tile() -> None:
    plan = tl.plan_tiles(640, 480)
    assert plan.full_frame and plan.scale == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "sometimes"}, "tiling must be one of"),
        ({"person_px": 0.0}, "person_px must be positive"),
        ({"person_px": -3.0}, "person_px must be positive"),
    ],
)
def test_bad_arguments_say_what_to_fix(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tl.plan_tiles(1920, 1080, **kwargs)


def test_axis_starts_are_even_and_overlap() -> None:
    starts = tl.axis_starts(1920, 640, 128)
    assert starts[0] == 0 and starts[-1] == 1920 - 640
    gaps = np.diff(starts)
    assert gaps.max() - gaps.min() <= 1
    assert all(640 - g >= 128 for g in gaps)
    assert tl.axis_starts(500, 640, 128) == [0]


def test_cut_only_at_inner_tile_edges() -> None:
    tile = tl.Tile(0, 400, 640, 1040, 1.0)  # touches the frame's left and bottom edges
    boxes = np.array(
        [
            [0, 500, 50, 600],  # at the frame's left edge: not cut
            [600, 500, 640, 600],  # at the tile's right edge, inside the frame: cut
            [100, 400, 150, 450],  # at the tile's top edge, inside the frame: cut
            [100, 1000, 150, 1040],  # at the frame's bottom edge: not cut
            [300, 600, 350, 700],  # inside: not cut
        ],
        float,
    )
    cut = tl.cut_by_tile_edge(boxes, tile, width=1920, height=1040)
    assert cut.tolist() == [False, True, True, False, False]


def test_intersection_over_smaller_sees_a_part_inside_a_whole() -> None:
    whole = np.array([100, 100, 140, 200], float)
    part = np.array([[100, 100, 140, 130]], float)  # top third of the same person
    assert tl.intersection_over_smaller(whole, part)[0] == pytest.approx(1.0)
    apart = np.array([[300, 300, 340, 400]], float)
    assert tl.intersection_over_smaller(whole, apart)[0] == 0.0


def test_fills_tile_flags_tile_sized_boxes_only() -> None:
    tile = tl.Tile(400, 0, 800, 400, 1.6)
    boxes = np.array([[401, 2, 799, 398], [450, 50, 500, 150]], float)
    assert tl.fills_tile(boxes, tile).tolist() == [True, False]


def _merge(rows: list[tuple[float, float, float, float, float, int, bool]]) -> list[tl.Merged]:
    a = np.array(rows, dtype=float).reshape(-1, 7)
    return tl.merge_across_tiles(a[:, :4], a[:, 4], a[:, 5].astype(int), a[:, 6].astype(bool))


def test_a_person_cut_by_a_tile_edge_is_one_detection_with_the_whole_box() -> None:
    # tile 0 sees the whole person; tile 1 sees the left half, cut at its edge,
    # with a higher score: plain IoU NMS would keep both (IoU 0.5)
    merged = _merge(
        [
            (100, 100, 140, 200, 0.80, 0, False),
            (100, 100, 120, 200, 0.90, 1, True),
        ]
    )
    assert len(merged) == 1
    assert merged[0].box_xyxy == (100, 100, 140, 200)
    assert merged[0].index == 0
    assert merged[0].score == pytest.approx(0.90)


def test_pieces_of_a_person_larger_than_the_overlap_join_into_their_union() -> None:
    merged = _merge(
        [
            (290, 100, 400, 180, 0.86, 1, True),  # right piece, cut at tile 1's left edge (290)
            (250, 100, 340, 181, 0.53, 0, True),  # left piece, cut at tile 0's right edge (340)
            (250, 101, 340, 330, 0.30, 0, True),  # faint, tall spurious piece
        ]
    )
    assert len(merged) == 1
    assert merged[0].box_xyxy == (250, 100, 400, 181)  # the faint piece did not stretch it


def test_two_whole_people_in_one_tile_stay_two() -> None:
    # overlapping people seen whole in one tile: the model's own NMS kept both
    merged = _merge([(100, 100, 140, 200, 0.9, 0, False), (110, 120, 150, 210, 0.8, 0, False)])
    assert len(merged) == 2


def test_distinct_people_in_neighbouring_tiles_stay_distinct() -> None:
    merged = _merge([(100, 100, 140, 200, 0.9, 0, False), (600, 100, 640, 200, 0.8, 1, False)])
    assert sorted(m.index for m in merged) == [0, 1]


def test_merge_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="same length"):
        tl.merge_across_tiles(np.zeros((2, 4)), np.zeros(3), np.zeros(2), np.zeros(2, bool))


def test_halves_of_a_wide_person_meeting_at_a_seam_join() -> None:
    # a 265 px wide person cut by a vertical seam; the tiles overlap by 54 px only,
    # so the halves' IoS is ~0.35, yet they cover the same rows
    merged = _merge(
        [
            (622, 513, 798, 623, 0.86, 1, True),  # right half, cut at tile 1's left edge (622)
            (524, 514, 676, 617, 0.86, 0, True),  # left half, cut at tile 0's right edge (676)
        ]
    )
    assert len(merged) == 1 and merged[0].box_xyxy == (524, 513, 798, 623)
    # whole people side by side at the same height are not pieces of one another
    apart = _merge([(100, 100, 140, 200, 0.9, 0, False), (150, 100, 190, 200, 0.8, 1, False)])
    assert len(apart) == 2


def test_across_a_seam_needs_contact_and_the_same_rows_or_columns() -> None:
    box = np.array([524, 514, 676, 617], float)
    others = np.array(
        [
            [622, 513, 798, 623],  # continues it to the right
            [530, 600, 670, 760],  # continues it downwards
            [700, 513, 850, 623],  # same rows, but does not touch
            [622, 580, 798, 700],  # touches, but different rows
        ],
        float,
    )
    assert tl.across_a_seam(box, others).tolist() == [True, True, False, False]


@settings(max_examples=150, deadline=None)
@given(FRAME, st.floats(20.0, 200.0), st.integers(1, 4), st.data())
def test_free_size_tiles_cover_the_frame_hold_a_person_and_fit_the_limit(
    frame: tuple[int, int], person_px: float, workers: int, data: st.DataObject
) -> None:
    w, h = frame
    plan = tl.plan_tiles(w, h, person_px=person_px, fixed_input=False, workers=workers)
    assert plan.scale >= tl.choose_scale(w, h, person_px=person_px)
    covered = np.zeros((h, w), bool)
    for t in plan.tiles:
        assert 0 <= t.x0 < t.x1 <= w and 0 <= t.y0 < t.y1 <= h
        assert tl.model_side(t.width, t.scale, 32) <= tl.MAX_FREE_SIDE
        assert tl.model_side(t.height, t.scale, 32) <= tl.MAX_FREE_SIDE
        assert round(t.width * t.scale) <= tl.model_side(t.width, t.scale, 32)
        covered[t.y0 : t.y1, t.x0 : t.x1] = True
    assert covered.all()
    side = min(person_px, w, h)
    x = data.draw(st.floats(0, w - side))
    y = data.draw(st.floats(0, h - side))
    assert any(
        t.x0 <= x and x + side <= t.x1 and t.y0 <= y and y + side <= t.y1 for t in plan.tiles
    ), f"a {side:.0f} px person at ({x:.0f}, {y:.0f}) is cut in every tile"


def test_free_size_tiles_waste_less_than_fixed_squares() -> None:
    fixed = tl.plan_tiles(1920, 1080, person_px=45)
    free = tl.plan_tiles(1920, 1080, person_px=45, fixed_input=False, workers=2)
    fixed_px = len(fixed.tiles) * 640 * 640
    free_px = sum(
        tl.model_side(t.width, t.scale, 32) * tl.model_side(t.height, t.scale, 32)
        for t in free.tiles
    )
    assert free.scale * 45 >= tl.RELIABLE_PERSON_PX
    assert len(free.tiles) % 2 == 0 and len(free.tiles) < len(fixed.tiles)
    assert free_px < 0.75 * fixed_px
    # one worker and a frame that fits: one tile, no seam
    assert len(tl.plan_tiles(1280, 720, person_px=100, fixed_input=False).tiles) == 1
    # the full-frame mode stays one letterboxed frame
    off = tl.plan_tiles(1920, 1080, mode="off", fixed_input=False, workers=2)
    assert off.full_frame


def test_merged_detections_name_their_members() -> None:
    merged = _merge([(100, 100, 140, 200, 0.80, 0, False), (100, 100, 120, 200, 0.90, 1, True)])
    assert sorted(merged[0].members) == [0, 1] and merged[0].index in merged[0].members


def test_a_box_mostly_inside_a_surer_one_is_dropped() -> None:
    boxes = np.array(
        [
            [0, 0, 20, 40],  # a swimmer
            [10, 0, 20, 40],  # half of them, less sure
            [0, 30, 20, 70],  # a neighbour overlapping a quarter: kept
            [-2, -2, 22, 44],  # the swimmer with their splash, least sure
        ],
        float,
    )
    keep = tl.not_nested(boxes, np.array([0.9, 0.6, 0.5, 0.3]), 0.5)
    assert keep.tolist() == [True, False, True, False]
    # the surer of two nested boxes stays, whichever is larger
    assert tl.not_nested(boxes[[0, 3]], np.array([0.3, 0.9]), 0.5).tolist() == [False, True]
    assert tl.not_nested(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
