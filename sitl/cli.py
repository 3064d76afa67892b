"""``waterpatrol sitl ...``: the simulated vehicle as a process, and ArduPilot SITL discovery.

Mounted by the root CLI as the ``sitl`` group (``sitl/run.py`` adds ``run``).
Heavy imports (pymavlink) stay inside the commands so ``--help`` is fast.
"""

from __future__ import annotations

import json
import math

import typer

from sitl.errors import SimConfigError

sitl_app = typer.Typer(
    help="Simulated vehicle and ArduPilot SITL: start a vehicle to fly against.",
    no_args_is_help=True,
)


def parse_home(text: str) -> tuple[float, float, float]:
    """ "LAT,LON[,ALT_AMSL]" in degrees (and metres) -> (lat, lon, alt)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
        raise SimConfigError(f"--home must be LAT,LON[,ALT] in degrees (and metres), got {text!r}")
    lat, lon = values[0], values[1]
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise SimConfigError(
            f"--home {text!r} is not a WGS84 position (lat -90..90, lon -180..180)"
        )
    return lat, lon, values[2] if len(values) == 3 else 0.0


@sitl_app.command("sim")
def sim(
    home: str = typer.Option(
        ..., help="Launch point LAT,LON[,ALT_AMSL_M], e.g. 29.2505,115.7953,21"
    ),
    port: int = typer.Option(
        5760, help="TCP port to listen on (127.0.0.1); with --udp the port the GCS listens on"
    ),
    udp: bool = typer.Option(
        False, "--udp", help="Send to udpin:127.0.0.1:PORT instead of serving TCP"
    ),
    speedup: float = typer.Option(
        1.0, help="Simulated seconds per wall second (as SITL's --speedup)"
    ),
    sysid: int = typer.Option(1, help="MAVLink system id of the vehicle"),
    duration: float = typer.Option(
        0.0, help="Stop after this many wall seconds (0: run until Ctrl-C)"
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the endpoint as one JSON document"),
) -> None:
    """Run the built-in simulated ArduCopter on loopback until Ctrl-C.

    It behaves as ArduPilot Copter SITL does for what waterpatrol uses; fly it
    with `waterpatrol fly PLAN --connect tcp:127.0.0.1:PORT`.
    """
    import threading

    from sitl.sim import SimConfig, SimVehicle

    vehicle = SimVehicle(
        SimConfig(home=parse_home(home), port=port, udp=udp, speedup=speedup, sysid=sysid)
    )
    info = {"url": vehicle.url, "home": list(vehicle.home), "speedup": speedup, "sysid": sysid}
    if json_out:
        typer.echo(json.dumps(info))
    else:
        typer.echo(
            f"simulated ArduCopter at {info['home'][0]:.7f},{info['home'][1]:.7f} "
            f"on {vehicle.url} (speedup {speedup:g}); Ctrl-C to stop"
        )
    timer = threading.Timer(duration, vehicle.stop) if duration > 0 else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        vehicle.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if timer is not None:
            timer.cancel()


@sitl_app.command("find")
def find(
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON document"),
) -> None:
    """Show which ArduPilot SITL binary and defaults file would be used, and the command line.

    The binary comes from ARDUPILOT_SITL or `arducopter` on PATH; defaults from
    ARDUPILOT_SITL_DEFAULTS or copter.parm next to the binary.
    """
    from sitl.ardupilot import build_command, find_binary, find_defaults
    from sitl.endpoints import DEFAULT_HOME

    binary = find_binary()
    defaults = find_defaults(binary)
    cmd = build_command(
        binary, home=DEFAULT_HOME, speedup=10, instance=0, gcs_port=14550, defaults=defaults
    )
    info = {"binary": str(binary), "defaults": [str(p) for p in defaults], "example_command": cmd}
    if json_out:
        typer.echo(json.dumps(info))
        return
    typer.echo(f"binary:   {binary}")
    typer.echo(f"defaults: {', '.join(info['defaults']) or '(none found; SITL built-in defaults)'}")
    typer.echo(f"command:  {' '.join(cmd)}")


def _mount() -> None:
    """Commands that live beside the code they drive: ``run`` (sitl/run.py: plan, fly every
    sortie, flight report) and the synthetic camera's ``camera`` and ``scene``."""
    from sitl.camera_cli import camera, scene
    from sitl.run import run

    sitl_app.command("run")(run)
    sitl_app.command("camera")(camera)
    sitl_app.command("scene")(scene)


_mount()
