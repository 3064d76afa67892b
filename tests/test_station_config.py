"""station.yaml loading: good files, and errors that name the file and the field."""

from __future__ import annotations

import pytest

from station.config import Endpoint, RetryPolicy, default_outbox_path, load_config
from station.errors import ConfigError


def write(tmp_path, text: str):
    p = tmp_path / "station.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_a_full_config(tmp_path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    cfg = load_config(
        write(
            tmp_path,
            f"""
endpoints:
  - url: https://dispatch.example/hooks/waterpatrol
  - url: http://10.0.0.5:8088/alerts
    name: station-pc
    format: cap
    secret_env: STATION_PC_SECRET
    ca_file: {ca}
    timeout_s: 3
retry:
  base_delay_s: 2
  client_error_attempts: 2
""",
        )
    )
    first, second = cfg.endpoints
    assert first == Endpoint("https://dispatch.example/hooks/waterpatrol")
    assert first.name == first.url and first.format == "json"
    assert (second.name, second.format, second.secret_env, second.timeout_s) == (
        "station-pc",
        "cap",
        "STATION_PC_SECRET",
        3,
    )
    assert cfg.retry == RetryPolicy(base_delay_s=2, client_error_attempts=2)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("endpoints: []", r"station\.yaml: endpoints: must be a non-empty list"),
        ("- url: x", "expected a mapping"),
        ("endpoints:\n  - url: ftp://x/y", r"endpoints\[0\]\.url: 'ftp://x/y' is not an http"),
        ("endpoints:\n  - url: https://a/b\n    format: xml", r"endpoints\[0\]\.format: 'xml'"),
        ("endpoints:\n  - url: https://a/b\n    secret: s", r"endpoints\[0\]\.secret: unknown key"),
        ("endpoints:\n  - url: https://a/b\n    secret_env: 'A B'", "secret_env"),
        ("endpoints:\n  - url: https://a/b\n    timeout_s: 0", "timeout_s"),
        (
            "endpoints:\n  - url: https://a/b\n    ca_file: /nope.pem",
            "ca_file: /nope.pem does not exist",
        ),
        (
            "endpoints:\n  - {url: 'https://a/b'}\n  - {url: 'https://a/b'}",
            r"endpoints\[1\]\.name: .* twice",
        ),
        ("endpoints:\n  - url: https://a/b\nretry:\n  base_delay_s: -1", r"retry\.base_delay_s"),
        ("endpoints:\n  - url: https://a/b\nretry:\n  client_error_attempts: 0", "at least 1"),
        ("endpoints:\n  - url: https://a/b\ndispatch: 1", "dispatch: unknown key"),
        ("endpoints: [", "not valid YAML"),
    ],
)
def test_bad_configs_name_file_and_field(tmp_path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        load_config(write(tmp_path, text))
    assert str(err.value).startswith(str(tmp_path / "station.yaml"))


def test_a_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    p = RetryPolicy(base_delay_s=1, max_delay_s=10)
    assert [p.backoff_s(n, 0.0) for n in (1, 2, 3, 4, 5, 6)] == [0.5, 1, 2, 4, 5, 5]
    assert [p.backoff_s(n, 0.999) for n in (1, 3, 9)] == pytest.approx([1, 4, 10], rel=1e-3)


def test_databases_live_under_waterpatrol_home(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("WATERPATROL_HOME", str(tmp_path))
    assert default_outbox_path() == tmp_path / "outbox.sqlite"
    monkeypatch.delenv("WATERPATROL_HOME")
    monkeypatch.chdir(tmp_path)
    assert default_outbox_path() == tmp_path / "var" / "outbox.sqlite"
