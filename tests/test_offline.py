"""ultralytics never touches the network: proven in a fresh interpreter whose sockets
record and refuse every non-loopback address, through model load (with the ONNX
export), predict, tracking and plotting."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

GUARD = r"""
import json, socket, subprocess, sys

ATTEMPTS, COMMANDS = [], []

def _loopback(host):
    host = str(host).strip("[]").lower()
    return host in ("localhost", "::1", "") or host.startswith("127.")

def _check(what, host):
    if not _loopback(host):
        ATTEMPTS.append([what, str(host)])
        raise ConnectionRefusedError(f"offline test: {what} to {host} refused")

_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex
_getaddrinfo, _gethostbyname = socket.getaddrinfo, socket.gethostbyname
_popen_init = subprocess.Popen.__init__

def _peer(self, address):  # AF_UNIX sockets connect to a path, never off the machine
    return "localhost" if self.family == getattr(socket, "AF_UNIX", None) else address[0]

def connect(self, address):
    _check("connect", _peer(self, address))
    return _connect(self, address)

def connect_ex(self, address):
    _check("connect_ex", _peer(self, address))
    return _connect_ex(self, address)

def getaddrinfo(host, *args, **kwargs):
    _check("getaddrinfo", host)
    return _getaddrinfo(host, *args, **kwargs)

def gethostbyname(host):
    _check("gethostbyname", host)
    return _gethostbyname(host)

def popen_init(self, args, *a, **k):
    COMMANDS.append(args if isinstance(args, str) else " ".join(map(str, args)))
    return _popen_init(self, args, *a, **k)

socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname
subprocess.Popen.__init__ = popen_init
"""

PROBE = r"""
import importlib.util, os
from pathlib import Path
import cv2

from detection.detector import Detector
from detection.evidence import evidence_jpeg
from detection.model import default_weights

assets = Path(next(iter(importlib.util.find_spec("ultralytics").submodule_search_locations)))
image = cv2.imread(str(assets / "assets" / "bus.jpg"))
with Detector() as det:  # default runtime: ONNX export into the config dir, then loaded
    people = det.track(image)
    runtime = det.runtime
jpeg = evidence_jpeg(image, people, incident_id="inc-1", title="湖 person_in_water")
with Detector(runtime="torch", tiling="off", workers=1) as det:
    det.detect(image)

from ultralytics import YOLO  # ultralytics' own predict and plotting, the way users call it
result = YOLO(str(default_weights())).predict(image, verbose=False, save=False)[0]
result.plot()
result.plot(pil=True)

print("PROBE " + json.dumps({
    "attempts": ATTEMPTS,
    "commands": COMMANDS,
    "people": len(people),
    "runtime": runtime,
    "jpeg_bytes": len(jpeg),
    "env": {k: os.environ.get(k) for k in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR")},
}))
"""


def _run(
    code: str, tmp_path: Path, env_update: dict[str, str | None]
) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for key in ("YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_CONFIG_DIR"):
        env.pop(key, None)
    for key, value in env_update.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PYTHONPATH"] = str(REPO)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_load_predict_track_and_plot_open_no_outside_socket(tmp_path: Path) -> None:
    config = tmp_path / "yolo-config"  # fresh: fonts and the ONNX export must be made offline
    proc = _run(GUARD + PROBE, tmp_path, {"YOLO_CONFIG_DIR": str(config)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    report = json.loads(line[len("PROBE ") :])
    assert report["attempts"] == [], f"network attempts: {report['attempts']}"
    assert not [c for c in report["commands"] if "pip" in c], report["commands"]
    assert report["people"] >= 3 and report["jpeg_bytes"] > 10_000
    assert report["env"] == {
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
        "YOLO_CONFIG_DIR": str(config),
    }
    assert (config / "Ultralytics" / "Arial.ttf").is_file()
    assert (config / "Ultralytics" / "Arial.Unicode.ttf").is_file()
    assert list((config / "exports").glob("yolo11n-pose-*-640.onnx"))
    assert list((tmp_path / "work").iterdir()) == []  # no runs/ (or anything) in the cwd


def test_config_dir_defaults_to_the_repository(tmp_path: Path) -> None:
    code = "from detection.model import configure_offline; print('DIR', configure_offline())"
    proc = _run(code, tmp_path, {"YOLO_CONFIG_DIR": None})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"DIR {REPO / '.yolo' / 'Ultralytics'}" in proc.stdout
    assert "ultralytics" not in proc.stderr.lower()  # configuring does not import it


def test_ultralytics_imported_first_elsewhere_is_an_error(tmp_path: Path) -> None:
    code = (
        "import os\n"
        "import ultralytics.utils\n"
        f"os.environ['YOLO_CONFIG_DIR'] = {str(tmp_path / 'other')!r}\n"
        "from detection.model import configure_offline\n"
        "from detection.errors import ModelError\n"
        "try:\n"
        "    configure_offline()\n"
        "except ModelError as exc:\n"
        "    print('REFUSED', exc)\n"
    )
    proc = _run(
        code,
        tmp_path,
        {"YOLO_OFFLINE": "1", "YOLO_CONFIG_DIR": str(tmp_path / "first")},
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "REFUSED ultralytics was imported before" in proc.stdout


def test_the_guard_sees_ultralytics_reach_out_when_not_configured(tmp_path: Path) -> None:
    """Control: without configure_offline, importing ultralytics checks the network
    (DNS for one.one.one.one); the guard records and refuses it, so it would catch us."""
    code = GUARD + "import ultralytics.utils\nprint('PROBE ' + json.dumps(ATTEMPTS))\n"
    proc = _run(code, tmp_path, {"YOLO_CONFIG_DIR": str(tmp_path / "cfg")})
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE "))
    attempts = json.loads(line[len("PROBE ") :])
    assert attempts and all(what == "getaddrinfo" for what, _ in attempts)
