"""A MAVLink FTP client (FILE_TRANSFER_PROTOCOL): write and read one file on the vehicle.

Every request is a FILE_TRANSFER_PROTOCOL message whose 251-byte payload is
``seq u16, session u8, opcode u8, size u8, req_opcode u8, burst_complete u8,
pad u8, offset u32, data[239]``; the vehicle answers ACK or NAK with
``seq + 1`` and the request's opcode in ``req_opcode``. A NAK carries a
MAV_FTP_ERR code in data[0] (and an errno in data[1] for FAILERRNO).

How ArduPilot serves it (libraries/GCS_MAVLink/GCS_FTP.cpp) shapes the client:
- A worker thread takes requests from a queue of 5 and drops what does not
  fit, so at most ``window`` (5) reads or writes are in flight. Throughput
  grows with the window (one request takes ~12 ms at speed-up 1): 700 items
  (26.6 kB) are written in ~0.30 s with 5 in flight, 1.3 s with one.
  BurstReadFile is slower than windowed reads here (0.67 s against 0.31 s).
- It answers a repeated request (same session and seq as its last reply) by
  sending that reply again, and reads and writes at an offset are idempotent,
  so a request whose answer is late is resent unchanged.
- A session id chosen by the client is kept (0 would make the vehicle pick a
  new one for every resent open); ResetSessions first closes whatever an
  earlier, interrupted transfer of ours left open.
- Closing a written file (TerminateSession) is when the file takes effect.
  Current ArduPilot NAKs the close when it refuses the content; the 4.7.0-dev
  SITL (90700977) ACKs it even when it stored only part (650 of 700 items):
  only a read-back tells.
"""

from __future__ import annotations

import contextlib
import errno as errno_mod
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any

from mission.link.errors import LinkError, LinkTimeout

if TYPE_CHECKING:
    from mission.link.connection import Connection

PAYLOAD_LEN = 251
HEADER_LEN = 12
DATA_LEN = PAYLOAD_LEN - HEADER_LEN  # 239 bytes of file data per message


class Op(IntEnum):
    NONE = 0
    TERMINATE_SESSION = 1
    RESET_SESSIONS = 2
    LIST_DIRECTORY = 3
    OPEN_FILE_RO = 4
    READ_FILE = 5
    CREATE_FILE = 6
    WRITE_FILE = 7
    REMOVE_FILE = 8
    CREATE_DIRECTORY = 9
    REMOVE_DIRECTORY = 10
    OPEN_FILE_WO = 11
    TRUNCATE_FILE = 12
    RENAME = 13
    CALC_FILE_CRC32 = 14
    BURST_READ_FILE = 15
    ACK = 128
    NAK = 129


class Err(IntEnum):
    NONE = 0
    FAIL = 1
    FAIL_ERRNO = 2
    INVALID_DATA_SIZE = 3
    INVALID_SESSION = 4
    NO_SESSIONS_AVAILABLE = 5
    EOF = 6
    UNKNOWN_COMMAND = 7
    FILE_EXISTS = 8
    FILE_PROTECTED = 9
    FILE_NOT_FOUND = 10


class FtpError(LinkError):
    """A MAVLink FTP operation failed; the message names the operation and the file."""


class FtpNak(FtpError):
    """The vehicle answered an FTP request with NAK."""

    def __init__(self, op: Op, path: str, error: int, errno: int | None, hint: str = "") -> None:
        self.op, self.path, self.error, self.errno = op, path, error, errno
        try:
            what = Err(error).name
        except ValueError:
            what = f"error {error}"
        if errno is not None:
            what += f" ({errno_mod.errorcode.get(errno, errno)})"
        msg = f"vehicle refused FTP {op.name} of {path}: {what}"
        super().__init__(f"{msg}; {hint}" if hint else msg)


class FtpTimeout(FtpError, LinkTimeout):
    """The vehicle did not answer an FTP request after the retries (FTP off or not supported)."""


@dataclass(frozen=True)
class Packet:
    """One FILE_TRANSFER_PROTOCOL payload."""

    seq: int
    session: int
    opcode: int
    size: int = 0
    req_opcode: int = 0
    burst_complete: int = 0
    offset: int = 0
    data: bytes = b""

    def payload(self) -> list[int]:
        if len(self.data) > DATA_LEN:
            raise ValueError(f"FTP data of {len(self.data)} bytes, at most {DATA_LEN} fit")
        head = bytes(
            [
                self.seq & 0xFF,
                (self.seq >> 8) & 0xFF,
                self.session,
                self.opcode,
                self.size,
                self.req_opcode,
                self.burst_complete,
                0,
            ]
        ) + int(self.offset).to_bytes(4, "little")
        return list(head + self.data + bytes(DATA_LEN - len(self.data)))

    @classmethod
    def parse(cls, payload: bytes | list[int]) -> Packet:
        b = bytes(payload)
        size = b[4]
        return cls(
            seq=b[0] | (b[1] << 8),
            session=b[2],
            opcode=b[3],
            size=size,
            req_opcode=b[5],
            burst_complete=b[6],
            offset=int.from_bytes(b[8:12], "little"),
            data=b[HEADER_LEN : HEADER_LEN + min(size, DATA_LEN)],
        )


@dataclass
class FtpStats:
    requests: int = 0  # requests sent, resends included
    resends: int = 0
    seconds: float = 0.0


@dataclass
class _Pending:
    packet: Packet
    sent_at: float
    tries: int = 1


_sessions = itertools.count(1)


class FtpClient:
    """FTP on one ``Connection``: ``write_file`` and ``read_file``, each in its own session.

    A request unanswered for ``timeout_s`` is resent, up to ``retries`` times;
    ``window`` reads or writes are kept in flight.
    """

    def __init__(
        self,
        conn: Connection,
        *,
        timeout_s: float = 0.25,
        retries: int = 8,
        window: int = 5,
        close_timeout_s: float = 1.0,
    ) -> None:
        self.conn = conn
        self.timeout_s = timeout_s
        self.retries = retries
        self.window = max(1, window)
        self.close_timeout_s = close_timeout_s
        self.stats = FtpStats()
        self._seq = 0
        self._session = 0

    # -- public ----------------------------------------------------------------

    def write_file(self, path: str, data: bytes) -> None:
        """Create (or truncate) ``path`` on the vehicle and write ``data``; closing commits it."""
        t0 = time.monotonic()
        with self.conn.subscribe("FILE_TRANSFER_PROTOCOL") as sub:
            self._open(sub, Op.CREATE_FILE, path)
            try:
                chunks = iter(range(0, len(data), DATA_LEN))

                def next_write() -> Packet | None:
                    off = next(chunks, None)
                    if off is None:
                        return None
                    chunk = data[off : off + DATA_LEN]
                    return self._packet(Op.WRITE_FILE, offset=off, data=chunk)

                def on_write(req: Packet, reply: Packet) -> None:
                    if reply.opcode == Op.NAK:
                        raise self._nak(Op.WRITE_FILE, path, reply)

                self._pipeline(sub, path, next_write, on_write)
            except BaseException:
                self._abandon(sub)
                raise
            reply = self._call(sub, Op.TERMINATE_SESSION, path, timeout_s=self.close_timeout_s)
            if reply.opcode == Op.NAK:
                raise self._nak(
                    Op.TERMINATE_SESSION,
                    path,
                    reply,
                    "the vehicle refused the written file (an invalid item, more items than "
                    "it can store, or a DO_JUMP target out of range)",
                )
        self.stats.seconds += time.monotonic() - t0

    def read_file(self, path: str) -> bytes:
        """The whole of ``path`` on the vehicle, read until end of file."""
        t0 = time.monotonic()
        with self.conn.subscribe("FILE_TRANSFER_PROTOCOL") as sub:
            self._open(sub, Op.OPEN_FILE_RO, path)
            chunks: dict[int, bytes] = {}
            end: list[int | None] = [None]  # first offset past the file, once known
            offsets = itertools.count(0, DATA_LEN)
            try:

                def next_read() -> Packet | None:
                    off = next(offsets)
                    if end[0] is not None and off >= end[0]:
                        return None
                    return self._packet(Op.READ_FILE, offset=off, size=DATA_LEN)

                def on_read(req: Packet, reply: Packet) -> None:
                    if reply.opcode == Op.NAK:
                        if reply.data[:1] != bytes([Err.EOF]):
                            raise self._nak(Op.READ_FILE, path, reply)
                        stop = req.offset
                    else:
                        chunks[req.offset] = reply.data
                        stop = req.offset + len(reply.data) if len(reply.data) < DATA_LEN else None
                    if stop is not None and (end[0] is None or stop < end[0]):
                        end[0] = stop

                self._pipeline(sub, path, next_read, on_read)
            finally:
                self._abandon(sub)
        self.stats.seconds += time.monotonic() - t0
        data = b"".join(chunks[o] for o in sorted(chunks) if end[0] is None or o < end[0])
        return data[: end[0]] if end[0] is not None else data

    # -- requests --------------------------------------------------------------

    def _packet(
        self, op: Op, *, offset: int = 0, size: int | None = None, data: bytes = b""
    ) -> Packet:
        self._seq = (self._seq + 1) & 0xFFFF
        n = len(data) if size is None else size
        return Packet(self._seq, self._session, int(op), n, 0, 0, offset, data)

    def _send(self, packet: Packet, resend: bool = False) -> None:
        self.stats.requests += 1
        self.stats.resends += int(resend)
        self.conn.send("file_transfer_protocol", target_network=0, payload=packet.payload())

    def _reply_to(self, msg: Any, pending: dict[int, _Pending]) -> tuple[_Pending, Packet] | None:
        ours = self.conn.mav.mav.srcSystem, self.conn.mav.mav.srcComponent
        if (msg.target_system, msg.target_component) not in (ours, (0, 0)):
            return None
        reply = Packet.parse(msg.payload)
        req = pending.get((reply.seq - 1) & 0xFFFF)
        if req is None or reply.req_opcode != req.packet.opcode:
            return None  # a late copy of an answer already taken, or someone else's
        if reply.opcode not in (Op.ACK, Op.NAK):
            return None
        return req, reply

    def _pipeline(
        self,
        sub: Any,
        path: str,
        next_request: Callable[[], Packet | None],
        on_reply: Callable[[Packet, Packet], None],
        timeout_s: float | None = None,
    ) -> None:
        """Keep ``window`` requests in flight until ``next_request`` has no more and all answered.

        ``on_reply`` sees each request with its answer (ACK or NAK) and may raise.
        """
        wait = self.timeout_s if timeout_s is None else timeout_s
        pending: dict[int, _Pending] = {}
        more = True
        while True:
            while more and len(pending) < self.window:
                packet = next_request()
                if packet is None:
                    more = False
                    break
                pending[packet.seq] = _Pending(packet, time.monotonic())
                self._send(packet)
            if not pending:
                return
            due = min(p.sent_at for p in pending.values()) + wait
            msg = sub.get(max(0.0, due - time.monotonic()))
            if msg is not None:
                got = self._reply_to(msg, pending)
                if got is not None:
                    req, reply = got
                    del pending[req.packet.seq]
                    on_reply(req.packet, reply)
                continue
            now = time.monotonic()
            for p in pending.values():
                if now - p.sent_at < wait:
                    continue
                if p.tries > self.retries:
                    op = Op(p.packet.opcode).name
                    raise FtpTimeout(
                        f"no answer to FTP {op} of {path} after {p.tries} tries "
                        f"({wait:.2f} s each) on {self.conn.url}: the vehicle may not offer FTP"
                    )
                p.tries += 1
                p.sent_at = now
                self._send(p.packet, resend=True)

    def _call(
        self, sub: Any, op: Op, path: str, *, data: bytes = b"", timeout_s: float | None = None
    ) -> Packet:
        """One request and its answer (ACK or NAK)."""
        answer: list[Packet] = []
        requests = iter([self._packet(op, data=data)])
        self._pipeline(
            sub, path, lambda: next(requests, None), lambda _q, r: answer.append(r), timeout_s
        )
        return answer[0]

    def _open(self, sub: Any, op: Op, path: str) -> None:
        """Reset our old sessions, then open ``path`` in a fresh session of our own."""
        self._session = 0
        self._call(sub, Op.RESET_SESSIONS, path)
        self._session = next(_sessions) % 255 + 1
        reply = self._call(sub, op, path, data=path.encode())
        if reply.opcode == Op.NAK:
            hint = ""
            if reply.data[:1] == bytes([Err.NO_SESSIONS_AVAILABLE]):
                hint = "another ground station is using FTP on this vehicle; try again"
            elif path.startswith("@MISSION/") and reply.data[:1] == bytes([Err.FILE_NOT_FOUND]):
                hint = "this firmware has no mission files (AP_FILESYSTEM_MISSION off)"
            raise self._nak(op, path, reply, hint)
        self._session = reply.session

    def _abandon(self, sub: Any) -> None:
        """Close the session without waiting long (a failed transfer is being reported)."""
        with contextlib.suppress(FtpError):
            self._call(sub, Op.TERMINATE_SESSION, "", timeout_s=0.1)

    @staticmethod
    def _nak(op: Op, path: str, reply: Packet, hint: str = "") -> FtpNak:
        error = reply.data[0] if reply.data else int(Err.FAIL)
        errno = reply.data[1] if error == Err.FAIL_ERRNO and len(reply.data) > 1 else None
        return FtpNak(op, path, error, errno, hint)
