"""The ArduPilot SITL harness: find the arducopter binary, start it privately on loopback, stop it.

- Binary: ``ARDUPILOT_SITL`` (path to the binary), else ``arducopter`` on PATH.
- Defaults: ``ARDUPILOT_SITL_DEFAULTS`` (one file or a comma-separated list),
  else ``copter.parm`` next to the binary (or in ``default_params/`` there).
- Command: ``arducopter --model + --speedup N --defaults F --home LAT,LON,ALT,HDG
  -I N -w --serial0 udpclient:127.0.0.1:PORT`` in a scratch directory (SITL
  writes eeprom.bin, logs/ and terrain/ there). SERIAL0 then sends MAVLink to
  a port waterpatrol listens on (``udpin:127.0.0.1:PORT``) instead of the TCP
  server on 0.0.0.0:5760. SITL still opens its other serial ports (TCP
  5762/5763 + 10*I) on all interfaces; run it in its own network namespace
  where that matters.
- Ready when its first MAVLink packet arrives; stopped with SIGTERM (clean
  exit once start-up has finished), then SIGKILL after a timeout. The
  scratch directory, with ``sitl.log``, is kept when asked to (a failed test).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from sitl.errors import SitlNotFoundError, SitlStartError, SitlTimeoutError

ENV_BINARY = "ARDUPILOT_SITL"
ENV_DEFAULTS = "ARDUPILOT_SITL_DEFAULTS"
BINARY_NAME = "arducopter"
STARTUP_S = 0.5  # SIGTERM before this after the first packet just kills it


def find_binary(env: Mapping[str, str] | None = None) -> Path:
    """The arducopter SITL binary, or SitlNotFoundError saying how to provide one."""
    env = os.environ if env is None else env
    given = env.get(ENV_BINARY, "").strip()
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise SitlNotFoundError(
                f"{ENV_BINARY}={given} is not a file; point it at the arducopter SITL binary"
            )
        if not os.access(path, os.X_OK):
            raise SitlNotFoundError(f"{ENV_BINARY}={given} is not executable (chmod +x it)")
        return path
    found = shutil.which(BINARY_NAME, path=env.get("PATH", os.defpath))
    if found is None:
        raise SitlNotFoundError(
            f"no ArduPilot SITL binary: set {ENV_BINARY} to the arducopter binary "
            f"or put {BINARY_NAME} on PATH"
        )
    return Path(found)


def find_defaults(binary: Path, env: Mapping[str, str] | None = None) -> list[Path]:
    """Defaults files for ``--defaults``; an empty list when none is found next to the binary."""
    env = os.environ if env is None else env
    given = env.get(ENV_DEFAULTS, "").strip()
    if given:
        paths = [Path(p.strip()).expanduser() for p in given.split(",") if p.strip()]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise SitlNotFoundError(f"{ENV_DEFAULTS} names missing file(s): {', '.join(missing)}")
        return paths
    for candidate in (
        binary.parent / "copter.parm",
        binary.parent / "default_params" / "copter.parm",
    ):
        if candidate.is_file():
            return [candidate]
    return []


def build_command(
    binary: Path,
    *,
    home: tuple[float, float, float],
    speedup: float,
    instance: int,
    gcs_port: int,
    defaults: Sequence[Path] = (),
    heading_deg: float = 0.0,
    model: str = "+",
) -> list[str]:
    """The SITL command line; SERIAL0 goes to udpclient 127.0.0.1:``gcs_port``."""
    lat, lon, alt = home
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise SitlStartError(f"home {lat},{lon} is not a WGS84 position")
    if speedup <= 0:
        raise SitlStartError(f"speedup must be positive, got {speedup}")
    if not 0 <= instance <= 99:
        raise SitlStartError(f"instance -I must be 0..99, got {instance}")
    if not 0 < gcs_port < 65536:
        raise SitlStartError(f"GCS port {gcs_port} is out of range")
    cmd = [
        str(binary),
        "--model",
        model,
        "--speedup",
        f"{speedup:g}",
        "--home",
        f"{lat:.7f},{lon:.7f},{alt:.2f},{heading_deg:g}",
        f"-I{instance}",
        "-w",
        "--serial0",
        f"udpclient:127.0.0.1:{gcs_port}",
    ]
    if defaults:
        cmd[5:5] = ["--defaults", ",".join(str(p) for p in defaults)]
    return cmd


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ArduPilotSitl:
    """One SITL process. ``url`` is what the vehicle link opens once ``start()`` returns."""

    def __init__(
        self,
        home: tuple[float, float, float],
        speedup: float = 10.0,
        instance: int = 0,
        workdir: Path | None = None,
        binary: Path | None = None,
        gcs_port: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.home = home
        self.speedup = speedup
        self.instance = instance
        self.env = dict(os.environ if env is None else env)
        self.binary = binary
        self.gcs_port = gcs_port or _free_udp_port()
        self._own_workdir = workdir is None
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready_at: float | None = None
        self.returncode: int | None = None

    @property
    def url(self) -> str:
        return f"udpin:127.0.0.1:{self.gcs_port}"

    @property
    def log_path(self) -> Path | None:
        return None if self.workdir is None else self.workdir / "sitl.log"

    def command(self) -> list[str]:
        binary = self.binary or find_binary(self.env)
        return build_command(
            binary,
            home=self.home,
            speedup=self.speedup,
            instance=self.instance,
            gcs_port=self.gcs_port,
            defaults=find_defaults(binary, self.env),
        )

    def start(self, timeout_s: float = 30.0) -> None:
        cmd = self.command()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="waterpatrol-sitl-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            listener.bind(("127.0.0.1", self.gcs_port))
            with open(self.workdir / "sitl.log", "wb") as log:
                log.write((" ".join(cmd) + "\n").encode())
                log.flush()
                self.proc = subprocess.Popen(
                    cmd,
                    cwd=self.workdir,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=self.env,
                )
            self._wait_first_packet(listener, timeout_s)
        except BaseException:
            self.stop(keep_logs=True)
            raise
        finally:
            listener.close()

    def _wait_first_packet(self, listener: socket.socket, timeout_s: float) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        listener.settimeout(0.2)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SitlStartError(
                    f"ArduPilot SITL exited with code {self.proc.returncode} during start-up; "
                    f"see {self.log_path}:\n{self.log_tail()}"
                )
            try:
                data = listener.recv(4096)
            except TimeoutError:
                continue
            if data[:1] in (b"\xfd", b"\xfe"):
                self.ready_at = time.monotonic()
                return
        raise SitlTimeoutError(
            f"ArduPilot SITL sent no MAVLink to 127.0.0.1:{self.gcs_port} within {timeout_s} s; "
            f"see {self.log_path}"
        )

    def log_tail(self, lines: int = 40) -> str:
        path = self.log_path
        if path is None or not path.is_file():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 10.0, keep_logs: bool = False) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            if self.ready_at is not None:
                time.sleep(max(0.0, self.ready_at + STARTUP_S - time.monotonic()))
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        if proc is not None:
            self.returncode = proc.returncode
        self.proc = None
        if not keep_logs and self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> ArduPilotSitl:
        self.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self.stop(keep_logs=exc_type is not None)
