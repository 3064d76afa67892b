"""Standard Webhooks signatures: the specification's published vector, and every refusal."""

from __future__ import annotations

import pytest

from station.errors import SecretError, SignatureError
from station.signing import (
    generate_secret,
    parse_secret,
    secret_from_env,
    sign,
    signed_headers,
    verify,
)

# The test vector published with the Standard Webhooks specification (and Svix's libraries).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TS = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def headers(sig: str = VECTOR_SIG, ts: int = VECTOR_TS, msg_id: str = VECTOR_ID) -> dict[str, str]:
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sig}


def test_signature_matches_the_specification_vector() -> None:
    assert sign(parse_secret(VECTOR_SECRET), VECTOR_ID, VECTOR_TS, VECTOR_BODY) == VECTOR_SIG


def test_verify_accepts_the_vector_and_rotated_keys() -> None:
    key = parse_secret(VECTOR_SECRET)
    assert verify([key], headers(), VECTOR_BODY, now=VECTOR_TS + 10) == VECTOR_ID
    other = parse_secret(generate_secret())
    # several signatures in one header (sender rotating) and several keys (receiver rotating)
    both = f"{sign(other, VECTOR_ID, VECTOR_TS, VECTOR_BODY)} {VECTOR_SIG}"
    assert verify([key], headers(both), VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID
    assert verify([other, key], headers(), VECTOR_BODY, now=VECTOR_TS) == VECTOR_ID


@pytest.mark.parametrize(
    ("hdrs", "body", "now", "match"),
    [
        (headers(), VECTOR_BODY + b" ", VECTOR_TS, "does not match"),  # altered body
        (headers(msg_id="msg_other"), VECTOR_BODY, VECTOR_TS, "does not match"),  # id is signed
        (headers(ts=VECTOR_TS + 1), VECTOR_BODY, VECTOR_TS, "does not match"),  # time is signed
        (headers(sig="v1,AAAA"), VECTOR_BODY, VECTOR_TS, "does not match"),
        (headers(sig="v2," + VECTOR_SIG[3:]), VECTOR_BODY, VECTOR_TS, "does not match"),
        (headers(), VECTOR_BODY, VECTOR_TS + 301, "stale or replayed"),
        (headers(), VECTOR_BODY, VECTOR_TS - 301, "stale or replayed"),
        ({"webhook-id": VECTOR_ID}, VECTOR_BODY, VECTOR_TS, "missing"),
        (headers() | {"webhook-timestamp": "soon"}, VECTOR_BODY, VECTOR_TS, "integer"),
    ],
)
def test_verify_refuses(hdrs, body, now, match) -> None:
    with pytest.raises(SignatureError, match=match):
        verify([parse_secret(VECTOR_SECRET)], hdrs, body, now=now)


def test_signed_headers_verify_round_trip() -> None:
    key = parse_secret(generate_secret())
    h = signed_headers(key, "01J0ABC", b"{}")
    assert verify([key], h, b"{}") == "01J0ABC"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "must start with 'whsec_'"),
        ("whsec_not base64!", "not valid base64"),
        ("whsec_c2hvcnQ=", "at least 16"),
    ],
)
def test_bad_secrets_say_what_to_fix(text: str, match: str) -> None:
    with pytest.raises(SecretError, match=match):
        parse_secret(text)


def test_secret_from_env(monkeypatch) -> None:
    monkeypatch.delenv("WP_TEST_SECRET", raising=False)
    with pytest.raises(SecretError, match="WP_TEST_SECRET is not set"):
        secret_from_env("WP_TEST_SECRET")
    monkeypatch.setenv("WP_TEST_SECRET", "nope")
    with pytest.raises(SecretError, match="environment variable WP_TEST_SECRET"):
        secret_from_env("WP_TEST_SECRET")
    monkeypatch.setenv("WP_TEST_SECRET", VECTOR_SECRET)
    assert secret_from_env("WP_TEST_SECRET") == parse_secret(VECTOR_SECRET)
