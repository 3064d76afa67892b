"""Serving the console with uvicorn: in the foreground (the CLI) or in a background thread
(tests, benchmarks)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import uvicorn

from console.app import create_app
from console.auth import LoginLimiter
from console.config import ConsoleConfig
from console.store import ConsoleStore
from station.errors import StationError


class ConsoleServer:
    """The console on ``host:port`` (0: any free port) over the store at ``target``."""

    def __init__(
        self,
        target: str | Path,
        config: ConsoleConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_cert: Path | None = None,
        tls_key: Path | None = None,
        limiter: LoginLimiter | None = None,
    ) -> None:
        self.store = ConsoleStore(target)
        self.tls = tls_cert is not None
        self.app = create_app(self.store, config, secure=self.tls, limiter=limiter)
        try:
            self.sock = _listen(host, port)
        except OSError as exc:
            self.store.close()
            raise StationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        self.server = uvicorn.Server(
            uvicorn.Config(
                self.app,
                log_level="warning",
                access_log=False,
                ssl_certfile=str(tls_cert) if tls_cert else None,
                ssl_keyfile=str(tls_key) if tls_key else None,
                timeout_graceful_shutdown=2,
            )
        )
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        host = f"[{host}]" if ":" in host else host
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def serve_forever(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        finally:
            self.store.close()

    def start(self) -> ConsoleServer:
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])),
            name="console",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise StationError("the console did not start")
            time.sleep(0.02)
        return self

    def close(self) -> None:
        self.app.console.live.end_streams()
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.sock.close()
        self.store.close()

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket. Made with proto=IPPROTO_TCP because asyncio only sets
    TCP_NODELAY on such sockets: without it every answer waits out the client's delayed ACK
    (~40 ms), since uvicorn writes the head and the body separately."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock
