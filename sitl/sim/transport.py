"""Loopback transports of the simulated vehicle, as ArduPilot SITL offers them.

- ``TcpServer``: listens on 127.0.0.1:PORT (SITL's SERIAL0 on tcp:5760); one
  client at a time: a second client can connect but gets no data until the
  first leaves; reconnecting after a disconnect works.
- ``UdpClient``: sends to 127.0.0.1:PORT and answers whoever talks to it from
  there (SITL's ``--serial0 udpclient:127.0.0.1:PORT``); the GCS listens with
  ``udpin:127.0.0.1:PORT``.

Both bind 127.0.0.1 only. Sends never block: like a serial link with a full
buffer, bytes that do not fit are dropped whole-message.
"""

from __future__ import annotations

import errno
import select
import socket

from sitl.errors import TransportError

HOST = "127.0.0.1"
_MAX_PENDING = 256 * 1024


class TcpServer:
    def __init__(self, port: int = 0) -> None:
        self._listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._listen.bind((HOST, port))
        except OSError as exc:
            self._listen.close()
            raise TransportError(
                f"cannot listen on tcp {HOST}:{port}: {exc.strerror}; choose another --port"
            ) from exc
        self._listen.listen(4)
        self._listen.setblocking(False)
        self.port: int = self._listen.getsockname()[1]
        self._client: socket.socket | None = None
        self._pending = bytearray()
        self.ever_connected = False
        self.dropped_bytes = 0

    @property
    def url(self) -> str:
        return f"tcp:{HOST}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._client is not None

    def read(self, timeout: float) -> bytes:
        socks = [self._client] if self._client is not None else [self._listen]
        wsocks = [self._client] if self._client is not None and self._pending else []
        try:
            readable, writable, _ = select.select(socks, wsocks, [], max(0.0, timeout))
        except (OSError, ValueError):
            return b""
        if writable:
            self._flush()
        if not readable:
            return b""
        if self._client is None:
            try:
                client, _ = self._listen.accept()
            except OSError:
                return b""
            client.setblocking(False)
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._client = client
            self.ever_connected = True
            return b""
        try:
            data = self._client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError:
            data = b""
        if not data:
            self.disconnect()
        return data

    def send(self, data: bytes) -> None:
        if self._client is None:
            return
        if len(self._pending) + len(data) > _MAX_PENDING:
            self.dropped_bytes += len(data)
            return
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        if self._client is None or not self._pending:
            return
        try:
            n = self._client.send(self._pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.disconnect()
            return
        del self._pending[:n]

    def disconnect(self) -> None:
        """Close the current client (the next one in the backlog may connect)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        self._pending.clear()

    def close(self) -> None:
        self.disconnect()
        self._listen.close()


class UdpClient:
    def __init__(self, port: int) -> None:
        if not 0 < port < 65536:
            raise TransportError(f"udp port {port} is out of range; choose 1..65535")
        self.port = port
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind((HOST, 0))
        except OSError as exc:
            self._sock.close()
            raise TransportError(f"cannot bind a udp socket on {HOST}: {exc.strerror}") from exc
        self._sock.setblocking(False)
        self._peer = (HOST, port)
        self.ever_connected = True  # SITL's clock runs from the start on UDP
        self.dropped_bytes = 0

    @property
    def url(self) -> str:
        """What the GCS opens: it listens, the vehicle sends."""
        return f"udpin:{HOST}:{self.port}"

    @property
    def connected(self) -> bool:
        return True

    def read(self, timeout: float) -> bytes:
        try:
            readable, _, _ = select.select([self._sock], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return b""
        if not readable:
            return b""
        chunks = []
        while True:
            try:
                data, addr = self._sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # ICMP port unreachable from an earlier send: nobody listens yet
                break
            if addr[0] == HOST and addr[1] == self.port:
                chunks.append(data)
        return b"".join(chunks)

    def send(self, data: bytes) -> None:
        try:
            self._sock.sendto(data, self._peer)
        except OSError as exc:
            if exc.errno not in (
                errno.ECONNREFUSED,
                errno.EAGAIN,
                errno.ENOBUFS,
                errno.EWOULDBLOCK,
            ):
                raise
            self.dropped_bytes += len(data)

    def disconnect(self) -> None:
        """Nothing to close on UDP; present so faults work on either transport."""

    def close(self) -> None:
        self._sock.close()
