"""The station receiver's hardening: what each finding of the hardening review does now.

Encodings (UTF-16 JSON, ISO-8859-1 CAP), nesting depth, the listen backlog, slow clients,
ambiguous framing, IPv6, a truncated outbox and a delivery lock reached through a symlink.
"""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from station.cap import to_cap_xml
from station.config import Endpoint
from station.delivery import Delivery
from station.errors import DeliveryError, StoreError
from station.inbox import STORED, Inbox, Received
from station.outbox import Outbox
from station.receiver import Receiver
from station.signing import generate_secret, parse_secret, signed_headers
from tests.station_samples import sample_alert

SECRET = generate_secret()
KEY = parse_secret(SECRET)


@pytest.fixture
def receiver(tmp_path):
    with Receiver(tmp_path / "station.sqlite", [KEY]) as r:
        yield r


def signed(body: bytes, webhook_id: str, ctype: str = "application/json") -> dict[str, str]:
    return {**signed_headers(KEY, webhook_id, body), "content-type": ctype}


def raw_request(address: tuple[str, int], data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes, return everything the server answers until it closes."""
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


# ------------------------------------------------------------ encodings


def test_utf16_json_is_415_naming_utf8_and_nothing_is_stored(receiver) -> None:
    a = sample_alert()
    body = a.to_json().decode().encode("utf-16")
    resp = httpx.post(receiver.url, content=body, headers=signed(body, a.id))
    assert resp.status_code == 415, resp.text
    assert "UTF-8" in resp.json()["error"]
    body = a.to_json()
    resp = httpx.post(
        receiver.url, content=body, headers=signed(body, a.id, "application/json; charset=latin-1")
    )
    assert resp.status_code == 415 and "UTF-8" in resp.json()["error"]
    bom = b"\xef\xbb\xbf" + body
    resp = httpx.post(receiver.url, content=bom, headers=signed(bom, a.id))
    assert resp.status_code == 400 and "byte order mark" in resp.json()["error"]
    assert receiver.inbox.count() == 0


def test_cap_in_iso_8859_1_is_parsed_as_declared(receiver) -> None:
    a = sample_alert("inc-latin", water_name="Lac Léman")
    xml = to_cap_xml(a).replace('encoding="UTF-8"', 'encoding="ISO-8859-1"')
    body = xml.encode("latin-1", "xmlcharrefreplace")
    assert "Léman".encode("latin-1") in body  # really Latin-1 bytes on the wire
    resp = httpx.post(receiver.url, content=body, headers=signed(body, a.id, "application/cap+xml"))
    assert resp.status_code == 200, resp.text
    assert "Lac Léman" in receiver.inbox.body(a.id)
    # the charset parameter wins over the declaration (RFC 7303)
    b = sample_alert("inc-latin-2", water_name="Lac Léman")
    body = (
        to_cap_xml(b)
        .replace('<?xml version="1.0" encoding="UTF-8"?>\n', "")
        .encode("latin-1", "xmlcharrefreplace")
    )
    ctype = "application/cap+xml; charset=ISO-8859-1"
    resp = httpx.post(receiver.url, content=body, headers=signed(body, b.id, ctype))
    assert resp.status_code == 200, resp.text
    # an encoding Python does not know is the client's to fix
    c = sample_alert("inc-latin-3")
    body = to_cap_xml(c).replace('encoding="UTF-8"', 'encoding="x-klingon"').encode()
    resp = httpx.post(receiver.url, content=body, headers=signed(body, c.id, "application/xml"))
    assert resp.status_code == 415 and "x-klingon" in resp.json()["error"]
    assert receiver.inbox.count() == 2


def test_bad_alerts_never_fail_the_valid_ones_sent_alongside(receiver) -> None:
    good = [sample_alert(f"inc-{i}") for i in range(40)]
    bad = [sample_alert(f"bad-{i}") for i in range(4)]

    def send(item: tuple[str, bytes, str]) -> int:
        webhook_id, body, ctype = item
        return httpx.post(
            receiver.url, content=body, headers=signed(body, webhook_id, ctype)
        ).status_code

    items = [(a.id, a.to_json(), "application/json") for a in good]
    items += [(a.id, a.to_json().decode().encode("utf-16"), "application/json") for a in bad[:2]]
    items += [
        (
            a.id,
            to_cap_xml(a).replace("UTF-8", "ISO-8859-1").encode("latin-1", "xmlcharrefreplace"),
            "text/xml",
        )
        for a in bad[2:]
    ]
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(send, items))
    assert statuses[:40] == [200] * 40
    assert statuses[40:] == [415, 415, 200, 200]  # Latin-1 CAP is valid
    assert receiver.inbox.count() == 42


def test_one_failing_item_does_not_fail_its_batch(tmp_path) -> None:
    """Group commit with one item the database refuses: only that item fails."""
    inbox = Inbox(tmp_path / "inbox.sqlite")
    meta = Received("a", "inc", "distress", "open", "2025-06-01T08:30:00Z", False)
    results: dict[str, object] = {}

    def store(webhook_id: str, text: object) -> None:
        try:
            results[webhook_id] = inbox.store(webhook_id, "application/json", b"{}", text, meta)  # type: ignore[arg-type]
        except Exception as exc:
            results[webhook_id] = exc

    with inbox._lock:  # hold the commit so the three queue into one batch
        threads = [
            threading.Thread(target=store, args=(wid, text))
            for wid, text in (("w1", "{}"), ("w2", object()), ("w3", "{}"))
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while len(inbox._queue) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(inbox._queue) == 3
    for t in threads:
        t.join(5)
    assert results["w1"] == results["w3"] == STORED
    assert isinstance(results["w2"], Exception)
    assert inbox.count() == 2
    inbox.close()


# ------------------------------------------------------------ nesting


@pytest.mark.parametrize(("opener", "depth"), [("[", 200_000), ('{"a":', 100_000)])
def test_deep_json_is_400_not_a_dropped_connection(tmp_path, opener, depth) -> None:
    closer = "]" if opener == "[" else "}"
    body = (opener * depth + "1" + closer * depth).encode()
    with Receiver(tmp_path / "s.sqlite", [KEY]) as r:
        resp = httpx.post(r.url, content=body, headers=signed(body, "deep"), timeout=30)
        assert resp.status_code == 400, resp.text
        assert "nested deeper" in resp.json()["error"]
        # and brackets inside strings are not nesting
        a = sample_alert(water_name="[[[[" * 50)
        body = a.to_json()
        assert httpx.post(r.url, content=body, headers=signed(body, a.id)).status_code == 200


# ------------------------------------------------------------ connections


def test_200_connections_at_once_all_wait_in_the_backlog(tmp_path) -> None:
    r = Receiver(tmp_path / "s.sqlite", [KEY])  # listening, not yet accepting
    try:
        socks = []
        for _ in range(200):
            s = socket.socket(r._server.sock.family, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(r.address)
            socks.append(s)
        time.sleep(0.5)  # the kernel completes what fits in the backlog; the rest wait on SYNs
        r.start()
        served = 0
        for s in socks:
            s.settimeout(10)
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                served += s.recv(100).startswith(b"HTTP/1.1 200")
            except OSError:
                pass
            s.close()
        assert served == 200
    finally:
        r.close()


def test_slow_clients_hold_no_thread_and_meet_a_total_deadline(tmp_path) -> None:
    before = threading.active_count()
    with Receiver(tmp_path / "s.sqlite", [KEY], workers=4, deadline_s=1.0) as r:
        slow = [socket.create_connection(r.address, timeout=5) for _ in range(100)]
        for s in slow:
            s.sendall(b"POST /alerts HTTP/1.1\r\n")
        time.sleep(0.2)
        assert threading.active_count() <= before + 4 + 1  # workers + the event loop
        a = sample_alert()
        body = a.to_json()
        assert httpx.post(r.url, content=body, headers=signed(body, a.id)).status_code == 200
        # a client dripping a byte every 0.1 s still has to finish within the deadline
        elapsed, reply = drip_until_answered(slow[0], limit_s=5.0)
        assert elapsed < 2.5 and status_of(reply) == 408
        for s in slow:
            s.close()


def drip_until_answered(s: socket.socket, limit_s: float) -> tuple[float, bytes]:
    """Send a byte every 0.1 s until the server answers or closes; (seconds, reply)."""
    started = time.monotonic()
    s.settimeout(0.1)
    reply = b""
    while time.monotonic() - started < limit_s:
        try:
            s.sendall(b"x")
            chunk = s.recv(1000)
        except TimeoutError:
            continue
        except OSError:
            break
        reply += chunk
        if not chunk or reply:
            break
    return time.monotonic() - started, reply


def test_slow_client_gets_408_after_the_deadline(tmp_path) -> None:
    with (
        Receiver(tmp_path / "s.sqlite", [KEY], deadline_s=2.0) as r,
        socket.create_connection(r.address, timeout=5) as s,
    ):
        s.sendall(b"POST /alerts HTTP/1.1\r\ncontent-length: 10\r\n\r\n{")
        started = time.monotonic()
        reply = s.recv(1000)
        assert status_of(reply) == 408
        assert 1.5 < time.monotonic() - started < 4.0


# ------------------------------------------------------------ framing


def head(*lines: str) -> bytes:
    return ("\r\n".join(["POST /alerts HTTP/1.1", "host: x", *lines]) + "\r\n\r\n").encode()


@pytest.mark.parametrize(
    ("request_head", "status", "words"),
    [
        (head("content-length: 2", "content-length: 2"), 400, "more than one content-length"),
        (head("content-length: 2", "content-length: 5"), 400, "more than one content-length"),
        (head("content-length: 2, 2"), 400, "invalid content-length"),
        (head("content-length: +2"), 400, "invalid content-length"),
        (head("content-length: 2", "transfer-encoding: chunked"), 400, "both"),
        (head("transfer-encoding: chunked"), 411, "content-length"),
        (head("transfer-encoding: gzip"), 411, "content-length"),
        (head(), 411, "content-length"),
        (head("content-length : 2"), 400, "malformed header"),
        (head("content-length: 2", " folded"), 400, "malformed header"),
        (head("webhook-id: a", "webhook-id: b", "content-length: 2"), 400, "webhook-id"),
        (b"POST /alerts HTTP/2.0\r\n\r\n", 505, "http/1.1"),
        (b"GARBAGE\r\n\r\n", 400, "request line"),
        (head("content-length: 2", "x-a: \x01"), 400, "control character"),
    ],
)
def test_ambiguous_framing_is_refused(receiver, request_head, status, words) -> None:
    reply = raw_request(receiver.address, request_head + b"{}")
    assert status_of(reply) == status, reply
    assert words in reply.decode("latin-1").lower()
    assert b"connection: close" in reply
    assert receiver.inbox.count() == 0


# ------------------------------------------------------------ IPv6


def _ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_serves_on_ipv6(tmp_path) -> None:
    with Receiver(tmp_path / "s.sqlite", [KEY], host="::1") as r:
        assert r.url.startswith("http://[::1]:")
        a = sample_alert()
        body = a.to_json()
        resp = httpx.post(r.url, content=body, headers=signed(body, a.id))
        assert resp.status_code == 200 and r.inbox.count() == 1


# ------------------------------------------------------------ databases


@pytest.mark.parametrize("content", [b"", b"not a database at all, just text"])
def test_a_truncated_or_foreign_file_is_not_a_new_outbox(tmp_path, content) -> None:
    path = tmp_path / "outbox.sqlite"
    path.write_bytes(content)
    with pytest.raises(StoreError, match=str(path)):
        Outbox(path)
    with pytest.raises(StoreError, match="empty" if not content else "not a SQLite"):
        Inbox(path)
    assert path.read_bytes() == content  # left as it was for the operator to recover


def test_delivery_lock_holds_through_a_symlink(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("WATERPATROL_WEBHOOK_SECRET", SECRET)
    real = tmp_path / "real" / "outbox.sqlite"
    Outbox(real).close()
    link = tmp_path / "outbox-link.sqlite"
    link.symlink_to(real)
    url = "http://127.0.0.1:9/alerts"
    with (
        Outbox(real) as a,
        Outbox(link) as b,
        Delivery(a, [Endpoint(url)]),
        pytest.raises(DeliveryError, match="another delivery worker"),
    ):
        Delivery(b, [Endpoint(url)]).start()
    assert Path(link).resolve() == real.resolve()
