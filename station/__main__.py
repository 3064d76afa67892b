"""``python -m station alerts|station ...``: the station commands without the root CLI
(what the crash tests run as a subprocess). Errors print as one line, exit status 1."""

from __future__ import annotations

import sys

import typer

from station.cli import alerts_app, station_app
from station.errors import StationError

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(alerts_app, name="alerts")
app.add_typer(station_app, name="station")


def main() -> None:
    # Typer bundles its own click: its exceptions are caught through typer's names.
    try:
        app(standalone_mode=False)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        sys.exit(130)
    except StationError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
