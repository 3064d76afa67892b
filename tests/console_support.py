"""Helpers for the console tests: a throwaway PostgreSQL server, a logged-in HTTP client,
signed alerts and status reports sent to a real receiver."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console.auth import hash_password
from console.store import ConsoleStore
from station.model import Alert
from station.receiver import Receiver
from station.signing import generate_secret, parse_secret, signed_headers
from station.status import status_message

SECRET = generate_secret()
KEY = parse_secret(SECRET)
PASSWORD = "correct horse battery"


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A PostgreSQL server of its own under a temp folder, on a Unix socket only; yields its
    socket folder. Debian's ``postgresql`` package (scripts/dev setup installs it). As root the
    server runs as the ``postgres`` user (initdb refuses root)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (initdb/pg_ctl): run scripts/dev setup")
    tmp = tempfile.mkdtemp(prefix="wp-pg-")
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(tmp, "data")
    try:
        subprocess.run(
            [
                *run_as,
                initdb,
                "-D",
                data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *run_as,
                pg_ctl,
                "-D",
                data,
                "-l",
                os.path.join(tmp, "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-k {tmp} -c listen_addresses='' -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except subprocess.CalledProcessError as exc:
        log = Path(tmp, "log")
        detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {exc.stderr!r} {detail}") from None
    try:
        yield tmp
    finally:
        subprocess.run(
            [*run_as, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(tmp, ignore_errors=True)


def new_database(socket_dir: str) -> str:
    """A fresh database on the cluster; returns its URL."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        f"postgresql://postgres@/postgres?host={socket_dir}", autocommit=True
    ) as c:
        c.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@/{name}?host={socket_dir}"


_PASSWORD_HASH: list[str] = []


def add_operator(target: str | Path, name: str, role: str = "dispatcher") -> None:
    """An operator with PASSWORD (hashed once per run: argon2 is slow on purpose)."""
    if not _PASSWORD_HASH:
        _PASSWORD_HASH.append(hash_password(PASSWORD))
    with ConsoleStore(target) as store:
        store.add_user(name, role, _PASSWORD_HASH[0])


def login(base_url: str, name: str, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client holding a session (and the CSRF token in ``client.csrf``)."""
    client = httpx.Client(base_url=base_url, timeout=10, follow_redirects=False)
    page = client.get("/login")
    token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    resp = client.post("/login", data={"name": name, "password": password, "csrftoken": token})
    assert resp.status_code == 303, resp.text
    client.csrf = token  # type: ignore[attr-defined]
    return client


def deliver(receiver: Receiver, alert: Alert, client: httpx.Client | None = None) -> None:
    body = alert.to_json()
    headers = {**signed_headers(KEY, alert.id, body), "content-type": "application/json"}
    with contextlib.ExitStack() as stack:
        c = client or stack.enter_context(httpx.Client(timeout=10))
        resp = c.post(receiver.url, content=body, headers=headers)
    assert resp.status_code == 200, resp.text


def report(
    receiver: Receiver, client: httpx.Client, raw: dict | None = None, **fields: object
) -> httpx.Response:
    """POST a signed status report: ``raw`` as given, else one built from ``fields``."""
    doc = raw or status_message(
        **{"vehicle_id": "uav-1", "mission_id": "m-1", "water_id": "gqc-lake", **fields}  # type: ignore[arg-type]
    )
    body = json.dumps(doc).encode()
    headers = {**signed_headers(KEY, f"st-{uuid.uuid4().hex}", body)}
    headers["content-type"] = "application/json"
    return client.post(receiver.url.replace("/alerts", "/status"), content=body, headers=headers)
