"""The station receiver: a small HTTP server that verifies signed alert webhooks and stores
each one once. It is what a station without a dispatch system runs, and what tests deliver to.

``POST /alerts`` with a Standard Webhooks signature and a JSON alert (or a CAP 1.2
message); ``GET /healthz``. Answers: 200 stored or duplicate (same webhook-id and
body again: a retry or a replay inside the time window, acknowledged but not
stored twice), 400 malformed, 401 bad signature or stale timestamp, 404, 409 a
reused webhook-id with a different body, 411, 413 too large, 415, 500.
"""

from __future__ import annotations

import json
import logging
import ssl
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from station.cap import CAP_NS
from station.errors import AlertError, SignatureError, StationError
from station.inbox import CONFLICT, STORED, Inbox, Received
from station.model import Alert, format_time, parse_time
from station.signing import TOLERANCE_S, verify

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # an alert is ~1 KB; evidence images are never inlined
PATH = "/alerts"
_DRAIN_LIMIT = 8 << 20  # read and drop an oversize body up to this size so the client sees 413
_CAP_STATUS = {"Alert": "open", "Update": "update", "Cancel": "closed"}


class Receiver:
    """Verifies and stores alert webhooks into the SQLite store at ``db_path``."""

    def __init__(
        self,
        db_path: str | Path,
        keys: Sequence[bytes],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_body_bytes: int = MAX_BODY_BYTES,
        tolerance_s: int = TOLERANCE_S,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not keys:
            raise StationError("the receiver needs at least one webhook secret")
        self.keys = list(keys)
        self.max_body_bytes = max_body_bytes
        self.tolerance_s = tolerance_s
        self.inbox = Inbox(db_path)
        try:
            self._server = _Server((host, port), _Handler)
        except OSError as exc:
            self.inbox.close()
            raise StationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.tls = ssl_context is not None
        if ssl_context is not None:
            # the handshake then runs in the connection's own thread, under its timeout
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server.receiver = self  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"{'https' if self.tls else 'http'}://{host}:{port}{PATH}"

    def start(self) -> Receiver:
        """Serve in a background thread; returns at once."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (the CLI's foreground mode)."""
        try:
            self._server.serve_forever(poll_interval=0.2)
        finally:
            self.close()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
            self._thread = None
        self._server.server_close()
        self.inbox.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, parse and store one request body; returns (HTTP status, JSON reply)."""
        if not all(
            headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
        ):
            return 400, {"error": "missing webhook-id, webhook-timestamp or webhook-signature"}
        try:
            webhook_id = verify(self.keys, headers, body, time.time(), self.tolerance_s)
        except SignatureError as exc:
            return 401, {"error": str(exc)}
        content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
        try:
            if content_type == "application/json":
                meta = parse_json_alert(body)
            elif content_type in ("application/cap+xml", "application/xml", "text/xml"):
                meta = parse_cap_alert(body)
            else:
                got = content_type or "(none)"
                return 415, {
                    "error": f"content-type {got}: send application/json or application/cap+xml"
                }
        except AlertError as exc:
            return 400, {"error": str(exc)}
        try:
            result = self.inbox.store(webhook_id, content_type, body, meta)
        except Exception as exc:  # the sender retries a 5xx
            log.exception("storing webhook %s failed", webhook_id)
            return 500, {"error": f"could not store the alert: {type(exc).__name__}"}
        if result == CONFLICT:
            return 409, {"error": f"webhook-id {webhook_id} was already used for a different body"}
        return 200, {"result": result, "webhook_id": webhook_id, "stored": result == STORED}


def parse_json_alert(body: bytes) -> Received:
    # Alert.from_dict enforces everything alert.schema.json says (tests hold the two together)
    # at a tenth of jsonschema's cost per request.
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AlertError(f"body is not valid JSON: {exc}") from None
    alert = Alert.from_dict(data)
    return Received(
        alert_id=alert.id,
        incident_id=alert.incident_id,
        type=str(alert.type),
        status=str(alert.status),
        sent_at=format_time(alert.sent_at),
        is_test=alert.is_test,
    )


def parse_cap_alert(body: bytes) -> Received:
    try:
        root = ET.fromstring(body)  # expat: no external entities, bounded entity expansion
    except ET.ParseError as exc:
        raise AlertError(f"body is not well-formed XML: {exc}") from None
    ns = {"cap": CAP_NS}
    if root.tag != f"{{{CAP_NS}}}alert":
        raise AlertError("body is not a CAP 1.2 <alert> (namespace " + CAP_NS + ")")

    def text(path: str, default: str | None = None) -> str:
        value = root.findtext(path, default, ns)
        if value is None:
            raise AlertError(f"CAP message has no <{path.split(':')[-1]}>")
        return value.strip()

    msg_type = text("cap:msgType")
    if msg_type not in _CAP_STATUS:
        raise AlertError(f"CAP msgType {msg_type!r}: expected Alert, Update or Cancel")
    kind = text("cap:info/cap:eventCode[cap:valueName='waterpatrol']/cap:value", "")
    return Received(
        alert_id=text("cap:identifier"),
        incident_id=text("cap:incidents", "") or text("cap:identifier"),
        type=kind or text("cap:info/cap:event"),
        status=_CAP_STATUS[msg_type],
        sent_at=format_time(parse_time(text("cap:sent"), "sent")),
        is_test=text("cap:status") == "Test",
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError | ssl.SSLError):
            log.debug("connection from %s dropped: %s", client_address, exc)  # client went away
        else:
            log.exception("error serving %s", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a sender reuses its connection
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall
    server_version = "waterpatrol-station/0.1"
    timeout = 15  # seconds a connection may sit idle or dribble a body (bounded, never a hang)

    @property
    def receiver(self) -> Receiver:
        return self.server.receiver  # type: ignore[attr-defined,no-any-return]

    def do_GET(self) -> None:
        if urlsplit(self.path).path == "/healthz":
            self._reply(200, {"ok": True})
        else:
            self._reply(404, {"error": f"no such path {self.path}; alerts are POSTed to {PATH}"})

    def do_POST(self) -> None:
        if urlsplit(self.path).path != PATH:
            self._drain_and_close()
            self._reply(404, {"error": f"no such path {self.path}; POST alerts to {PATH}"})
            return
        if "chunked" in (self.headers.get("transfer-encoding") or "").lower():
            self.close_connection = True
            self._reply(411, {"error": "send a Content-Length (chunked bodies are not accepted)"})
            return
        try:
            length = int(self.headers.get("content-length") or "")
        except ValueError:
            self.close_connection = True
            self._reply(411, {"error": "missing or invalid Content-Length"})
            return
        if length < 0:
            self.close_connection = True
            self._reply(400, {"error": "negative Content-Length"})
            return
        limit = self.receiver.max_body_bytes
        if length > limit:
            self._drain_and_close(length)
            self._reply(413, {"error": f"body of {length} bytes exceeds the {limit}-byte limit"})
            return
        body = self.rfile.read(length)
        if len(body) != length:
            self.close_connection = True
            self._reply(400, {"error": "body shorter than Content-Length"})
            return
        status, reply = self.receiver.handle(self.headers, body)
        self._reply(status, reply)

    def _drain_and_close(self, length: int | None = None) -> None:
        """Read (and drop) a body we refuse, when small enough, so the client gets our reply."""
        self.close_connection = True
        if length is None:
            try:
                length = int(self.headers.get("content-length") or 0)
            except ValueError:
                return
        remaining = length if length <= _DRAIN_LIMIT else 0
        while remaining > 0:
            chunk = self.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)
