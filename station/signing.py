"""Standard Webhooks signing and verification (https://www.standardwebhooks.com/).

The signed content is ``"{webhook-id}.{webhook-timestamp}.{body}"``; the
signature header is ``v1,<base64 HMAC-SHA256>`` (several, space-separated,
during a key rotation). Secrets are ``whsec_`` + base64 of the key bytes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping, Sequence

from station.errors import SecretError, SignatureError

SECRET_PREFIX = "whsec_"
DEFAULT_SECRET_ENV = "WATERPATROL_WEBHOOK_SECRET"
TOLERANCE_S = 300  # accepted clock difference between sender and receiver


def generate_secret() -> str:
    """A fresh ``whsec_`` secret (32 random bytes)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def parse_secret(text: str, source: str = "secret") -> bytes:
    """The key bytes of a ``whsec_<base64>`` secret; ``source`` names where it came from."""
    text = text.strip()
    if not text.startswith(SECRET_PREFIX):
        raise SecretError(
            f"{source}: must start with {SECRET_PREFIX!r} (generate one with "
            "`python -c 'import station; print(station.generate_secret())'`)"
        )
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise SecretError(
            f"{source}: the part after {SECRET_PREFIX!r} is not valid base64"
        ) from None
    if len(key) < 16:
        raise SecretError(
            f"{source}: the key is {len(key)} bytes; use at least 16 (24+ recommended)"
        )
    return key


def secret_from_env(name: str = DEFAULT_SECRET_ENV) -> bytes:
    value = os.environ.get(name)
    if not value:
        raise SecretError(f"environment variable {name} is not set; set it to a whsec_ secret")
    return parse_secret(value, f"environment variable {name}")


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one request."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signed_headers(
    key: bytes, msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": sign(key, msg_id, ts, body),
    }


def verify(
    keys: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> str:
    """Check a request's Standard Webhooks headers; returns the webhook-id or raises SignatureError.

    ``headers`` must be looked up case-insensitively (http.client / httpx headers are).
    """
    msg_id = headers.get("webhook-id")
    ts_text = headers.get("webhook-timestamp")
    sig_header = headers.get("webhook-signature")
    if not msg_id or not ts_text or not sig_header:
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature header")
    try:
        ts = int(ts_text)
    except ValueError:
        raise SignatureError(f"webhook-timestamp {ts_text!r} is not integer seconds") from None
    now = time.time() if now is None else now
    if abs(now - ts) > tolerance_s:
        raise SignatureError(
            f"webhook-timestamp is {now - ts:+.0f} s from now (tolerance {tolerance_s} s): "
            "stale or replayed request, or a clock is wrong"
        )
    candidates = [
        part[3:].encode("ascii", "replace")
        for part in sig_header.split(" ")
        if part.startswith("v1,")
    ]
    for key in keys:
        expected = sign(key, msg_id, ts, body)[3:].encode("ascii")
        # compare every candidate: constant time per comparison, no early exit on a prefix
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return msg_id
    raise SignatureError("webhook-signature does not match (wrong secret or altered body)")
