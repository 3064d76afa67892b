"""The station receiver: a small HTTP server that verifies signed alert webhooks and stores
each one once. It is what a station without a dispatch system runs, and what tests deliver to.

``POST /alerts`` with a Standard Webhooks signature and a JSON alert (or a CAP 1.2
message); ``POST /status`` with a patrol's status report (:mod:`station.status`, JSON only,
signed with the same secret); ``GET /healthz``. Answers: 200 stored or duplicate (same
webhook-id and body again: a retry or a replay inside the time window, acknowledged but not
stored twice), 400 malformed (bad framing, bad JSON or XML, nesting deeper than
``MAX_JSON_DEPTH``), 401 bad signature or stale timestamp, 404, 408 not sent in
time, 409 a reused webhook-id with a different body, 411, 413 too large, 415 an
unsupported media type or charset (JSON must be UTF-8, RFC 8259), 503 too many
connections, 500 only for the station's own faults. The HTTP side is
:mod:`station.http_server`.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import logging
import re
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from email.message import Message
from pathlib import Path
from typing import Any

from station.cap import CAP_NS
from station.errors import AlertError, SignatureError, StationError
from station.http_server import HttpError, HttpServer, RequestHead, bind
from station.inbox import CONFLICT, STORED, Inbox, Received
from station.model import Alert, format_time, parse_time
from station.signing import TOLERANCE_S, verify

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1 << 20  # an alert is ~1 KB; evidence images are never inlined
MAX_JSON_DEPTH = 32  # an alert nests 3 deep; json.loads recurses, so bound it before
PATH = "/alerts"
STATUS_PATH = "/status"
JSON_TYPES = ("application/json",)
CAP_TYPES = ("application/cap+xml", "application/xml", "text/xml")
_CAP_STATUS = {"Alert": "open", "Update": "update", "Cancel": "closed"}
_CAP_SEVERITY = {"Extreme": "critical", "Severe": "high", "Moderate": "medium", "Minor": "low"}
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_JSON_BRACKET = re.compile(r"[\[\]{}]")
_XML_DECL_ENCODING = re.compile(rb"<\?xml\s[^>]*?encoding\s*=\s*[\"']([A-Za-z][\w.:-]*)[\"']")
_XML_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class Receiver:
    """Verifies and stores alert webhooks into the SQLite store at ``db_path``.

    ``workers`` bounds the threads that verify and store (the server adds one event-loop
    thread); ``deadline_s`` is how long a client has to send a whole request."""

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
        workers: int = 16,
        deadline_s: float = 15.0,
        max_connections: int = 2048,
    ) -> None:
        if not keys:
            raise StationError("the receiver needs at least one webhook secret")
        self.keys = list(keys)
        self.max_body_bytes = max_body_bytes
        self.tolerance_s = tolerance_s
        self.inbox = Inbox(db_path)
        self.inbox.index_missing(parse_stored)  # a store from before the console
        try:
            sock = bind(host, port)
        except OSError as exc:
            self.inbox.close()
            raise StationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.tls = ssl_context is not None
        self._server = HttpServer(
            sock,
            self._respond,
            max_body_bytes=max_body_bytes,
            workers=workers,
            deadline_s=deadline_s,
            max_connections=max_connections,
            ssl_context=ssl_context,
        )
        self._running = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.sock.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"  # an IPv6 literal
        return f"{'https' if self.tls else 'http'}://{host}:{port}{PATH}"

    def start(self) -> Receiver:
        """Serve in a background thread; returns once accepting."""
        if not self._running:
            self._server.start()
            self._running = True
        return self

    def serve_forever(self) -> None:
        """Serve until interrupted (the CLI's foreground mode)."""
        self.start()
        try:
            while not self._server.wait(0.5):
                pass
        finally:
            self.close()

    def close(self) -> None:
        self._server.close()
        self.inbox.close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _respond(self, head: RequestHead, body: bytes) -> tuple[int, dict[str, Any]]:
        if head.method not in ("GET", "POST"):
            return 501, {"error": f"method {head.method} is not supported: POST alerts to {PATH}"}
        if head.method == "GET" and head.path == "/healthz":
            return 200, {"ok": True}
        if head.method == "POST" and head.path == PATH:
            return self.handle(head.headers, body)
        if head.method == "POST" and head.path == STATUS_PATH:
            return self.handle_status(head.headers, body)
        return 404, {"error": f"no such path {head.target}; POST alerts to {PATH}"}

    def _verify(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]] | str:
        """The webhook-id of a correctly signed request, or the reply refusing it."""
        if not all(
            headers.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature")
        ):
            return 400, {"error": "missing webhook-id, webhook-timestamp or webhook-signature"}
        try:
            return verify(self.keys, headers, body, time.time(), self.tolerance_s)
        except SignatureError as exc:
            return 401, {"error": str(exc)}

    def handle_status(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, parse and store one patrol status report."""
        from station.status import parse_status

        webhook_id = self._verify(headers, body)
        if not isinstance(webhook_id, str):
            return webhook_id
        content_type, charset = _media_type(headers.get("content-type") or "")
        if content_type not in JSON_TYPES:
            return 415, {"error": f"content-type {content_type or '(none)'}: send application/json"}
        try:
            report = parse_status(json_document(body, charset))
        except AlertError as exc:
            return 400, {"error": str(exc)}
        except HttpError as exc:
            return exc.status, {"error": str(exc)}
        try:
            result = self.inbox.store_status(webhook_id, report)
        except Exception as exc:
            log.exception("storing status %s failed", webhook_id)
            return 500, {"error": f"could not store the status report: {type(exc).__name__}"}
        return 200, {"result": result, "webhook_id": webhook_id, "stored": result == STORED}

    def handle(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, parse and store one request body; returns (HTTP status, JSON reply)."""
        webhook_id = self._verify(headers, body)
        if not isinstance(webhook_id, str):
            return webhook_id
        content_type, charset = _media_type(headers.get("content-type") or "")
        try:
            if content_type in JSON_TYPES:
                text, meta = parse_json_alert(body, charset)
            elif content_type in CAP_TYPES:
                text, meta = parse_cap_alert(body, charset)
            else:
                got = content_type or "(none)"
                return 415, {
                    "error": f"content-type {got}: send application/json or application/cap+xml"
                }
        except AlertError as exc:
            return 400, {"error": str(exc)}
        except HttpError as exc:
            return exc.status, {"error": str(exc)}
        try:
            result = self.inbox.store(webhook_id, content_type, body, text, meta)
        except Exception as exc:  # the sender retries a 5xx
            log.exception("storing webhook %s failed", webhook_id)
            return 500, {"error": f"could not store the alert: {type(exc).__name__}"}
        if result == CONFLICT:
            return 409, {"error": f"webhook-id {webhook_id} was already used for a different body"}
        return 200, {"result": result, "webhook_id": webhook_id, "stored": result == STORED}


def _media_type(value: str) -> tuple[str, str | None]:
    """(lower-case media type, charset parameter or None) from a Content-Type value."""
    msg = Message()
    msg["content-type"] = value
    charset = msg.get_param("charset")
    return value.split(";")[0].strip().lower(), charset if isinstance(charset, str) else None


def parse_json_alert(body: bytes, charset: str | None = None) -> tuple[str, Received]:
    """The body's text and what it says."""
    data = json_document(body, charset)
    # Alert.from_dict enforces everything alert.schema.json says (tests hold the two together)
    # at a tenth of jsonschema's cost per request.
    alert = Alert.from_dict(data)
    return body.decode("utf-8"), Received(
        alert_id=alert.id,
        incident_id=alert.incident_id,
        type=str(alert.type),
        status=str(alert.status),
        sent_at=format_time(alert.sent_at),
        is_test=alert.is_test,
        details=alert.to_dict(),
    )


def parse_stored(content_type: str, body: bytes) -> Received:
    """What a stored body says (its content type as stored: the media type alone)."""
    if content_type in CAP_TYPES:
        return parse_cap_alert(body)[1]
    return parse_json_alert(body)[1]


def json_document(body: bytes, charset: str | None = None) -> Any:
    """A JSON request body, parsed. JSON on the wire is UTF-8 (RFC 8259 section 8.1)."""
    if charset is not None and codecs_name(charset) != "utf-8":
        raise HttpError(415, f"charset {charset}: JSON must be sent as UTF-8 (RFC 8259)")
    encoding = json.detect_encoding(body)
    if encoding == "utf-8-sig":
        raise AlertError("JSON body starts with a byte order mark: send UTF-8 without one")
    if encoding != "utf-8":
        raise HttpError(415, f"JSON body is {encoding.upper()}: send UTF-8 (RFC 8259)")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AlertError(f"body is not valid UTF-8 (byte {exc.start}): send UTF-8") from None
    if json_depth(text, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise AlertError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels: not an alert")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AlertError(f"body is not valid JSON: {exc}") from None


def json_depth(text: str, stop_after: int) -> int:
    """How deep the arrays and objects in ``text`` nest (counting stops past ``stop_after``).
    Strings are skipped first, so brackets inside them do not count."""
    depth = deepest = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if match.group() in "[{" else -1
        if depth > deepest:
            deepest = depth
            if deepest > stop_after:
                break
    return deepest


def codecs_name(charset: str) -> str | None:
    """Python's canonical codec name for a charset label, or None when unknown."""
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return None


def xml_text(body: bytes, charset: str | None) -> str:
    """Decode an XML document as XML says (RFC 7303): the charset parameter, else a byte order
    mark, else the encoding declaration, else UTF-8."""
    encoding = charset
    if encoding is None:
        encoding = next((enc for bom, enc in _XML_BOMS if body.startswith(bom)), None)
    if encoding is None:
        match = _XML_DECL_ENCODING.match(body)
        encoding = match.group(1).decode("ascii") if match else "utf-8"
    name = codecs_name(encoding)
    if name is None:
        raise HttpError(415, f"XML encoding {encoding!r} is not supported: send UTF-8")
    try:
        return body.decode(name)
    except UnicodeDecodeError as exc:
        raise AlertError(f"body is not valid {encoding} (byte {exc.start})") from None
    except LookupError:  # a codec that is not a text encoding (rot13, base64...)
        raise HttpError(415, f"XML encoding {encoding!r} is not supported: send UTF-8") from None


def parse_cap_alert(body: bytes, charset: str | None = None) -> tuple[str, Received]:
    """The body's text and what it says."""
    text = xml_text(body, charset)
    try:
        # the decoded text is parsed, so expat reads it as decoded above (its declaration aside);
        # expat: no external entities, bounded entity expansion
        root = ET.fromstring(text.removeprefix("\ufeff"))
    except ET.ParseError as exc:
        raise AlertError(f"body is not well-formed XML: {exc}") from None
    ns = {"cap": CAP_NS}
    if root.tag != f"{{{CAP_NS}}}alert":
        raise AlertError("body is not a CAP 1.2 <alert> (namespace " + CAP_NS + ")")

    def find(path: str, default: str | None = None) -> str:
        value = root.findtext(path, default, ns)
        if value is None:
            raise AlertError(f"CAP message has no <{path.split(':')[-1]}>")
        return value.strip()

    msg_type = find("cap:msgType")
    if msg_type not in _CAP_STATUS:
        raise AlertError(f"CAP msgType {msg_type!r}: expected Alert, Update or Cancel")
    kind = find("cap:info/cap:eventCode[cap:valueName='waterpatrol']/cap:value", "")
    return text, Received(
        alert_id=find("cap:identifier"),
        incident_id=find("cap:incidents", "") or find("cap:identifier"),
        type=kind or find("cap:info/cap:event"),
        status=_CAP_STATUS[msg_type],
        sent_at=format_time(parse_time(find("cap:sent"), "sent")),
        is_test=find("cap:status") == "Test",
        details=_cap_details(root, ns),
    )


def _cap_details(root: ET.Element, ns: dict[str, str]) -> dict[str, Any]:
    """The console's fields from a CAP message's first <info> (best effort: CAP from other
    senders may lack any of them)."""
    info = root.find("cap:info", ns)
    if info is None:
        return {}
    params = {
        (p.findtext("cap:valueName", "", ns) or "").strip(): (
            p.findtext("cap:value", "", ns) or ""
        ).strip()
        for p in info.findall("cap:parameter", ns)
    }
    details: dict[str, Any] = {
        "severity": _CAP_SEVERITY.get((info.findtext("cap:severity", "", ns) or "").strip()),
        "water_name": (info.findtext("cap:area/cap:areaDesc", "", ns) or "").strip() or None,
        "vehicle_id": params.get("vehicleId"),
        "mission_id": params.get("missionId"),
        "water_id": params.get("waterId"),
        "observed_at": params.get("observedAt"),
        "text_zh": (info.findtext("cap:description", "", ns) or "").strip() or None,
    }
    with contextlib.suppress(ValueError):
        details["people"] = int(params["people"]) if "people" in params else None
        details["confidence"] = float(params["confidence"]) if "confidence" in params else None
    circle = (info.findtext("cap:area/cap:circle", "", ns) or "").strip()
    with contextlib.suppress(ValueError):
        centre, radius_km = circle.split()
        lat, lon = (float(v) for v in centre.split(","))
        details.update(lat=lat, lon=lon, radius_m=float(radius_km) * 1000.0)
    if "evidenceSha256" in params:
        details["evidence"] = {"path": None, "sha256": params["evidenceSha256"]}
    return details
