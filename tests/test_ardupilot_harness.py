"""ArduPilot SITL harness: binary discovery, command line, and (marked sitl) a real start/stop."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sitl.ardupilot import ArduPilotSitl, build_command, find_binary, find_defaults
from sitl.cli import parse_home, sitl_app
from sitl.errors import SimConfigError, SitlNotFoundError, SitlStartError

HOME = (29.2505, 115.7953, 21.0)


def _exe(path: Path) -> Path:
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_env_variable_wins_over_path(tmp_path):
    on_path = _exe(tmp_path / "arducopter")
    chosen = _exe(tmp_path / "my-copter")
    env = {"ARDUPILOT_SITL": str(chosen), "PATH": str(tmp_path)}
    assert find_binary(env) == chosen
    assert find_binary({"PATH": str(tmp_path)}) == on_path


def test_missing_binary_says_how_to_provide_one(tmp_path):
    with pytest.raises(SitlNotFoundError, match="ARDUPILOT_SITL"):
        find_binary({"PATH": str(tmp_path)})
    with pytest.raises(SitlNotFoundError, match="is not a file"):
        find_binary({"ARDUPILOT_SITL": str(tmp_path / "nope")})
    plain = tmp_path / "arducopter"
    plain.write_text("not executable")
    with pytest.raises(SitlNotFoundError, match="not executable"):
        find_binary({"ARDUPILOT_SITL": str(plain)})


def test_defaults_from_env_or_next_to_binary(tmp_path):
    binary = _exe(tmp_path / "arducopter")
    assert find_defaults(binary, {}) == []
    parm = tmp_path / "copter.parm"
    parm.write_text("FENCE_RADIUS 150\n")
    assert find_defaults(binary, {}) == [parm]
    extra = tmp_path / "sd.parm"
    extra.write_text("BRD_SD_MISSION 64\n")
    assert find_defaults(binary, {"ARDUPILOT_SITL_DEFAULTS": f"{parm},{extra}"}) == [parm, extra]
    with pytest.raises(SitlNotFoundError, match="missing"):
        find_defaults(binary, {"ARDUPILOT_SITL_DEFAULTS": str(tmp_path / "gone.parm")})


def test_command_line_is_private_to_loopback(tmp_path):
    cmd = build_command(
        tmp_path / "arducopter",
        home=HOME,
        speedup=5,
        instance=2,
        gcs_port=14560,
        defaults=[tmp_path / "copter.parm"],
    )
    assert cmd[:7] == [
        str(tmp_path / "arducopter"),
        "--model",
        "+",
        "--speedup",
        "5",
        "--defaults",
        str(tmp_path / "copter.parm"),
    ]
    assert cmd[cmd.index("--home") + 1] == "29.2505000,115.7953000,21.00,0"
    assert "-I2" in cmd and "-w" in cmd
    assert cmd[cmd.index("--serial0") + 1] == "udpclient:127.0.0.1:14560"
    assert "0.0.0.0" not in " ".join(cmd)
    assert "--defaults" not in build_command(
        tmp_path / "a", home=HOME, speedup=1, instance=0, gcs_port=1
    )


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"speedup": 0}, "speedup"),
        ({"instance": -1}, "instance"),
        ({"gcs_port": 70000}, "port"),
        ({"home": (95.0, 0.0, 0.0)}, "WGS84"),
    ],
)
def test_bad_settings_are_refused(tmp_path, kw, match):
    args = {"home": HOME, "speedup": 5, "instance": 0, "gcs_port": 14560, **kw}
    with pytest.raises(SitlStartError, match=match):
        build_command(tmp_path / "arducopter", **args)


def test_binary_that_exits_at_once_is_reported_with_its_log(tmp_path):
    binary = tmp_path / "arducopter"
    binary.write_text(
        "#!/bin/sh\necho 'bind failed on port 5760 - Address already in use'\nexit 1\n"
    )
    binary.chmod(0o755)
    sitl = ArduPilotSitl(
        HOME, workdir=tmp_path / "run", env={"ARDUPILOT_SITL": str(binary), "PATH": os.defpath}
    )
    with pytest.raises(SitlStartError, match="Address already in use"):
        sitl.start(timeout_s=5)
    assert (tmp_path / "run" / "sitl.log").is_file()  # kept for the failed start


FAKE_SITL = """#!{python}
# Stands in for arducopter where none is installed: a real process that sends MAVLink
# heartbeats to its --serial0 udpclient port and exits 0 on SIGTERM, as SITL does.
import signal, socket, sys, time
from pymavlink.dialects.v20 import ardupilotmega as m
args = sys.argv
host, port = args[args.index("--serial0") + 1].split(":")[1:]
open("eeprom.bin", "wb").write(b"\\0" * 16)
print("args", " ".join(args[1:]), flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
mav = m.MAVLink(None, 1, 1)
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
while True:
    sock.sendto(mav.heartbeat_encode(2, 3, 81, 0, 3, 3).pack(mav), (host, int(port)))
    time.sleep(0.05)
"""


def test_harness_starts_in_a_scratch_dir_waits_and_stops_cleanly(tmp_path):
    import sys

    binary = tmp_path / "arducopter"
    binary.write_text(FAKE_SITL.format(python=sys.executable))
    binary.chmod(0o755)
    env = {**os.environ, "ARDUPILOT_SITL": str(binary)}
    sitl = ArduPilotSitl(HOME, speedup=5, instance=3, env=env)
    sitl.start(timeout_s=10)
    try:
        assert sitl.url == f"udpin:127.0.0.1:{sitl.gcs_port}"
        assert (sitl.workdir / "eeprom.bin").is_file()  # it ran in the scratch directory
        log = sitl.log_path.read_text()
        assert "-I3" in log and f"udpclient:127.0.0.1:{sitl.gcs_port}" in log
    finally:
        workdir = sitl.workdir
        sitl.stop()
    assert sitl.returncode == 0
    assert not workdir.exists()  # logs are only kept when asked to


def test_cli_home_parsing():
    assert parse_home("29.25,115.79") == (29.25, 115.79, 0.0)
    assert parse_home(" 29.25, 115.79, 21 ") == (29.25, 115.79, 21.0)
    for bad in ("29.25", "north,east", "91,0", "1,2,3,4", "nan,1"):
        with pytest.raises(SimConfigError, match="--home"):
            parse_home(bad)


def test_cli_find_reports_missing_binary(monkeypatch, tmp_path):
    monkeypatch.delenv("ARDUPILOT_SITL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    result = CliRunner().invoke(sitl_app, ["find", "--json"])
    assert isinstance(result.exception, SitlNotFoundError)


def test_cli_sim_serves_a_vehicle(tmp_path):
    import json
    import threading

    from pymavlink import mavutil

    from sitl.endpoints import free_port

    port = free_port()
    result: dict = {}

    def client() -> None:
        conn = mavutil.mavlink_connection(f"udpin:127.0.0.1:{port}", source_system=255)
        try:
            result["hb"] = conn.wait_heartbeat(timeout=4)
        finally:
            conn.close()

    listener = threading.Thread(target=client)
    listener.start()
    out = CliRunner().invoke(
        sitl_app,
        [
            "sim",
            "--home",
            "29.2505,115.7953,21",
            "--udp",
            "--port",
            str(port),
            "--speedup",
            "10",
            "--duration",
            "1.0",
            "--json",
        ],
    )
    listener.join(5)
    assert out.exit_code == 0, out.output
    info = json.loads(out.output.splitlines()[0])
    assert info["url"] == f"udpin:127.0.0.1:{port}" and info["home"] == [29.2505, 115.7953, 21.0]
    assert result["hb"] is not None and result["hb"].autopilot == 3


@pytest.mark.sitl
def test_ardupilot_sitl_starts_answers_and_stops(ardupilot_sitl):
    from pymavlink import mavutil

    conn = mavutil.mavlink_connection(ardupilot_sitl.url, source_system=255)
    try:
        hb = conn.wait_heartbeat(timeout=30)
        assert hb is not None and hb.autopilot == 3
        conn.mav.param_request_read_send(
            hb.get_srcSystem(), hb.get_srcComponent(), b"FENCE_TYPE", -1
        )
        assert conn.recv_match(type="PARAM_VALUE", blocking=True, timeout=10) is not None
    finally:
        conn.close()
    sitl = ardupilot_sitl.vehicle
    sitl.stop(keep_logs=True)
    assert sitl.returncode == 0  # SIGTERM after start-up exits cleanly
