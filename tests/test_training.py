"""The training pipeline: tiles and labels from a small made-up dataset, and one short epoch."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from detection.training import dataset
from detection.training.run import load_config, main

REPO = Path(__file__).resolve().parent.parent


def _fake_dataset(root: Path, frames: int = 3) -> None:
    """YOLO layout: water with dark 'swimmers' (labelled), one boat box per frame."""
    rng = np.random.default_rng(7)
    boats = {}
    for split in ("train", "val"):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(frames):
            image = dataset.made_up_water(960, rng)[:540]
            rows = []
            for _ in range(3):
                x, y = int(rng.integers(50, 900)), int(rng.integers(50, 480))
                cv2.ellipse(image, (x, y), (12, 16), 0, 0, 360, (30, 40, 60), -1)
                rows.append(f"0 {x / 960:.5f} {y / 540:.5f} {28 / 960:.5f} {36 / 540:.5f}\n")
            name = f"{split}_{i}"
            cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), image)
            (root / "labels" / split / f"{name}.txt").write_text("".join(rows))
            boats[f"images/{split}/{name}.jpg"] = [[0, 0, 40, 30]]
    (root / "boats.json").write_text(json.dumps(boats))


def test_crop_labels_keep_people_mostly_inside() -> None:
    boxes = np.array([[100, 100, 120, 140], [630, 100, 660, 140], [700, 700, 720, 720]], float)
    rows = dataset.crop_labels(boxes, 0, 0, 640, 640)
    # the first is whole, the second only a third inside, the third outside
    assert rows.shape == (1, 5)
    np.testing.assert_allclose(rows[0, 1:], [110 / 640, 120 / 640, 20 / 640, 40 / 640])


def test_a_pasted_person_lands_inside_the_tile_with_its_box() -> None:
    rng = np.random.default_rng(0)
    canvas = np.full((640, 640, 3), 90, np.uint8)
    piece = np.full((40, 30, 3), 200, np.uint8)
    piece[10:30, 8:22] = 10  # the person, dark on bright water
    box = dataset.paste(canvas, piece, np.array([8.0, 10.0, 22.0, 30.0]), 2.0, rng)
    assert box is not None
    x0, y0, x1, y1 = box.astype(int)
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 640
    assert {x1 - x0, y1 - y0} == {28, 40}  # scaled 2x, maybe turned
    assert canvas[y0:y1, x0:x1].mean() < 60  # the dark person is where the box says
    # the cut-out's bright water was matched to the canvas: no halo around the box
    around = np.zeros(canvas.shape[:2], bool)
    around[max(0, y0 - 6) : y1 + 6, max(0, x0 - 6) : x1 + 6] = True
    around[y0:y1, x0:x1] = False
    assert np.abs(canvas[around].astype(float) - 90).mean() < 15


def test_prepare_is_reproducible_and_greys_out_boats(tmp_path: Path) -> None:
    source = tmp_path / "src"
    _fake_dataset(source)
    settings = dataset.DatasetSettings(positives_per_frame=2, synthetic=4, tile=320)

    def digest(out: Path) -> str:
        h = hashlib.sha256()
        for p in sorted(out.rglob("*")):
            if p.is_file() and p.suffix in (".jpg", ".txt"):
                h.update(p.name.encode() + p.read_bytes())
        return h.hexdigest()

    first = dataset.prepare(source, tmp_path / "a", settings, seed=3)
    second = dataset.prepare(source, tmp_path / "b", settings, seed=3)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    counts = first["counts"]
    assert counts["positive"] == 6 and counts["synthetic"] == 4 and counts["val"] > 0
    assert counts["people"] >= 6
    assert second["counts"] == counts
    labels = list((tmp_path / "a" / "train" / "labels").glob("*_p*.txt"))
    assert all(f.read_text().strip() for f in labels), "a positive tile without its person"
    frame = dataset.read_split(source, "train")[0]
    assert (dataset.load(frame)[:30, :40] == dataset.GREY).all()
    assert dataset.data_hash(source) != dataset.data_hash(tmp_path / "a")


def test_config_errors_name_what_to_fix(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 0\n")
    with pytest.raises(ValueError, match="lacks source"):
        load_config(bad)
    config = yaml.safe_load((REPO / "detection/training/config.yaml").read_text())
    config["train"]["device"] = "cuda"
    bad.write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="device"):
        load_config(bad)
    assert main([]) == 2
    assert main([str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_one_short_epoch_writes_weights_with_their_card(tmp_path: Path) -> None:
    source = tmp_path / "src"
    _fake_dataset(source, frames=2)
    config = yaml.safe_load((REPO / "detection/training/config.yaml").read_text())
    config |= {"source": str(source), "work_dir": str(tmp_path / "work")}
    config["output"] = str(tmp_path / "out" / "tiny.pt")
    config["dataset"] |= {"tile": 320, "positives_per_frame": 1, "synthetic": 2}
    config["train"] |= {"epochs": 1, "imgsz": 320, "batch": 4, "workers": 0, "cache": False}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))

    from detection.training import train

    weights = train(path)
    assert weights == tmp_path / "out" / "tiny.pt" and weights.stat().st_size > 1_000_000
    card = json.loads(weights.with_suffix(".json").read_text())
    assert card["data"]["sha256"] == dataset.data_hash(source)
    assert card["config"]["train"]["epochs"] == 1
    assert set(card["val_tiles"]) == {"precision", "recall", "mAP50", "mAP50-95"}

    from detection.detector import Detector

    with Detector(weights, runtime="torch", workers=1, pose=False) as det:
        assert det.names == {0: "person"} and not det.keypoints
        det.detect(np.zeros((320, 320, 3), np.uint8))  # runs; a 1-epoch model finds anything
