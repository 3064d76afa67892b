"""The ``waterpatrol`` command line. A leaf: it may import every package.

Sub-command groups live beside the code they drive (``station/cli.py``,
``detection/cli.py``, ``sitl/cli.py`` ...) and are mounted here. Modules
imported at start-up keep heavy imports (torch, ultralytics, pymavlink)
inside the command functions so ``--help`` stays fast.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any

import click
import typer

app = typer.Typer(
    name="waterpatrol",
    help="Drone water-patrol mission controller: plan, fly, detect, alert.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# (module, attribute, name): typer apps mounted as command groups, or single
# commands registered as functions.
_GROUPS: list[tuple[str, str, str]] = [
    ("geofences.cli", "app", "waters"),
    ("mission.export.cli", "app", "export"),
    ("station.cli", "alerts_app", "alerts"),
    ("station.cli", "station_app", "station"),
    ("sitl.cli", "sitl_app", "sitl"),
]
_COMMANDS: list[tuple[str, str, str]] = [
    ("mission.plan_cli", "plan", "plan"),
    ("mission.fly_cli", "fly", "fly"),
    ("detection.cli", "detect", "detect"),
    ("mission.patrol_cli", "patrol", "patrol"),
    ("sitl.demo", "demo", "demo"),
]

# One base exception per package: these are operator errors with a message
# that says what to fix, printed as one line.
_ERROR_MODULES = {
    "geofences.errors": "GeofenceError",
    "mission.errors": "MissionError",
    "detection.errors": "DetectionError",
    "station.errors": "StationError",
    "sitl.errors": "SitlError",
}


def _known_errors() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = []
    for module, name in _ERROR_MODULES.items():
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def _mount() -> None:
    for module, attr, name in _GROUPS:
        app.add_typer(getattr(importlib.import_module(module), attr), name=name)
    for module, attr, name in _COMMANDS:
        app.command(name)(getattr(importlib.import_module(module), attr))


def emit_json(obj: Any) -> None:
    """Machine-readable output for ``--json``: one JSON document on stdout."""
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def main() -> None:
    os.environ.setdefault("MAVLINK20", "1")
    os.environ.setdefault("MAVLINK_DIALECT", "ardupilotmega")
    _mount()
    errors = _known_errors()
    try:
        rv = app(standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except errors as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except Exception as exc:  # an unexpected failure still gets one line
        if os.environ.get("WATERPATROL_DEBUG"):
            raise
        reason = f"{type(exc).__name__}: {exc}"
        typer.echo(f"internal error: {reason} (WATERPATROL_DEBUG=1 shows a traceback)", err=True)
        sys.exit(70)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
