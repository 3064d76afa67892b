"""The MAVLink FTP client against a scripted in-process FTP server (losses, NAKs, silence)."""

from __future__ import annotations

import errno
import queue
from collections.abc import Callable
from types import SimpleNamespace

import pytest

from mission.link._mavlink import mavlink
from mission.link.ftp import DATA_LEN, PAYLOAD_LEN, Err, FtpClient, FtpNak, FtpTimeout, Op, Packet


class FakeVehicle:
    """Serves files the way ArduPilot's GCS_FTP does, on a stand-in for ``Connection``.

    ``drop_request(n)`` / ``drop_reply(n)`` lose the n-th request or reply;
    ``commit(path, data)`` returns an errno to refuse a written file on close.
    """

    url = "fake:ftp"

    def __init__(
        self,
        files: dict[str, bytes] | None = None,
        drop_request: Callable[[int], bool] = lambda n: False,
        drop_reply: Callable[[int], bool] = lambda n: False,
        commit: Callable[[str, bytes], int] = lambda path, data: 0,
        silent: bool = False,
    ) -> None:
        self.files = dict(files or {})
        self.drop_request, self.drop_reply, self.commit = drop_request, drop_reply, commit
        self.silent = silent
        self.mav = SimpleNamespace(mav=SimpleNamespace(srcSystem=255, srcComponent=190))
        self.q: queue.SimpleQueue = queue.SimpleQueue()
        self.requests = self.replies = 0
        self.last: Packet | None = None
        self.open: tuple[str, str, bytearray] | None = None  # mode, path, write buffer

    # -- the Connection surface FtpClient uses ---------------------------------

    def subscribe(self, *types: str) -> FakeVehicle:
        return self

    def get(self, timeout_s: float):
        try:
            return self.q.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None

    def __enter__(self) -> FakeVehicle:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def send(self, name: str, **fields) -> None:
        assert name == "file_transfer_protocol" and len(fields["payload"]) == PAYLOAD_LEN
        self.requests += 1
        if self.silent or self.drop_request(self.requests):
            return
        reply = self.handle(Packet.parse(fields["payload"]))
        self.replies += 1
        if not self.drop_reply(self.replies):
            msg = mavlink.MAVLink_file_transfer_protocol_message(0, 255, 190, reply.payload())
            self.q.put(msg)

    # -- the server ---------------------------------------------------------------

    def handle(self, req: Packet) -> Packet:
        last = self.last
        if last is not None and (req.seq + 1) & 0xFFFF == last.seq and req.session == last.session:
            return last  # a repeated request gets the same answer again
        self.last = reply = self.answer(req)
        return reply

    def answer(self, req: Packet) -> Packet:
        def ack(size: int = 0, data: bytes = b"", offset: int = 0) -> Packet:
            return Packet(req.seq + 1, req.session, Op.ACK, size, req.opcode, 0, offset, data)

        def nak(error: Err, err_no: int = 0) -> Packet:
            data = bytes([error, err_no]) if err_no else bytes([error])
            return Packet(req.seq + 1, req.session, Op.NAK, len(data), req.opcode, 0, 0, data)

        path = req.data[: req.size].decode(errors="replace")
        match req.opcode:
            case Op.RESET_SESSIONS:
                self.open = None
                return ack()
            case Op.CREATE_FILE:
                self.open = ("w", path, bytearray())
                return ack()
            case Op.OPEN_FILE_RO:
                if path not in self.files:
                    return nak(Err.FILE_NOT_FOUND)
                self.open = ("r", path, bytearray())
                return ack(4, (1 << 20).to_bytes(4, "little"))
            case Op.WRITE_FILE:
                assert self.open is not None and self.open[0] == "w"
                buf = self.open[2]
                buf.extend(bytes(max(0, req.offset + req.size - len(buf))))
                buf[req.offset : req.offset + req.size] = req.data
                return ack(offset=req.offset)
            case Op.READ_FILE:
                assert self.open is not None and self.open[0] == "r"
                chunk = self.files[self.open[1]][req.offset : req.offset + req.size]
                return ack(len(chunk), chunk, req.offset) if chunk else nak(Err.EOF)
            case Op.TERMINATE_SESSION:
                opened, self.open = self.open, None
                if opened is not None and opened[0] == "w":
                    refused = self.commit(opened[1], bytes(opened[2]))
                    if refused:
                        return nak(Err.FAIL_ERRNO, refused)
                    self.files[opened[1]] = bytes(opened[2])
                return ack()
        return nak(Err.UNKNOWN_COMMAND)


DATA = bytes(range(256)) * 104  # 26.6 kB: about a 700-item mission file


def test_packet_layout_round_trips():
    p = Packet(0x1234, 7, Op.WRITE_FILE, 3, 0, 0, 0x01020304, b"abc")
    raw = bytes(p.payload())
    assert len(raw) == PAYLOAD_LEN and DATA_LEN == 239
    assert raw[:8] == bytes([0x34, 0x12, 7, 7, 3, 0, 0, 0])
    assert raw[8:12] == bytes([4, 3, 2, 1]) and raw[12:15] == b"abc"
    assert Packet.parse(raw) == p


def test_write_then_read_back_a_file():
    vehicle = FakeVehicle()
    client = FtpClient(vehicle)
    client.write_file("@MISSION/mission.dat", DATA)
    assert vehicle.files["@MISSION/mission.dat"] == DATA
    assert client.read_file("@MISSION/mission.dat") == DATA
    assert client.stats.resends == 0


def test_lost_requests_and_replies_are_resent_and_the_file_arrives_whole():
    vehicle = FakeVehicle(drop_request=lambda n: n % 7 == 3, drop_reply=lambda n: n % 11 == 5)
    client = FtpClient(vehicle, timeout_s=0.02)
    client.write_file("@MISSION/fence.dat", DATA)
    assert vehicle.files["@MISSION/fence.dat"] == DATA
    assert client.read_file("@MISSION/fence.dat") == DATA
    assert client.stats.resends > 10


def test_a_refused_file_names_the_errno_and_what_to_check():
    vehicle = FakeVehicle(commit=lambda path, data: errno.EINVAL)
    with pytest.raises(
        FtpNak,
        match=r"TERMINATE_SESSION of @MISSION/mission.dat: FAIL_ERRNO "
        r"\(EINVAL\); the vehicle refused the written file",
    ) as exc:
        FtpClient(vehicle).write_file("@MISSION/mission.dat", DATA)
    assert exc.value.error == Err.FAIL_ERRNO and exc.value.errno == errno.EINVAL
    assert "@MISSION/mission.dat" not in vehicle.files  # nothing committed


def test_a_missing_mission_file_says_the_firmware_lacks_it():
    with pytest.raises(FtpNak, match="FILE_NOT_FOUND; this firmware has no mission files"):
        FtpClient(FakeVehicle()).read_file("@MISSION/rally.dat")


def test_a_silent_vehicle_is_a_timeout_not_a_hang():
    vehicle = FakeVehicle(silent=True)
    with pytest.raises(FtpTimeout, match=r"RESET_SESSIONS .* after 3 tries"):
        FtpClient(vehicle, timeout_s=0.01, retries=2).write_file("@MISSION/mission.dat", DATA)
    assert vehicle.requests == 3
