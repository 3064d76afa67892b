"""The ``waterpatrol`` command line. A leaf: it may import every package.

Sub-command groups live beside the code they drive (``station/cli.py``,
``detection/cli.py``, ``sitl/cli.py`` ...) and are mounted here. Modules
imported at start-up keep heavy imports (torch, ultralytics, pymavlink)
inside the command functions so ``--help`` stays fast.

Exit statuses, decided in one place (:func:`run`):
  0   done; also ``-h``/``--help`` and ``--version``
  1   an operator error (a bad file, an unreachable vehicle ...): one line naming the
      file or option, what is wrong and the fix
  2   a usage mistake (unknown option, missing argument, a bad value): click's usage
      message on stderr; also a group given nothing to do (plain ``waterpatrol``,
      ``waterpatrol alerts``), which prints its help, as click does
  70  a bug in waterpatrol: "internal error" (``WATERPATROL_DEBUG=1`` shows the traceback)
  130 interrupted (Ctrl-C)
Commands may exit with their own documented statuses through ``typer.Exit``.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import typer

EXIT_OPERATOR_ERROR = 1
EXIT_INTERNAL_ERROR = 70
EXIT_INTERRUPTED = 130
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="waterpatrol",
    help="Drone water-patrol mission controller: plan, fly, detect, alert.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT_SETTINGS,
)


def version() -> str:
    """The installed package's version (``importlib.metadata``), or "unknown" from a bare tree."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("waterpatrol")
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"waterpatrol {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Print the version and exit.",
        callback=_show_version,
        is_eager=True,
    ),
) -> None:
    """Drone water-patrol mission controller: plan, fly, detect, alert."""


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


_mounted = False


def _mount() -> None:
    global _mounted
    if _mounted:  # tests and run() may call this more than once
        return
    _mounted = True
    for module, attr, name in _GROUPS:
        app.add_typer(getattr(importlib.import_module(module), attr), name=name)
    for module, attr, name in _COMMANDS:
        app.command(name)(getattr(importlib.import_module(module), attr))


def emit_json(obj: Any) -> None:
    """Machine-readable output for ``--json``: one JSON document on stdout."""
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def run(argv: Sequence[str] | None = None, prog_name: str = "waterpatrol") -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status.

    The one place where errors become exit statuses (see the module docstring).
    Typer bundles its own click, so its exceptions are caught through typer's
    public names (``TyperException`` is the base of that click's ClickException).
    """
    _mount()
    command = typer.main.get_command(app)
    errors = _known_errors()
    try:
        rv = command.main(
            args=list(sys.argv[1:] if argv is None else argv),
            prog_name=prog_name,
            standalone_mode=False,
        )
    except typer.TyperException as exc:  # usage errors, NoArgsIsHelpError (exit 2)
        show = getattr(exc, "show", None)
        if not exc.format_message().strip():
            pass  # no-args help: typer's rich formatter has printed the help already
        elif show is not None:
            show()
        else:
            typer.echo(f"error: {exc.format_message()}", err=True)
        return exc.exit_code
    except typer.Exit as exc:  # raised outside a command's context
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        return EXIT_INTERRUPTED
    except errors as exc:
        typer.echo(f"error: {_one_line(str(exc))}", err=True)
        return EXIT_OPERATOR_ERROR
    except Exception as exc:  # an unexpected failure still gets one line
        if os.environ.get("WATERPATROL_DEBUG"):
            raise
        reason = f"{type(exc).__name__}: {exc}"
        typer.echo(f"internal error: {reason} (WATERPATROL_DEBUG=1 shows a traceback)", err=True)
        return EXIT_INTERNAL_ERROR
    return rv if isinstance(rv, int) and not isinstance(rv, bool) else 0


def _one_line(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    os.environ.setdefault("MAVLINK20", "1")
    os.environ.setdefault("MAVLINK_DIALECT", "ardupilotmega")
    sys.exit(run())


if __name__ == "__main__":
    main()
