"""The delivery worker: outbox -> signed Standard Webhooks requests to each dispatch endpoint.

One thread per endpoint routes new alerts to it, sends the due ones (at most one
in flight per incident, so each incident's alerts arrive in order; several
incidents in parallel) and records every outcome in the outbox. Delivery is
at least once; the ``webhook-id`` (the alert id) lets the receiver make it
exactly once. Run it in-process (``Delivery(...).start()``) or as its own
process (``waterpatrol alerts deliver``).
"""

from __future__ import annotations

import email.utils
import fcntl
import hashlib
import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from typing import IO

import httpx

from station.cap import to_cap_xml
from station.config import Endpoint, RetryPolicy
from station.errors import AlertError, DeliveryError
from station.model import Alert
from station.outbox import (
    DELIVERED,
    DISABLED,
    FAILED,
    PENDING,
    DueDelivery,
    Outbox,
    OutboxEntry,
    Outcome,
)
from station.signing import secret_from_env, signed_headers

log = logging.getLogger(__name__)

USER_AGENT = "waterpatrol-station/0.1"
CONTENT_TYPES = {"json": "application/json", "cap": "application/cap+xml; charset=utf-8"}


class Delivery:
    """Sends the outbox's alerts to ``endpoints``. Secrets are read from the environment now.

    ``route=False`` only sends deliveries that already exist (alerts emitted with an
    explicit route, as ``alerts test`` does) and never takes broadcast alerts.
    """

    def __init__(
        self,
        outbox: Outbox,
        endpoints: Sequence[Endpoint],
        policy: RetryPolicy | None = None,
        *,
        concurrency: int = 8,
        poll_interval_s: float = 0.02,
        route: bool = True,
    ) -> None:
        if not endpoints:
            raise DeliveryError("no dispatch endpoint: give --dispatch URL or a --config file")
        if concurrency < 1:
            raise DeliveryError("concurrency must be at least 1")
        self.outbox = outbox
        self.endpoints = list(endpoints)
        self.policy = policy or RetryPolicy()
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.route = route
        self._keys = {ep.name: secret_from_env(ep.secret_env) for ep in self.endpoints}
        self._rng = random.Random()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._events: list[threading.Event] = []
        self._locks: list[IO[str]] = []
        if route:
            for ep in self.endpoints:
                outbox.register_endpoint(ep.name, ep.url)

    # ------------------------------------------------------------ running

    def start(self) -> None:
        """One daemon thread per endpoint; returns at once. Only one worker may serve an
        endpoint of an outbox at a time (a lock file beside the outbox, freed if it dies)."""
        if self._threads:
            return
        self._lock_endpoints()
        self._stop.clear()
        for ep in self.endpoints:
            event = self.outbox.subscribe()
            self._events.append(event)
            t = threading.Thread(
                target=self._loop, args=(ep, event), name=f"delivery:{ep.name}", daemon=True
            )
            self._threads.append(t)
            t.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop the threads; a request in flight finishes (or times out) first."""
        self._stop.set()
        for event in self._events:
            event.set()
        for t in self._threads:
            t.join(timeout_s)
        for event in self._events:
            self.outbox.unsubscribe(event)
        self._threads.clear()
        self._events.clear()
        self._unlock_endpoints()

    def _lock_endpoints(self) -> None:
        # keyed by the real path: workers reaching one outbox through a symlink, a relative
        # path or `..` must meet the same lock
        real = os.path.realpath(self.outbox.path)
        for ep in self.endpoints:
            tag = hashlib.sha256(ep.name.encode()).hexdigest()[:12]
            f = open(f"{real}.{tag}.lock", "a")  # noqa: SIM115 (held until stop)
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.close()
                self._unlock_endpoints()
                raise DeliveryError(
                    f"another delivery worker is already sending {self.outbox.path} to {ep.name};"
                    " stop it first (one worker per outbox and endpoint keeps incidents in order)"
                ) from None
            self._locks.append(f)

    def _unlock_endpoints(self) -> None:
        for f in self._locks:
            f.close()  # closing releases the flock
        self._locks.clear()

    def run_until(self, stop: threading.Event) -> None:
        """Deliver in the background until ``stop`` is set (the CLI's foreground mode)."""
        self.start()
        try:
            while not stop.wait(0.5):
                pass
        finally:
            self.stop()

    def __enter__(self) -> Delivery:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self, alert_id: str, timeout_s: float) -> OutboxEntry:
        """Poll until the alert has a finished delivery (delivered, failed or disabled) to each
        endpoint this worker serves it to, or ``timeout_s`` passes; returns its outbox entry."""
        deadline = time.monotonic() + timeout_s
        names = {ep.name for ep in self.endpoints}
        while True:
            entry = self.outbox.get(alert_id)
            expected = names & set(entry.route) if entry.route else names
            done = {d.endpoint for d in entry.deliveries if d.state != PENDING}
            if expected <= done or time.monotonic() >= deadline:
                return entry
            time.sleep(0.01)

    def _loop(self, ep: Endpoint, wake: threading.Event) -> None:
        with (
            self._client(ep) as client,
            ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"send:{ep.name}") as pool,
        ):
            while not self._stop.is_set():
                wake.clear()
                try:
                    if self._step(ep, client, pool):
                        continue
                    wait = self._idle_wait(ep)
                except Exception:  # never let the thread die: log, wait, go on
                    log.exception("delivery to %s", ep.name)
                    wait = 1.0
                wake.wait(wait)

    def _idle_wait(self, ep: Endpoint) -> float:
        row = self.outbox.endpoint(ep.name)
        if row is not None and row.disabled_at is not None:
            return max(self.poll_interval_s, 1.0)  # `alerts retry` re-enables it
        wait = self.poll_interval_s
        next_at = self.outbox.next_due_at(ep.name)
        if next_at is not None:
            wait = min(wait, next_at - time.time())
        return max(wait, 0.001)

    # ------------------------------------------------------------ one pass

    def _step(self, ep: Endpoint, client: httpx.Client, pool: ThreadPoolExecutor) -> int:
        if self.route:
            self.outbox.route(ep.name)
            row = self.outbox.endpoint(ep.name)
            if row is not None and row.disabled_at is not None:
                return 0
        due = self.outbox.due(ep.name, time.time(), self.concurrency)
        if not due:
            return 0
        if len(due) == 1:
            outcomes = [self._attempt(ep, client, due[0])]
        else:
            outcomes = list(pool.map(lambda d: self._attempt(ep, client, d), due))
        gone = next((o for o in outcomes if o.state == DISABLED), None)
        reason = (gone.error or "410 Gone") if gone is not None and self.route else None
        self.outbox.record(ep.name, outcomes, disable_reason=reason)
        if reason is not None:
            log.error("endpoint %s answered 410 Gone: disabled until `alerts retry`", ep.name)
        return len(due)

    def _attempt(self, ep: Endpoint, client: httpx.Client, d: DueDelivery) -> Outcome:
        start = time.time()
        body = d.body.encode("utf-8")
        if ep.format == "cap":
            try:
                body = to_cap_xml(Alert.from_json(body)).encode("utf-8")
            except AlertError as exc:  # a row no longer readable: say so, never retry it
                return Outcome(d.seq, FAILED, start, start, None, f"cannot encode as CAP: {exc}")
        headers = signed_headers(self._keys[ep.name], d.alert_id, body, int(start))
        headers["content-type"] = CONTENT_TYPES[ep.format]
        try:
            resp = client.post(ep.url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            reason = f"timed out ({type(exc).__name__})"
            return self._transient(d, start, time.time(), None, reason, None)
        except httpx.HTTPError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            return self._transient(d, start, time.time(), None, reason, None)
        end = time.time()  # delays count from the answer, as Retry-After means
        status = resp.status_code
        if 200 <= status < 300:
            return Outcome(d.seq, DELIVERED, start, end, status)
        reason = f"HTTP {status}: {resp.text[:200].strip()}".rstrip(": ")
        if status == 410:
            return Outcome(d.seq, DISABLED, start, end, status, reason)
        retry_after = parse_retry_after(resp.headers.get("retry-after"), end)
        if retry_after is not None:
            retry_after = min(retry_after, self.policy.max_retry_after_s)
        if status in (408, 429) or status >= 500:
            return self._transient(d, start, end, status, reason, retry_after)
        # a redirect or another 4xx: the request or the configuration is wrong
        if d.attempts + 1 >= self.policy.client_error_attempts:
            log.warning("alert %s to %s failed: %s", d.alert_id, ep.name, reason)
            return Outcome(d.seq, FAILED, start, end, status, reason)
        return Outcome(d.seq, PENDING, start, end + self._delay(d, retry_after), status, reason)

    def _transient(
        self,
        d: DueDelivery,
        start: float,
        end: float,
        status: int | None,
        reason: str,
        retry_after: float | None,
    ) -> Outcome:
        first = d.first_attempt_at or start
        if end - first >= self.policy.give_up_after_s:
            reason = f"gave up after {end - first:.0f} s; last: {reason}"
            log.warning("alert %s failed: %s", d.alert_id, reason)
            return Outcome(d.seq, FAILED, start, end, status, reason)
        return Outcome(d.seq, PENDING, start, end + self._delay(d, retry_after), status, reason)

    def _delay(self, d: DueDelivery, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        return self.policy.backoff_s(d.attempts + 1, self._rng.random())

    def _client(self, ep: Endpoint) -> httpx.Client:
        verify: bool | ssl.SSLContext = True  # certificates are always verified
        if ep.ca_file:
            verify = ssl.create_default_context(cafile=ep.ca_file)
        timeout = httpx.Timeout(ep.timeout_s, connect=min(5.0, ep.timeout_s))
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        return httpx.Client(
            timeout=timeout,
            verify=verify,
            limits=limits,
            follow_redirects=False,
            headers={"user-agent": USER_AGENT},
        )


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)
