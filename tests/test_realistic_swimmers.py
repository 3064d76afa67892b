"""Real swimmers for the synthetic camera: cut-outs from footage, the look switch, rendering.

Most tests cut swimmers out of made-up frames (no data needed); the ones marked
``needs_shared`` use the train split of ../shared/data/aerial-people and skip
with the reason when it is absent.
"""

from __future__ import annotations

import logging
import math
import subprocess
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from detection.georef import locate
from detection.pose import Pose
from geofences.projection import LocalProjection
from sitl.camera import AssetError, Assets, SceneError, build_scene, render
from sitl.camera import swimmers as footage
from tests.test_synthetic_camera import LAKE, POSES, SAMPLES, _distance_m, _offset

WATER = (112, 144, 124)  # BGR, the footage's olive green
MISSING = footage.unavailable_reason()
needs_shared = pytest.mark.skipif(MISSING is not None, reason=f"no real footage: {MISSING}")


def _frame(seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int, int, int]]]:
    """A made-up drone frame: noisy water, two swimmers (dark suit, orange jacket, a head)."""
    rng = np.random.default_rng(seed)
    img = np.clip(np.array(WATER) + rng.normal(0, 3, (240, 320, 3)), 0, 255).astype(np.uint8)
    boxes = []
    for cx, cy, angle in ((80, 100, 20), (220, 150, -50)):
        cv2.ellipse(img, (cx, cy), (16, 6), angle, 0, 360, (40, 38, 35), -1, cv2.LINE_AA)
        cv2.circle(img, (cx, cy), 6, (20, 110, 240), -1, cv2.LINE_AA)
        cv2.circle(img, (cx + 9, cy - 3), 3, (120, 150, 200), -1, cv2.LINE_AA)
        boxes.append((cx - 19, cy - 14, cx + 19, cy + 14))
    return img, boxes


def _fake_root(tmp_path: Path) -> Path:
    """A data set laid out like aerial-people: train frames with labels, and a val split."""
    root = tmp_path / "aerial-people"
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
    for i in range(2):
        img, boxes = _frame(i)
        h, w = img.shape[:2]
        for split in ("train", "val"):
            cv2.imwrite(str(root / "images" / split / f"{split}_{i}.jpg"), img)
            lines = [
                f"0 {(x1 + x2) / 2 / w} {(y1 + y2) / 2 / h} {(x2 - x1) / w} {(y2 - y1) / h}"
                for x1, y1, x2, y2 in boxes
            ]
            (root / "labels" / split / f"{split}_{i}.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="module")
def made_up_cutouts() -> tuple[footage.SwimmerCutout, ...]:
    img, boxes = _frame()
    cuts = tuple(footage.cut_out(img, b, f"made-up#{i}", []) for i, b in enumerate(boxes))
    assert all(c is not None for c in cuts)
    return cuts


@pytest.fixture(scope="module")
def real_assets(made_up_cutouts) -> Assets:
    return Assets(swimmers=made_up_cutouts)


@pytest.fixture(scope="module")
def real_scene():
    sc = build_scene(LAKE, seed=0)
    return replace(sc, swimmers="real")  # the look forced: these tests bring their own cut-outs


# -- cutting out ------------------------------------------------------------------------


def test_cut_out_separates_the_person_from_the_water(made_up_cutouts):
    _, boxes = _frame()
    cut = made_up_cutouts[0]
    a = cut.bgra[..., 3]
    x1, y1, x2, y2 = boxes[0]
    # the cut-out's opaque pixels are the dark suit and the jacket, not the water
    body = cut.bgra[..., :3][a > 200].astype(float)
    water_dist = np.linalg.norm(body - np.array(WATER), axis=1)
    assert (a > 200).sum() > 150 and np.median(water_dist) > 60
    assert a.shape[0] <= y2 - y1 and a.shape[1] <= x2 - x1  # nothing outside the box
    assert a[0, 0] < 40 and a[-1, -1] < 40  # the box's corners are water
    # the long axis (the ellipse's 20 degrees) and the width across it (2 x 6 px)
    assert cut.axis_deg % 180 == pytest.approx(20, abs=8)
    assert 9.0 < cut.width_px < 17.0


def test_cut_out_refuses_what_it_cannot_separate():
    img, boxes = _frame()
    assert footage.cut_out(img, (5, 5, 12, 12)) is None  # too small
    assert footage.cut_out(img, (0, 80, 40, 120)) is None  # cut by the frame's edge
    assert footage.cut_out(img, (140, 60, 180, 100)) is None  # only water in it
    crowd = [(x, y, x + 30, y + 30) for x in range(0, 320, 30) for y in range(0, 240, 30)]
    assert footage.cut_out(img, boxes[0], avoid=crowd) is None  # no water left to learn


def test_only_the_train_split_is_read_and_the_cache_is_used(tmp_path, monkeypatch):
    root, cache = _fake_root(tmp_path), tmp_path / "cache"
    cuts = footage.load_cutouts(root, cache)
    assert len(cuts) == 4
    assert all(c.source.startswith("train_") for c in cuts)
    files = list(cache.glob("cutouts-*.npz"))
    assert len(files) == 1

    def no_extract(_root):
        raise AssertionError("cut out again although the cache is there")

    monkeypatch.setattr(footage, "extract", no_extract)
    again = footage.load_cutouts(root, cache)
    assert [c.source for c in again] == [c.source for c in cuts]
    assert all(np.array_equal(a.bgra, b.bgra) for a, b in zip(again, cuts, strict=True))


def test_a_changed_label_makes_a_new_cache(tmp_path):
    root, cache = _fake_root(tmp_path), tmp_path / "cache"
    footage.load_cutouts(root, cache)
    (root / "labels" / "train" / "train_1.txt").write_text("0 0.25 0.42 0.12 0.12\n")
    first = list(cache.glob("cutouts-*.npz"))
    assert len(footage.load_cutouts(root, cache)) == 3
    now = list(cache.glob("cutouts-*.npz"))
    assert len(now) == 1 and now != first  # the stale cache is gone


def test_bad_labels_and_missing_data_say_what_to_fix(tmp_path, caplog):
    root = _fake_root(tmp_path)
    (root / "labels" / "train" / "train_0.txt").write_text("0 half 0.5 0.1 0.1\n")
    with pytest.raises(AssetError, match=r"train_0\.txt:1: not a YOLO line"):
        footage.extract(root)
    gone = tmp_path / "nowhere"
    with pytest.raises(AssetError, match="nowhere/images/train is missing"):
        footage.load_cutouts(gone, tmp_path / "cache")
    with pytest.raises(AssetError, match="real swimmers asked for"):
        footage.choose_look("real", gone)
    with caplog.at_level(logging.WARNING, logger="sitl.camera.swimmers"):
        assert footage.choose_look("auto", gone) == "composed"
    assert "composed photographs" in caplog.text and "nowhere" in caplog.text
    assert footage.choose_look("composed", gone) == "composed"
    assert "evaluation set" in footage.unavailable_reason(tmp_path / "aerial-people-eval")
    with pytest.raises(SceneError, match="swimmer_look='fake'"):
        build_scene(LAKE, swimmer_look="fake")


def test_the_look_leaves_every_position_where_it_was():
    composed = build_scene(LAKE, 4, swimmer_look="composed")
    auto = build_scene(LAKE, 4, swimmer_look="auto")
    assert composed.swimmers == "composed"
    assert [(p.id, p.lat, p.lon) for p in auto.people] == [
        (p.id, p.lat, p.lon) for p in composed.people
    ]
    widths = [p.width_m for p in composed.people if p.in_water]
    assert all(0.5 <= w <= 0.8 for w in widths) and len(set(widths)) == len(widths)


# -- rendering --------------------------------------------------------------------------


@pytest.mark.parametrize("attitude", POSES)
def test_a_real_swimmers_centre_georeferences_back(real_scene, real_assets, attitude):
    cam = LAKE.patrol.camera
    proj = LocalProjection.around(LAKE.water.centroid.y, LAKE.water.centroid.x)
    swimmers = [p for p in real_scene.people if p.in_water]
    for k, person in enumerate(swimmers):
        lat, lon = _offset(person.lat, person.lon, 6.0 - k, 4.0 + 0.5 * k)
        pose = Pose(t=1.3 * k, lat=lat, lon=lon, alt_m=45.0, **attitude)
        v = {v.id: v for v in render(real_scene, cam, pose, assets=real_assets).people}[person.id]
        assert v.visible_fraction == 1.0
        x1, y1, x2, y2 = v.box_xyxy
        g = locate(cam, pose, (x1 + x2) / 2.0, (y1 + y2) / 2.0, proj)  # the body's centre
        assert g is not None
        assert _distance_m(g.lat, g.lon, person.lat, person.lon) < 0.15, (person.id, attitude)


def test_a_real_swimmer_seen_obliquely_within_a_metre(real_scene, real_assets):
    cam = LAKE.patrol.camera
    proj = LocalProjection.around(LAKE.water.centroid.y, LAKE.water.centroid.x)
    person = real_scene.person("swimmer-1")
    lat, lon = _offset(person.lat, person.lon, 0.0, -60.0)
    pose = Pose(t=0.0, lat=lat, lon=lon, alt_m=40.0, yaw_deg=0.0, gimbal_pitch_deg=-35.0)
    v = {v.id: v for v in render(real_scene, cam, pose, assets=real_assets).people}[person.id]
    x1, y1, x2, y2 = v.box_xyxy
    g = locate(cam, pose, (x1 + x2) / 2.0, (y1 + y2) / 2.0, proj)
    assert g is not None
    assert _distance_m(g.lat, g.lon, person.lat, person.lon) < 1.0
    # foreshortened: a body lying on the water is flatter seen from the side
    assert (y2 - y1) < (x2 - x1) * 1.2


def test_a_real_swimmer_is_as_wide_as_the_gsd_says(real_scene, real_assets):
    cam = LAKE.patrol.camera
    p = real_scene.person("swimmer-2")
    cut = real_assets.real_swimmers[p.variant % len(real_assets.real_swimmers)]
    sizes = {}
    for alt in (30.0, 60.0):
        drawn = render(real_scene, cam, Pose(0.0, p.lat, p.lon, alt), assets=real_assets)
        x1, y1, x2, y2 = {q.id: q for q in drawn.people}[p.id].box_xyxy
        sizes[alt] = math.hypot(x2 - x1, y2 - y1)
        # the cut-out's diagonal, scaled so its width is the person's width at this GSD
        scale = p.width_m / cam.gsd_m(alt) / cut.width_px
        expect = math.hypot(*cut.bgra.shape[:2]) * scale
        assert 0.5 * expect < sizes[alt] < 1.2 * expect, (alt, sizes[alt], expect)
    assert sizes[60.0] == pytest.approx(sizes[30.0] / 2, rel=0.25)


def test_real_swimmers_move_splash_and_stay_in_their_patch(real_scene, real_assets):
    cam = LAKE.patrol.camera
    p = next(q for q in real_scene.people if q.kind == "swimmer_waving")  # always splashing
    pose = Pose(t=10.0, lat=p.lat, lon=p.lon, alt_m=30.0, yaw_deg=40.0)
    a = render(real_scene, cam, pose, assets=real_assets)
    b = render(real_scene, cam, pose, assets=real_assets)
    later = render(real_scene, cam, replace(pose, t=11.05), assets=real_assets)
    bare = render(replace(real_scene, people=()), cam, pose, assets=real_assets).image
    assert np.array_equal(a.image, b.image) and a.people == b.people
    assert not np.array_equal(a.image, later.image)  # sway, bob and splashes move
    va = {v.id: v for v in a.people}[p.id]
    x1, y1, x2, y2 = (int(c) for c in va.box_xyxy)
    diff = np.abs(a.image.astype(int) - bare.astype(int)).sum(axis=2)
    assert diff[y1:y2, x1:x2].mean() > 30  # a person, not the water
    reach = 2 * max(x2 - x1, y2 - y1)  # wake and splashes stay close to the body
    changed = np.argwhere(diff > 0)
    assert (np.abs(changed - [(y1 + y2) / 2, (x1 + x2) / 2]) <= reach).all()
    white = a.image[max(0, y1 - reach) : y2 + reach, max(0, x1 - reach) : x2 + reach] > 200
    assert white.all(axis=2).sum() >= 3  # white water thrown up beside them


def test_composed_swimmers_stay_upright_when_asked(real_assets):
    sc = build_scene(LAKE, 0, swimmer_look="composed")
    p = sc.person("swimmer-1")
    v = {v.id: v for v in render(sc, LAKE.patrol.camera, Pose(0.0, p.lat, p.lon, 30.0)).people}
    tall = (v[p.id].box_xyxy[3] - v[p.id].box_xyxy[1]) / v[p.id].height_px
    assert tall == pytest.approx(1.0, abs=0.05)
    assert v[p.id].foot_px[1] == pytest.approx(v[p.id].box_xyxy[3], abs=1.0)


# -- command line -----------------------------------------------------------------------


def test_scene_command_takes_the_look():
    from sitl.camera_cli import app

    lake = str(SAMPLES["gqc-lake"])
    out = CliRunner().invoke(app, ["scene", lake, "--swimmers", "composed"])
    assert out.exit_code == 0 and "composed swimmers" in out.output
    bad = CliRunner().invoke(app, ["scene", lake, "--swimmers", "photoreal"])
    assert bad.exit_code == 2 and "composed" in bad.output


# -- the real footage -------------------------------------------------------------------


@needs_shared
def test_the_train_split_gives_hundreds_of_swimmers():
    cuts = footage.default_cutouts()
    assert len(cuts) > 500
    train = {p.name for p in (footage.DATA_ROOT / "images" / "train").glob("*.jpg")}
    assert {c.source.split("#")[0] for c in cuts} <= train
    sizes = np.array([max(c.bgra.shape[:2]) for c in cuts])
    assert 20 <= np.median(sizes) <= 80  # heads, shoulders, arms: tens of pixels
    assert all(c.bgra.shape[2] == 4 and c.width_px >= 1.0 for c in cuts)


@needs_shared
def test_the_cache_stays_out_of_the_repository():
    footage.default_cutouts()
    cached = sorted(footage.CACHE_DIR.glob("cutouts-*.npz"))
    assert cached
    rel = cached[-1].relative_to(footage.REPO)
    ignored = subprocess.run(["git", "check-ignore", "-q", str(rel)], cwd=footage.REPO, check=False)
    assert ignored.returncode == 0, f"{rel} would be committed"


@needs_shared
def test_real_footage_swimmers_georeference_back():
    sc = build_scene(LAKE, seed=2, swimmer_look="auto")
    assert sc.swimmers == "real"
    cam = LAKE.patrol.camera
    proj = LocalProjection.around(LAKE.water.centroid.y, LAKE.water.centroid.x)
    for person in (p for p in sc.people if p.in_water):
        lat, lon = _offset(person.lat, person.lon, 5.0, -3.0)
        pose = Pose(t=2.0, lat=lat, lon=lon, alt_m=50.0, yaw_deg=70.0)
        v = {v.id: v for v in render(sc, cam, pose).people}[person.id]
        x1, y1, x2, y2 = v.box_xyxy
        assert 5 <= max(x2 - x1, y2 - y1) <= 60  # 0.5-0.8 m wide at 3.6 cm per pixel
        g = locate(cam, pose, (x1 + x2) / 2.0, (y1 + y2) / 2.0, proj)
        assert g is not None
        assert _distance_m(g.lat, g.lon, person.lat, person.lon) < 0.15
    # the report's truth says how big they are drawn
    doc = sc.to_json()
    assert doc["swimmers"] == "real"
    assert all("width_m" in p for p in doc["people"] if p["in_water"])
