"""The station receiver over real HTTP on loopback: what it stores, and what it refuses."""

from __future__ import annotations

import http.client
import json
import time

import httpx
import pytest

from station.cap import to_cap_xml
from station.model import Alert
from station.receiver import Receiver
from station.signing import generate_secret, parse_secret, sign, signed_headers
from tests.station_samples import sample_alert

SECRET = generate_secret()
JSON = "application/json"
KEY = parse_secret(SECRET)


def alert(incident: str = "inc-1") -> Alert:
    return sample_alert(incident, type="distress", water_name="West Lake")


@pytest.fixture(scope="module")
def client():
    with httpx.Client(timeout=10) as c:  # one per module: each new client loads the CA bundle
        yield c


@pytest.fixture
def receiver(tmp_path):
    with Receiver(tmp_path / "station.sqlite", [KEY], max_body_bytes=64 * 1024) as r:
        yield r


def post(
    client: httpx.Client,
    r: Receiver,
    body: bytes,
    headers: dict[str, str],
    ctype="application/json",
):
    return client.post(r.url, content=body, headers={**headers, "content-type": ctype})


def test_stores_a_signed_alert_once(receiver, client) -> None:
    a = alert()
    body = a.to_json()
    resp = post(client, receiver, body, signed_headers(KEY, a.id, body))
    assert resp.status_code == 200 and resp.json()["result"] == "stored"
    # a retry (new timestamp, same id and body) is acknowledged, not stored again
    resp = post(client, receiver, body, signed_headers(KEY, a.id, body, int(time.time()) + 1))
    assert resp.status_code == 200 and resp.json()["result"] == "duplicate"
    [row] = receiver.inbox.rows()
    assert (row.alert_id, row.incident_id, row.type, row.status, row.receipts) == (
        a.id,
        "inc-1",
        "distress",
        "open",
        2,
    )
    assert Alert.from_json(receiver.inbox.body(a.id)) == a
    assert client.get(receiver.url.replace("/alerts", "/healthz")).json() == {"ok": True}


def test_stores_cap_and_keeps_the_newest_incident_state(receiver, client) -> None:
    first = alert("inc-cap")
    update = first.follow_up(people=3)
    for a in (update, first):  # out of order: the incident must still end on the update
        body = to_cap_xml(a).encode()
        resp = post(client, receiver, body, signed_headers(KEY, a.id, body), "application/cap+xml")
        assert resp.status_code == 200, resp.text
    [incident] = receiver.inbox.incidents()
    assert (incident.alert_id, incident.status, incident.type) == (update.id, "update", "distress")
    assert receiver.inbox.count() == 2


def refused(client, receiver, status: int, body: bytes, headers: dict[str, str], ctype=JSON):
    resp = post(client, receiver, body, headers, ctype)
    assert resp.status_code == status, resp.text
    assert resp.json()["error"]
    return resp.json()["error"]


def test_wrong_signature_is_401_and_nothing_stored(receiver, client) -> None:
    a = alert()
    body = a.to_json()
    other = parse_secret(generate_secret())
    assert "does not match" in refused(
        client, receiver, 401, body, signed_headers(other, a.id, body)
    )
    tampered = body.replace(b'"people":1', b'"people":9')
    assert "does not match" in refused(
        client, receiver, 401, tampered, signed_headers(KEY, a.id, body)
    )
    assert receiver.inbox.count() == 0


def test_stale_and_future_timestamps_are_401(receiver, client) -> None:
    a = alert()
    body = a.to_json()
    for skew in (-301, +301, -86400):
        h = signed_headers(KEY, a.id, body, int(time.time()) + skew)
        assert "stale or replayed" in refused(client, receiver, 401, body, h)
    assert receiver.inbox.count() == 0


def test_missing_headers_malformed_and_invalid_bodies_are_400(receiver, client) -> None:
    a = alert()
    body = a.to_json()
    refused(client, receiver, 400, body, {"webhook-id": a.id})
    bad = b'{"id": "x", '
    assert "not valid JSON" in refused(client, receiver, 400, bad, signed_headers(KEY, "x", bad))
    doc = json.loads(body)
    doc["lat"] = 123
    bad = json.dumps(doc).encode()
    assert "lat" in refused(client, receiver, 400, bad, signed_headers(KEY, a.id, bad))
    bad = b"<alert>not cap</alert>"
    refused(client, receiver, 400, bad, signed_headers(KEY, "c1", bad), "application/cap+xml")
    refused(client, receiver, 415, body, signed_headers(KEY, a.id, body), "text/plain")
    assert receiver.inbox.count() == 0


def test_a_reused_id_with_another_body_is_409(receiver, client) -> None:
    a, b = alert("inc-1"), alert("inc-2")
    body_a, body_b = a.to_json(), b.to_json()
    assert post(client, receiver, body_a, signed_headers(KEY, a.id, body_a)).status_code == 200
    assert "different body" in refused(
        client, receiver, 409, body_b, signed_headers(KEY, a.id, body_b)
    )
    assert [r.alert_id for r in receiver.inbox.rows()] == [a.id]


def test_huge_bodies_are_413_without_being_read_whole(receiver, client) -> None:
    huge = b"{" + b" " * (2 << 20) + b"}"  # 2 MiB against a 64 KiB limit
    h = signed_headers(KEY, "big", huge)
    assert "limit" in refused(client, receiver, 413, huge, h)
    # past the drain limit the server closes at once; the client sees 413 or a reset, never a hang
    giant_len = 64 << 20
    conn = http.client.HTTPConnection(*receiver.address, timeout=10)
    conn.putrequest("POST", "/alerts")
    for k, v in {**h, "content-type": "application/json", "content-length": str(giant_len)}.items():
        conn.putheader(k, v)
    conn.endheaders()
    assert conn.getresponse().status == 413
    conn.close()
    assert receiver.inbox.count() == 0


def test_wrong_path_method_and_framing(receiver, client) -> None:
    a = alert()
    body = a.to_json()
    resp = client.post(receiver.url + "x", content=body, headers=signed_headers(KEY, a.id, body))
    assert resp.status_code == 404
    assert client.put(receiver.url, content=body).status_code == 501
    conn = http.client.HTTPConnection(*receiver.address, timeout=10)
    conn.putrequest("POST", "/alerts", skip_accept_encoding=True)
    conn.putheader("transfer-encoding", "chunked")
    conn.endheaders()
    conn.send(b"2\r\n{}\r\n0\r\n\r\n")
    assert conn.getresponse().status == 411
    conn.close()
    assert receiver.inbox.count() == 0


def test_a_slow_client_cannot_hold_the_server(tmp_path, client) -> None:
    import socket

    with Receiver(tmp_path / "s.sqlite", [KEY]) as r:
        idle = socket.create_connection(r.address, timeout=5)  # opens, sends nothing
        a = alert()
        body = a.to_json()
        resp = post(client, r, body, signed_headers(KEY, a.id, body))
        assert resp.status_code == 200  # served alongside the idle connection
        idle.close()


def test_signature_over_the_exact_bytes(receiver, client) -> None:
    """Re-serialising the JSON would break signatures: the receiver verifies the raw body."""
    a = alert()
    body = json.dumps(a.to_dict(), indent=1).encode()  # valid JSON, different bytes
    ts = int(time.time())
    h = {
        "webhook-id": a.id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(KEY, a.id, ts, body),
    }
    assert post(client, receiver, body, h).status_code == 200
    assert receiver.inbox.body(a.id) == body.decode()
