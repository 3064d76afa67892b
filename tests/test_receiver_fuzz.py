"""Fuzzing the station receiver over raw HTTP: encodings, nesting, sizes, header combinations,
damaged bodies and slow (dripping) clients.

Whatever arrives: a reply always comes, never a 5xx for the client's mistake, never an
internal error in the log; a 200 means the body is stored once, as sent; anything else
means nothing is stored under that webhook-id; a clean, signed alert is always a 200.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import socket
import time
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from station.cap import to_cap_xml
from station.receiver import Receiver
from station.signing import generate_secret, parse_secret, signed_headers
from tests.station_samples import sample_alert

KEY = parse_secret(generate_secret())
OTHER_KEY = parse_secret(generate_secret())
DEADLINE_S = 0.5
_serial = itertools.count()


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    errors = _Errors()
    loggers = [logging.getLogger(name) for name in ("station", "asyncio")]
    for logger in loggers:
        logger.addHandler(errors)
    path = tmp_path_factory.mktemp("fuzz") / "station.sqlite"
    r = Receiver(path, [KEY], max_body_bytes=64 * 1024, workers=4, deadline_s=DEADLINE_S)
    try:
        yield r.start(), errors
    finally:
        r.close()
        for logger in loggers:
            logger.removeHandler(errors)


@dataclass
class Request:
    webhook_id: str
    head: list[str]  # header lines
    body: bytes
    chunks: int
    drip_s: float
    clean: bool  # a valid, signed alert sent correctly: must be a 200


FRAMINGS = [
    "ok",
    "expect_continue",
    "dup_cl_same",
    "dup_cl_diff",
    "chunked",
    "cl_and_te",
    "no_cl",
    "cl_long",  # promises more than it sends: the deadline answers
    "space_before_colon",
    "folded",
    "dup_webhook_id",
]
CONTENT_TYPES = [
    None,  # the right one for the body
    "application/json; charset=utf-16",
    "application/json; charset=UTF-8",
    "application/cap+xml; charset=iso-8859-1",
    "text/plain",
    "",
]


def faults(draw: st.DrawFn, choices: list, clean: bool):
    """The first choice (the right one) for a clean request, else any."""
    return choices[0] if clean else draw(st.sampled_from(choices))


@st.composite
def requests(draw: st.DrawFn) -> Request:
    serial = next(_serial)
    clean = draw(st.integers(0, 2)) == 0  # a third are valid alerts sent correctly
    alert = sample_alert(f"fz-{serial}", water_name=draw(st.sampled_from(["西湖", "Lac Léman"])))
    cap = draw(st.booleans())
    encoding = faults(draw, ["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1"], clean)
    if cap:
        text = to_cap_xml(alert)
        if encoding != "utf-8":
            text = text.replace('encoding="UTF-8"', f'encoding="{encoding.upper()}"')
        body = text.encode(encoding, "xmlcharrefreplace")
    else:
        body = alert.to_json().decode().encode(encoding, "replace")
    depth = faults(draw, [0, 5, 40, 20_000], clean)
    if depth:
        body = b"[" * depth + body + b"]" * depth
    damage = faults(draw, [None, "truncate", "garbage", "random", "oversize"], clean)
    if damage == "truncate":
        body = body[: len(body) * draw(st.integers(0, 99)) // 100]
    elif damage == "garbage":
        body += draw(st.binary(min_size=1, max_size=64))
    elif damage == "random":
        body = draw(st.binary(max_size=256))
    elif damage == "oversize":
        body += b" " * (70 * 1024)  # over the 64 KiB limit: 413
    ctype = faults(draw, CONTENT_TYPES, clean)
    ctype = ctype if ctype is not None else ("application/cap+xml" if cap else "application/json")
    right_key = faults(draw, [True, False], clean)
    webhook_id = f"{alert.id}-{serial}"
    signature = signed_headers(KEY if right_key else OTHER_KEY, webhook_id, body)
    head = [f"{k}: {v}" for k, v in signature.items()] + ["host: station"]
    if ctype:
        head.append(f"content-type: {ctype}")
    framing = faults(draw, FRAMINGS, clean)
    length = f"content-length: {len(body)}"
    head += {
        "ok": [length],
        "expect_continue": [length, "expect: 100-continue"],
        "dup_cl_same": [length, length],
        "dup_cl_diff": [length, f"content-length: {len(body) + 1}"],
        "chunked": ["transfer-encoding: chunked"],
        "cl_and_te": [length, "transfer-encoding: chunked"],
        "no_cl": [],
        "cl_long": [f"content-length: {len(body) + 10}"],
        "space_before_colon": [length.replace(":", " :")],
        "folded": [length, " continued"],
        "dup_webhook_id": [length, f"webhook-id: {webhook_id}x"],
    }[framing]
    if draw(st.booleans()):
        head.append("connection: close")
    chunks = draw(st.integers(1, 4))
    drip_s = draw(st.sampled_from([0.0, 0.0, 0.02, 0.08]))
    return Request(webhook_id, head, body, chunks, drip_s, clean)


def exchange(address: tuple[str, int], req: Request) -> tuple[int, dict]:
    """Send the request (in ``chunks`` pieces, ``drip_s`` apart) and read one reply."""
    data = ("POST /alerts HTTP/1.1\r\n" + "\r\n".join(req.head) + "\r\n\r\n").encode()
    data += req.body
    step = max(1, -(-len(data) // req.chunks))
    with socket.create_connection(address, timeout=10) as s:
        try:
            for i in range(0, len(data), step):
                s.sendall(data[i : i + step])
                if req.drip_s:
                    time.sleep(req.drip_s)
        except OSError:
            pass  # the server answered early and closed (a refused head or body)
        return read_reply(s)


def read_reply(s: socket.socket) -> tuple[int, dict]:
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, f"connection closed without a reply (got {buf!r})"
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        if status != 100:
            break
        buf = rest  # 100 Continue: the real reply follows
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[
            1
        ]
    )
    while len(rest) < length:
        chunk = s.recv(65536)
        assert chunk, "reply body cut short"
        rest += chunk
    return status, json.loads(rest[:length])


def stored_rows(r: Receiver, webhook_id: str) -> list[tuple[str, int]]:
    with r.inbox._lock:
        return r.inbox._db.execute(
            "SELECT body_sha256, receipts FROM received WHERE webhook_id = ?", (webhook_id,)
        ).fetchall()


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(req=requests())
def test_receiver_answers_every_request_and_stores_each_alert_once(served, req) -> None:
    r, errors = served
    status, reply = exchange(r.address, req)
    event(f"status {status}")
    assert status < 500 or status == 505, (status, reply)
    assert not errors.records, [rec.getMessage() for rec in errors.records]
    rows = stored_rows(r, req.webhook_id)
    if status == 200:
        assert rows == [(hashlib.sha256(req.body).hexdigest(), 1)]
        assert reply["result"] == "stored"
        # a retry is acknowledged, not stored again
        assert exchange(r.address, req)[0] == 200
        assert stored_rows(r, req.webhook_id)[0][1] == 2
    else:
        assert rows == [] and reply["error"], (status, reply)
    if req.clean:
        assert status == 200, reply
