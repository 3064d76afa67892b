"""A small, strict HTTP/1.1 server for the station receiver.

One event-loop thread reads every connection (so a slow or idle client costs a buffer, never
a thread) and a bounded pool of worker threads handles complete requests. Each request must
arrive whole (head and body) within ``deadline_s`` of the connection opening or the previous
reply: a total deadline, not a per-read timeout that a client dripping bytes could renew.
Framing is strict: one Content-Length, no Transfer-Encoding, no folded or malformed header
lines; anything ambiguous is a 4xx and the connection is closed.

``http.server`` was replaced because it spends a thread per connection (1,000 slow clients
held 1,001 threads), listens with a backlog of 5, and accepts duplicate Content-Length.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

log = logging.getLogger(__name__)

MAX_HEAD_BYTES = 16 << 10  # request line and headers
MAX_HEADERS = 64
BACKLOG = 1024  # the kernel caps it at net.core.somaxconn
LINGER_S = 2.0  # how long a closing connection drops late input so the client reads our reply
DRAIN_LIMIT = 8 << 20  # read and drop a refused body up to this size so the client sees our reply
# Headers that must not repeat: two values would be two readings of one request.
SINGLE_HEADERS = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "content-type",
        "host",
        "expect",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
)
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_REQUEST_LINE = re.compile(rb"([A-Z]+) (\S+) HTTP/(\d\.\d)")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")

Reply = tuple[int, dict[str, Any]]
App = Callable[["RequestHead", bytes], Reply]


class HttpError(Exception):
    """A request we refuse; ``status`` is the 4xx/5xx to answer, the message says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RequestHead:
    method: str
    target: str
    headers: dict[str, str]  # lower-case names; repeated non-single headers joined with ", "
    content_length: int
    keep_alive: bool

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


def parse_head(data: bytes) -> RequestHead:
    """Parse a request line and header lines (``data`` ends before the blank line)."""
    lines = data.split(b"\r\n")
    match = _REQUEST_LINE.fullmatch(lines[0])
    if match is None:
        raise HttpError(400, "malformed request line: expected 'METHOD /path HTTP/1.1'")
    method, target, version = match.groups()
    if version not in (b"1.0", b"1.1"):
        raise HttpError(505, f"HTTP/{version.decode()} is not supported: use HTTP/1.1")
    if len(lines) - 1 > MAX_HEADERS:
        raise HttpError(431, f"more than {MAX_HEADERS} header lines")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not _TOKEN.fullmatch(name):
            # also a folded line (leading space) or a space before the colon: both ambiguous
            shown = line[:40].decode("latin-1")
            raise HttpError(400, f"malformed header line {shown!r}: expected 'Name: value'")
        value = value.strip(b" \t")
        if _BAD_VALUE.search(value):
            raise HttpError(400, f"header {name.decode()} holds a control character")
        key, text = name.decode().lower(), value.decode("latin-1")
        if key in headers:
            if key in SINGLE_HEADERS:
                raise HttpError(400, f"more than one {key} header: send it once")
            text = f"{headers[key]}, {text}"
        headers[key] = text
    length = _content_length(headers)
    tokens = {t.strip().lower() for t in headers.get("connection", "").split(",")}
    return RequestHead(
        method=method.decode(),
        target=target.decode("latin-1"),
        headers=headers,
        content_length=length,
        keep_alive=version == b"1.1" and "close" not in tokens,
    )


def _content_length(headers: dict[str, str]) -> int:
    if "transfer-encoding" in headers:
        if "content-length" in headers:
            raise HttpError(400, "both Transfer-Encoding and Content-Length: send only the latter")
        raise HttpError(411, "send a Content-Length (chunked or encoded bodies are not accepted)")
    value = headers.get("content-length")
    if value is None:
        return -1  # none given: fine for GET, 411 for POST
    if not value.isascii() or not value.isdigit() or len(value) > 15:
        raise HttpError(400, f"invalid Content-Length {value[:20]!r}: expected a byte count")
    return int(value)


def render_reply(status: int, payload: dict[str, Any], close: bool) -> bytes:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "server: waterpatrol-station/0.1",
        f"date: {formatdate(usegmt=True)}",
        "content-type: application/json",
        f"content-length: {len(body)}",
    ]
    if status == 503:
        lines.append("retry-after: 1")
    if close:
        lines.append("connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket for ``host`` (IPv4 or IPv6 address or name) and ``port``."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, _, _, _, address = infos[0]
    return socket.create_server(address, family=family, backlog=BACKLOG)


class HttpServer:
    """Serves ``app(head, body) -> (status, JSON payload)`` on ``sock`` (see the module doc).

    Threads: the event loop's plus at most ``workers``. Memory: at most ``max_connections``
    connections, each buffering at most one head and one body of ``max_body_bytes``.
    """

    def __init__(
        self,
        sock: socket.socket,
        app: App,
        *,
        max_body_bytes: int,
        workers: int = 16,
        deadline_s: float = 15.0,
        max_connections: int = 2048,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.sock = sock
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.deadline_s = deadline_s
        self.max_connections = max_connections
        self.ssl_context = ssl_context
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="receiver-worker")
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._stopped = threading.Event()
        self._open = 0

    def start(self) -> None:
        """Serve in a background thread; returns once accepting."""
        self._thread = threading.Thread(target=self._run, name="receiver-loop", daemon=True)
        self._thread.start()
        self._started.wait(10.0)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (``timeout``: at most that long); True once stopped."""
        return self._stopped.wait(timeout)

    def close(self) -> None:
        """Stop accepting, drop open connections, finish requests being handled."""
        if self._thread is not None:
            if self._loop.is_running():
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10.0)
            self._thread = None
        self._pool.shutdown(wait=True)
        self.sock.close()

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            server = loop.run_until_complete(
                asyncio.start_server(
                    self._connection,
                    sock=self.sock,
                    backlog=BACKLOG,
                    limit=MAX_HEAD_BYTES,
                    ssl=self.ssl_context,
                    ssl_handshake_timeout=self.deadline_s if self.ssl_context else None,
                )
            )
            self._started.set()
            loop.run_forever()
            server.close()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=2.0))
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.wait_for(server.wait_closed(), 1.0))
        finally:
            loop.close()
            self._started.set()
            self._stopped.set()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._open += 1
        try:
            if self._open > self.max_connections:
                await self._send(writer, 503, {"error": "too many connections; retry"}, True)
                return
            while await self._exchange(reader, writer):
                pass
            await _linger(reader, writer)
        except (OSError, asyncio.IncompleteReadError) as exc:  # OSError: resets, TLS, timeouts
            log.debug("connection dropped: %s", exc)  # the client went away
        finally:
            self._open -= 1
            writer.close()

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read one request, answer it; True to keep the connection for the next."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_s
        try:
            async with asyncio.timeout_at(deadline):
                raw = await reader.readuntil(b"\r\n\r\n")
                head = parse_head(raw[:-4])
                length = head.content_length
                if length < 0 and head.method == "POST":
                    raise HttpError(411, "send a Content-Length")
                if length > self.max_body_bytes:
                    await _drain(reader, length)
                    limit = self.max_body_bytes
                    raise HttpError(413, f"body of {length} bytes exceeds the {limit}-byte limit")
                if head.headers.get("expect", "").lower() == "100-continue":
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = await reader.readexactly(max(length, 0))
        except TimeoutError:
            await self._send(writer, 408, {"error": "request not complete in time"}, True)
            return False
        except asyncio.IncompleteReadError as exc:
            if exc.partial:  # closed mid-request; an idle keep-alive close is no error
                await self._send(writer, 400, {"error": "connection closed mid-request"}, True)
            return False
        except asyncio.LimitOverrunError:
            await self._send(writer, 431, {"error": f"head over {MAX_HEAD_BYTES} bytes"}, True)
            return False
        except HttpError as exc:
            await self._send(writer, exc.status, {"error": str(exc)}, True)
            return False
        status, payload = await loop.run_in_executor(self._pool, self._call_app, head, body)
        await self._send(writer, status, payload, not head.keep_alive)
        return head.keep_alive

    def _call_app(self, head: RequestHead, body: bytes) -> Reply:
        try:
            return self.app(head, body)
        except Exception:  # a bug: say so, keep serving
            log.exception("internal error handling %s %s", head.method, head.target)
            return 500, {"error": "internal error (logged at the station)"}

    async def _send(
        self, writer: asyncio.StreamWriter, status: int, payload: dict[str, Any], close: bool
    ) -> None:
        writer.write(render_reply(status, payload, close))
        async with asyncio.timeout(self.deadline_s):
            await writer.drain()


async def _drain(reader: asyncio.StreamReader, length: int) -> None:
    """Read and drop a refused body (when small enough) so the client reads our reply."""
    remaining = length if length <= DRAIN_LIMIT else 0
    while remaining > 0:
        chunk = await reader.read(min(remaining, 1 << 16))
        if not chunk:
            return
        remaining -= len(chunk)


async def _linger(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Half-close, then drop what the client still sends for a moment: closing with unread
    input makes the kernel reset the connection, which can destroy the reply before it is read."""
    if writer.can_write_eof():
        writer.write_eof()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(LINGER_S):
            while await reader.read(1 << 16):
                pass
