"""CLI: ``waterpatrol alerts ...`` (the outbox and its delivery) and ``waterpatrol station ...``
(the receiver). Operator mistakes raise StationError; the root CLI prints them as one line."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from station.errors import ConfigError, DeliveryError

alerts_app = typer.Typer(
    help="Inspect and operate the alert outbox; deliver alerts to dispatch.",
    no_args_is_help=True,
)
station_app = typer.Typer(
    help="The station: the receiver (signed alert webhooks, patrol status) and the console.",
    no_args_is_help=True,
)
users_app = typer.Typer(help="Console operator accounts.", no_args_is_help=True)
units_app = typer.Typer(
    help="Units the console proposes for an alert (stations, patrol teams).", no_args_is_help=True
)
station_app.add_typer(users_app, name="users")
station_app.add_typer(units_app, name="units")

OutboxOpt = Annotated[
    Path | None,
    typer.Option(
        "--db", help="Outbox database (default: outbox.sqlite in $WATERPATROL_HOME or ./var)."
    ),
]
InboxOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Station store: a SQLite file or a postgresql:// URL (default: $WATERPATROL_STORE_URL,"
        " else station.sqlite in $WATERPATROL_HOME or ./var).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
SecretEnvOpt = Annotated[
    str,
    typer.Option("--secret-env", help="Environment variable holding the whsec_ webhook secret."),
]
FormatOpt = Annotated[
    str, typer.Option("--format", help="Body sent to --dispatch: json or cap (CAP 1.2 XML).")
]


def _outbox(db: Path | None) -> Any:
    from station.config import default_outbox_path
    from station.outbox import Outbox

    return Outbox(db or default_outbox_path())


def _echo_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _when(t: float | None) -> str:
    return "-" if t is None else datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry_dict(entry: Any) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "state": entry.state,
        "emitted_at": _when(entry.emitted_at),
        "route": entry.route,
        "alert": entry.alert.to_dict(),
        "deliveries": [
            {
                "endpoint": d.endpoint,
                "state": d.state,
                "attempts": d.attempts,
                "last_status": d.last_status,
                "last_error": d.last_error,
                "last_attempt_at": _when(d.last_attempt_at),
                "next_at": _when(d.next_at) if d.state == "pending" else None,
                "done_at": _when(d.done_at),
            }
            for d in entry.deliveries
        ],
    }


# ---------------------------------------------------------------- alerts


@alerts_app.command("list")
def list_alerts(
    db: OutboxOpt = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="Only alerts in this state: pending, delivered, failed, disabled, unrouted."
        ),
    ] = None,
    incident: Annotated[str | None, typer.Option(help="Only this incident's alerts.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List the outbox's alerts, newest first, with their delivery state."""
    with _outbox(db) as outbox:
        entries = outbox.entries(limit=limit, state=state, incident_id=incident)
        if as_json:
            _echo_json([_entry_dict(e) for e in entries])
            return
        if not entries:
            typer.echo(f"no alerts in {outbox.path}")
            return
        for e in entries:
            a = e.alert
            test = " TEST" if a.is_test else ""
            typer.echo(
                f"{a.id}  {a.sent_at:%Y-%m-%d %H:%M:%S}Z  {e.state:<9}  {a.type:<15} {a.status:<6}"
                f"  incident {a.incident_id}  {a.water_name}{test}"
            )
            for d in e.deliveries:
                if d.state != "delivered":
                    why = f"  ({d.last_error})" if d.last_error else ""
                    typer.echo(f"    -> {d.endpoint}: {d.state} after {d.attempts} attempt(s){why}")


@alerts_app.command("show")
def show(
    alert_id: Annotated[str, typer.Argument(help="Alert id (or a unique prefix of it).")],
    db: OutboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one alert and each of its deliveries."""
    with _outbox(db) as outbox:
        entry = outbox.get(alert_id)
    if as_json:
        _echo_json(_entry_dict(entry))
        return
    data = _entry_dict(entry)
    for key, value in data["alert"].items():
        typer.echo(f"{key:>15}: {value}")
    typer.echo(f"{'state':>15}: {entry.state} (emitted {data['emitted_at']})")
    for d in data["deliveries"]:
        typer.echo(
            f"{'delivery':>15}: {d['endpoint']}: {d['state']}, {d['attempts']} attempt(s),"
            f" last HTTP {d['last_status'] or '-'} at {d['last_attempt_at']}"
            + (f", next {d['next_at']}" if d["next_at"] else "")
            + (f"\n{'':>17}{d['last_error']}" if d["last_error"] else "")
        )


@alerts_app.command("retry")
def retry(
    alert_id: Annotated[
        str | None, typer.Argument(help="Only this alert [default: every failed delivery].")
    ] = None,
    endpoint: Annotated[str | None, typer.Option(help="Only deliveries to this endpoint.")] = None,
    db: OutboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Queue failed or disabled deliveries again and re-enable their endpoints.

    A running `alerts deliver` picks them up within a second.
    """
    with _outbox(db) as outbox:
        n = outbox.retry(alert_id=alert_id, endpoint=endpoint)
    if as_json:
        _echo_json({"requeued": n})
    else:
        typer.echo(f"{n} deliver{'y' if n == 1 else 'ies'} queued again")


@alerts_app.command("export")
def export(
    alert_id: Annotated[str, typer.Argument(help="Alert id (or a unique prefix of it).")],
    cap: Annotated[bool, typer.Option("--cap", help="OASIS CAP 1.2 XML instead of JSON.")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    db: OutboxOpt = None,
) -> None:
    """Export one alert as its JSON body or as CAP 1.2 XML."""
    from station.cap import to_cap_xml

    with _outbox(db) as outbox:
        alert = outbox.get(alert_id).alert
    text = (
        to_cap_xml(alert)
        if cap
        else json.dumps(alert.to_dict(), indent=2, ensure_ascii=False) + "\n"
    )
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    typer.echo(f"wrote {out}", err=True)


@alerts_app.command("test")
def test_dispatch(
    dispatch: Annotated[str, typer.Option("--dispatch", help="Endpoint URL to test.")],
    fmt: FormatOpt = "json",
    secret_env: SecretEnvOpt = "WATERPATROL_WEBHOOK_SECRET",
    timeout: Annotated[
        float,
        typer.Option(min=1.0, max=600.0, help="Seconds to keep retrying a transient failure."),
    ] = 20.0,
    db: OutboxOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send a test alert (CAP status Test) to URL through the outbox and the delivery worker.

    Exits 0 only when the endpoint acknowledged it with a 2xx.
    """
    from station.config import Endpoint, RetryPolicy
    from station.delivery import Delivery
    from station.outbox import FAILED, Outcome

    endpoint = Endpoint(
        url=dispatch,
        format=fmt,
        secret_env=secret_env,
        name=f"test:{dispatch}",
        timeout_s=min(10.0, timeout),
    )
    policy = RetryPolicy(
        base_delay_s=0.5,
        max_delay_s=4.0,
        client_error_attempts=1,
        give_up_after_s=timeout,
        max_retry_after_s=timeout,
    )
    alert = _test_alert()
    logging.getLogger("station.delivery").setLevel(logging.ERROR)  # the result says it once
    with _outbox(db) as outbox:
        delivery = Delivery(outbox, [endpoint], policy, concurrency=1, route=False)
        t0 = time.monotonic()
        outbox.emit(alert, route=[endpoint.name])
        with delivery:
            entry = delivery.wait(alert.id, timeout + endpoint.timeout_s + 1.0)
        elapsed_ms = (time.monotonic() - t0) * 1000
        row = entry.deliveries[0]
        if row.state == "pending":  # no answer in time: close it, nobody else will send it
            now = time.time()
            reason = f"no acknowledgement within {timeout:g} s; last: {row.last_error or 'none'}"
            outbox.record(endpoint.name, [Outcome(entry.seq, FAILED, now, now, None, reason)])
            row = outbox.get(alert.id).deliveries[0]
    result = {
        "alert_id": alert.id,
        "endpoint": dispatch,
        "format": fmt,
        "state": row.state,
        "attempts": row.attempts,
        "http_status": row.last_status,
        "error": row.last_error,
        "elapsed_ms": round(elapsed_ms, 1),
    }
    if as_json:
        _echo_json(result)
    if row.state != "delivered":
        raise DeliveryError(
            f"{dispatch} did not acknowledge test alert {alert.id}: {row.state}"
            f" after {row.attempts} attempt(s): {row.last_error}"
        )
    if not as_json:
        typer.echo(
            f"ok: {dispatch} acknowledged test alert {alert.id} (HTTP {row.last_status},"
            f" {row.attempts} attempt(s), {elapsed_ms:.0f} ms)"
        )


def _test_alert() -> Any:
    from station.model import Alert, new_alert_id, utc_now

    return Alert(
        incident_id=f"test-{new_alert_id()}",
        type="person_in_water",
        lat=29.2466,
        lon=115.7843,
        radius_m=10.0,
        people=0,
        observed_at=utc_now(),
        vehicle_id="test",
        mission_id="test",
        water_id="test",
        water_name="waterpatrol integration test",
        confidence=1.0,
        severity="low",
        is_test=True,
        text_zh="waterpatrol 测试警报：检查接警端点，无需处置。",
        text_en="waterpatrol test alert: checking the dispatch endpoint; no action needed.",
    )


@alerts_app.command("deliver")
def deliver(
    config: Annotated[
        Path | None, typer.Option("--config", help="station.yaml with the dispatch endpoints.")
    ] = None,
    dispatch: Annotated[
        str | None, typer.Option("--dispatch", help="One dispatch URL (besides --config).")
    ] = None,
    fmt: FormatOpt = "json",
    secret_env: SecretEnvOpt = "WATERPATROL_WEBHOOK_SECRET",
    concurrency: Annotated[
        int,
        typer.Option(min=1, max=64, help="Requests in flight per endpoint (different incidents)."),
    ] = 8,
    db: OutboxOpt = None,
) -> None:
    """Deliver the outbox's alerts to dispatch until stopped (Ctrl-C or SIGTERM).

    Safe to kill at any moment: a restart sends every alert not yet acknowledged.
    """
    from station.config import Endpoint, RetryPolicy, load_config
    from station.delivery import Delivery

    endpoints, policy = [], RetryPolicy()
    if config is not None:
        cfg = load_config(config)
        endpoints, policy = list(cfg.endpoints), cfg.retry
    if dispatch is not None:
        try:
            endpoints.append(Endpoint(url=dispatch, format=fmt, secret_env=secret_env))
        except ConfigError as exc:
            raise ConfigError(f"--dispatch: {exc}") from None
    if not endpoints:
        raise ConfigError("no dispatch endpoint: give --dispatch URL or --config station.yaml")
    _log_to_stderr()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with _outbox(db) as outbox:
        delivery = Delivery(outbox, endpoints, policy, concurrency=concurrency)
        names = ", ".join(e.name for e in endpoints)
        typer.echo(f"delivering alerts from {outbox.path} to {names}", err=True)
        delivery.run_until(stop)


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)


# ---------------------------------------------------------------- station


@station_app.command("serve")
def serve(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="TCP port (0: any free port).")
    ] = 8088,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    secret_env: SecretEnvOpt = "WATERPATROL_WEBHOOK_SECRET",
    max_body: Annotated[int, typer.Option(min=1024, help="Largest accepted body, bytes.")] = 1
    << 20,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key.")] = None,
    db: InboxOpt = None,
) -> None:
    """Run the station receiver: POST /alerts (signed webhooks), POST /status, GET /healthz."""
    from station.receiver import Receiver
    from station.signing import secret_from_env

    key = secret_from_env(secret_env)
    context = _tls_context(tls_cert, tls_key)
    _log_to_stderr()
    receiver = Receiver(_store(db), [key], host, port, max_body_bytes=max_body, ssl_context=context)
    signal.signal(signal.SIGTERM, _interrupt)
    typer.echo(f"listening on {receiver.url} (store {_shown(receiver.inbox.path)})", err=True)
    with contextlib.suppress(KeyboardInterrupt):
        receiver.serve_forever()


def _store(db: str | None) -> str | Path:
    """The station store to open: --db, else $WATERPATROL_STORE_URL, else the default file."""
    from station.config import default_inbox_path
    from station.db import store_target

    return store_target(db, default_inbox_path())


def _shown(target: str | Path) -> str:
    from station.db import describe

    return describe(target)


def _tls_context(tls_cert: Path | None, tls_key: Path | None) -> Any:
    import ssl

    if tls_cert is None and tls_key is None:
        return None
    if tls_cert is None or tls_key is None:
        raise ConfigError("give both --tls-cert and --tls-key (or neither, for plain HTTP)")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(tls_cert, tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"--tls-cert/--tls-key: cannot load: {exc}") from None
    return context


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@station_app.command("alerts")
def station_alerts(
    db: InboxOpt = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many (newest first).")] = 50,
    incidents: Annotated[
        bool, typer.Option("--incidents", help="One line per incident (its latest state).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the alerts the station receiver has stored."""
    from dataclasses import asdict

    from station.errors import StoreError
    from station.inbox import Inbox

    path = _store(db)
    if isinstance(path, Path) and not path.exists():
        raise StoreError(f"no station database at {path}; start `waterpatrol station serve` first")
    inbox = Inbox(path)
    try:
        rows = inbox.incidents()[:limit] if incidents else inbox.rows(limit)
    finally:
        inbox.close()
    if as_json:
        _echo_json([asdict(r) for r in rows])
        return
    if not rows:
        typer.echo(f"nothing stored in {_shown(path)}")
    for r in rows:
        if incidents:
            typer.echo(
                f"{r.incident_id}  {r.type:<15} {r.status:<6}  latest {r.alert_id}  {r.sent_at}"
            )
        else:
            test = " TEST" if r.is_test else ""
            typer.echo(
                f"{_when(r.received_at)}  {r.alert_id}  {r.type:<15} {r.status:<6}"
                f"  incident {r.incident_id}  x{r.receipts}  {r.content_type}{test}"
            )


# ---------------------------------------------------------------- console


@station_app.command("console")
def console(
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Console TCP port (0: any free port).")
    ] = 8089,
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    receiver_port: Annotated[
        int | None,
        typer.Option(
            "--receiver-port",
            min=0,
            max=65535,
            help="Also run the receiver (POST /alerts, /status) on this port, same host and store.",
        ),
    ] = None,
    secret_env: SecretEnvOpt = "WATERPATROL_WEBHOOK_SECRET",
    config: Annotated[
        Path | None,
        typer.Option("--config", help="console.yaml: key waters, tile URL, evidence folders."),
    ] = None,
    tls_cert: Annotated[
        Path | None, typer.Option("--tls-cert", help="PEM certificate chain: serve HTTPS.")
    ] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="PEM private key.")] = None,
    db: InboxOpt = None,
) -> None:
    """Run the dispatch console: live map, alert queue, acknowledge / assign / close.

    Operators log in with accounts from `waterpatrol station users add`. The console reads
    the store the receiver writes; give --receiver-port to run both in one process.
    """
    from console.config import load_console_config
    from console.server import ConsoleServer
    from station.receiver import Receiver
    from station.signing import secret_from_env

    cfg = load_console_config(config)
    context = _tls_context(tls_cert, tls_key)
    target = _store(db)
    _log_to_stderr()
    receiver = None
    if receiver_port is not None:
        key = secret_from_env(secret_env)
        receiver = Receiver(target, [key], host, receiver_port, ssl_context=context).start()
        typer.echo(f"receiver listening on {receiver.url}", err=True)
    server = ConsoleServer(target, cfg, host, port, tls_cert=tls_cert, tls_key=tls_key)
    if not server.store.users():
        typer.echo(
            "no operator accounts yet: add one with `waterpatrol station users add NAME`", err=True
        )
    typer.echo(f"console on {server.url}/ (store {_shown(target)})", err=True)
    try:
        server.serve_forever()
    finally:
        if receiver is not None:
            receiver.close()


def _console_store(db: str | None) -> Any:
    from console.store import ConsoleStore

    return ConsoleStore(_store(db))


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str, typer.Option(help="dispatcher (acts on alerts) or viewer (read-only).")
    ] = "dispatcher",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
    db: InboxOpt = None,
) -> None:
    """Add an operator (or set an existing one's role and password)."""
    from console.auth import hash_password
    from console.store import ROLES

    if role not in ROLES:
        raise typer.BadParameter(f"{role!r}: use one of {', '.join(ROLES)}", param_hint="--role")
    if not name.strip() or len(name) > 64 or any(c.isspace() for c in name):
        raise typer.BadParameter(f"{name!r}: 1-64 characters without spaces", param_hint="NAME")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    with _console_store(db) as store:
        store.add_user(name, role, hashed)
    typer.echo(f"operator {name} ({role}) saved", err=True)


@users_app.command("list")
def users_list(db: InboxOpt = None, as_json: JsonOpt = False) -> None:
    """List operator accounts."""
    with _console_store(db) as store:
        users = store.users()
    if as_json:
        _echo_json([{"name": u.name, "role": u.role} for u in users])
        return
    for u in users:
        typer.echo(f"{u.name}  {u.role}")
    if not users:
        typer.echo("no operators yet")


@users_app.command("remove")
def users_remove(name: str, db: InboxOpt = None) -> None:
    """Remove an operator; their open sessions end at their next request."""
    with _console_store(db) as store:
        store.remove_user(name)
    typer.echo(f"operator {name} removed", err=True)


@units_app.command("set")
def units_set(
    unit_id: Annotated[str, typer.Argument(help="Short id, e.g. team-3.")],
    lat: Annotated[float, typer.Option(help="WGS84 latitude, degrees.")],
    lon: Annotated[float, typer.Option(help="WGS84 longitude, degrees.")],
    name: Annotated[str | None, typer.Option(help="Shown name [default: the id].")] = None,
    kind: Annotated[str, typer.Option(help="station or team.")] = "team",
    db: InboxOpt = None,
) -> None:
    """Add a unit or move it (the console proposes the nearest units for each alert)."""
    with _console_store(db) as store:
        store.set_unit(unit_id, name or unit_id, kind, lat, lon)
    typer.echo(f"unit {unit_id} at {lat:.6f}, {lon:.6f}", err=True)


@units_app.command("list")
def units_list(db: InboxOpt = None, as_json: JsonOpt = False) -> None:
    """List the units."""
    with _console_store(db) as store:
        units = store.units()
    if as_json:
        _echo_json(units)
        return
    for u in units:
        typer.echo(f"{u['id']}  {u['kind']:<7}  {u['lat']:.6f}, {u['lon']:.6f}  {u['name']}")
    if not units:
        typer.echo("no units yet")


@units_app.command("remove")
def units_remove(unit_id: str, db: InboxOpt = None) -> None:
    """Remove a unit."""
    with _console_store(db) as store:
        store.remove_unit(unit_id)
    typer.echo(f"unit {unit_id} removed", err=True)


@station_app.command("export")
def station_export(
    incident_id: Annotated[str, typer.Argument(help="Incident id.")],
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of stdout.")] = None,
    db: InboxOpt = None,
) -> None:
    """Export one incident: its alerts as received, its state and its full handling history."""
    with _console_store(db) as store:
        doc = store.export(incident_id)
    text = json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n"
    if out is None:
        sys.stdout.write(text)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
    typer.echo(f"wrote {out}", err=True)
