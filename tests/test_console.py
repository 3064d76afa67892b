"""The station console over real HTTP (uvicorn on loopback) beside a real receiver, on SQLite
and on a real PostgreSQL server: login, permissions, CSRF, the queue, actions and their
history, evidence, live updates (server-sent events) and patrol status reports."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from console.config import ConsoleConfig
from console.server import ConsoleServer
from station.model import Evidence
from station.receiver import Receiver
from station.status import status_message
from tests.console_support import (
    KEY,
    add_operator,
    deliver,
    login,
    new_database,
    postgres_cluster,
    report,
)
from tests.station_samples import sample_alert


@pytest.fixture(scope="module")
def pg_socket():
    with postgres_cluster() as socket_dir:
        yield socket_dir


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request, tmp_path):
    if request.param == "sqlite":
        return tmp_path / "station.sqlite"
    return new_database(request.getfixturevalue("pg_socket"))


class Station:
    def __init__(self, receiver: Receiver, console: ConsoleServer, target, evidence: Path) -> None:
        self.receiver, self.console, self.target, self.evidence = (
            receiver,
            console,
            target,
            evidence,
        )
        self.http = httpx.Client(timeout=10)


@pytest.fixture
def station(store_target, tmp_path):
    evidence = tmp_path / "evidence"
    evidence.mkdir()
    add_operator(store_target, "wang")
    add_operator(store_target, "li", role="viewer")
    config = ConsoleConfig(waters=(), evidence_dirs=(evidence,))
    with (
        Receiver(store_target, [KEY]) as receiver,
        ConsoleServer(store_target, config) as console,
    ):
        s = Station(receiver, console, store_target, evidence)
        yield s
        s.http.close()


def _alert(incident: str, **changes):
    return sample_alert(incident, **changes)


# -- who may see and do what --------------------------------------------------------------------


def test_nothing_is_visible_without_a_session(station) -> None:
    deliver(station.receiver, _alert("inc-1"))
    with httpx.Client(base_url=station.console.url, timeout=10) as anon:
        assert anon.get("/").status_code == 303  # to the login page
        assert anon.get("/").headers["location"] == "/login"
        for path in (
            "/api/queue",
            "/api/incidents/inc-1",
            "/api/map",
            "/api/vehicles",
            "/events",
            "/api/incidents/inc-1/export",
        ):
            resp = anon.get(path)
            assert resp.status_code == 401, path
            assert "inc-1" not in resp.text
        assert anon.get("/login").status_code == 200


def test_login_sets_a_strict_http_only_session_and_refuses_wrong_passwords(station) -> None:
    with httpx.Client(base_url=station.console.url, timeout=10) as c:
        page = c.get("/login")
        token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        bad = c.post("/login", data={"name": "wang", "password": "nope nope", "csrftoken": token})
        assert bad.status_code == 401
        assert "用户名或密码错误" in bad.text  # Chinese by default
        ok = c.post(
            "/login", data={"name": "wang", "password": "correct horse battery", "csrftoken": token}
        )
        assert ok.status_code == 303
        cookie = next(v for v in ok.headers.get_list("set-cookie") if v.startswith("wp_session="))
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
        assert "secure" not in cookie.lower()  # plain HTTP on loopback
        assert c.get("/api/queue").status_code == 200


def test_login_without_the_csrf_token_is_refused(station) -> None:
    with httpx.Client(base_url=station.console.url, timeout=10) as c:
        c.get("/login")  # the CSRF cookie is set, but the form field is missing
        resp = c.post("/login", data={"name": "wang", "password": "correct horse battery"})
        assert resp.status_code == 403
        assert c.get("/api/queue").status_code == 401


def test_login_attempts_are_rate_limited(station) -> None:
    with httpx.Client(base_url=station.console.url, timeout=10) as c:
        page = c.get("/login")
        token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
        codes = [
            c.post(
                "/login", data={"name": "wang", "password": f"guess {i}xx", "csrftoken": token}
            ).status_code
            for i in range(6)
        ]
        assert codes == [401] * 5 + [429]
        # even the right password waits now
        right = c.post(
            "/login", data={"name": "wang", "password": "correct horse battery", "csrftoken": token}
        )
        assert right.status_code == 429
        assert c.get("/api/queue").status_code == 401


def test_changes_need_the_csrf_header_and_the_dispatcher_role(station) -> None:
    deliver(station.receiver, _alert("inc-1"))
    wang = login(station.console.url, "wang")
    no_token = wang.post("/api/incidents/inc-1/actions", json={"action": "acknowledge"})
    assert no_token.status_code == 403
    viewer = login(station.console.url, "li")
    assert viewer.get("/api/queue").json()["total"] == 1  # a viewer sees
    refused = viewer.post(
        "/api/incidents/inc-1/actions",
        json={"action": "acknowledge"},
        headers={"x-csrftoken": viewer.csrf},
    )
    assert refused.status_code == 403
    ok = wang.post(
        "/api/incidents/inc-1/actions",
        json={"action": "acknowledge"},
        headers={"x-csrftoken": wang.csrf},
    )
    assert ok.status_code == 200 and ok.json()["user_name"] == "wang"


def test_a_removed_operator_is_logged_out(station) -> None:
    from console.store import ConsoleStore

    wang = login(station.console.url, "wang")
    assert wang.get("/api/queue").status_code == 200
    with ConsoleStore(station.target) as store:
        store.remove_user("wang")
    assert wang.get("/api/queue").status_code == 401


def test_english_on_request(station) -> None:
    wang = login(station.console.url, "wang")
    assert "水域巡逻指挥调度台" in wang.get("/").text
    assert wang.get("/lang/en").status_code == 303
    page = wang.get("/").text
    assert "Water patrol dispatch console" in page and '"lang": "en"' in page


# -- the queue ----------------------------------------------------------------------------------


def test_the_queue_lists_incidents_most_severe_then_newest(station) -> None:
    base = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    deliver(station.receiver, _alert("low", severity="low", sent_at=base))
    deliver(station.receiver, _alert("crit", type="distress", sent_at=base - timedelta(minutes=5)))
    deliver(station.receiver, _alert("high-old", sent_at=base - timedelta(minutes=9)))
    deliver(station.receiver, _alert("high-new", sent_at=base + timedelta(minutes=1)))
    wang = login(station.console.url, "wang")
    data = wang.get("/api/queue").json()
    assert [i["incident_id"] for i in data["items"]] == ["crit", "high-new", "high-old", "low"]
    first = data["items"][0]
    assert (first["type"], first["severity"], first["state"], first["water_name"]) == (
        "distress",
        "critical",
        "new",
        "西湖",
    )
    assert first["lat"] == pytest.approx(29.25) and first["confidence"] == pytest.approx(0.9)


def test_an_update_replaces_the_incident_row(station) -> None:
    first = _alert("inc-1", people=1)
    deliver(station.receiver, first)
    deliver(station.receiver, first.follow_up(people=3, lat=29.2501))
    wang = login(station.console.url, "wang")
    [row] = wang.get("/api/queue").json()["items"]
    assert (row["people"], row["status"], row["lat"]) == (3, "update", pytest.approx(29.2501))
    detail = wang.get("/api/incidents/inc-1").json()
    assert [a["status"] for a in detail["alerts"]] == ["open", "update"]


def test_the_queue_pages_and_searches(station) -> None:
    base = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
    with httpx.Client(timeout=10) as c:
        for i in range(60):
            deliver(
                station.receiver,
                _alert(
                    f"inc-{i:02d}",
                    type=("person_in_water", "gathering")[i % 2],
                    water_id=("xihu", "gqc-lake")[i % 3 == 0],
                    water_name=("West Lake", "Gongqing Lake")[i % 3 == 0],
                    sent_at=base + timedelta(minutes=i),
                ),
                c,
            )
    wang = login(station.console.url, "wang")
    page1 = wang.get("/api/queue", params={"per_page": 25}).json()
    page3 = wang.get("/api/queue", params={"per_page": 25, "page": 3}).json()
    assert (page1["total"], page1["pages"], len(page1["items"]), len(page3["items"])) == (
        60,
        3,
        25,
        10,
    )
    gathering = wang.get("/api/queue", params={"type": "gathering"}).json()
    assert gathering["total"] == 30
    assert {i["type"] for i in gathering["items"]} == {"gathering"}
    lake = wang.get("/api/queue", params={"water": "gongqing"}).json()
    assert lake["total"] == 20 and {i["water_id"] for i in lake["items"]} == {"gqc-lake"}
    window = wang.get(
        "/api/queue",
        params={"since": "2025-06-01T08:10:00Z", "until": "2025-06-01T08:20:00Z"},
    ).json()
    assert window["total"] == 10
    wang.post(
        "/api/incidents/inc-05/actions",
        json={"action": "close", "outcome": "false_alarm"},
        headers={"x-csrftoken": wang.csrf},
    )
    assert wang.get("/api/queue").json()["total"] == 59  # closed ones leave the active queue
    closed = wang.get("/api/queue", params={"state": "closed"}).json()
    assert [i["incident_id"] for i in closed["items"]] == ["inc-05"]
    assert wang.get("/api/queue", params={"state": "bogus"}).status_code == 400


# -- handling an incident -----------------------------------------------------------------------


def test_acknowledge_assign_the_nearest_unit_and_close_with_history(station) -> None:
    from console.store import ConsoleStore

    with ConsoleStore(station.target) as store:
        store.set_unit("far", "Far station", "station", 29.30, 115.78)  # ~5.6 km
        store.set_unit("near", "Team 3", "team", 29.251, 115.781)  # ~145 m
    deliver(station.receiver, _alert("inc-1"))
    wang = login(station.console.url, "wang")
    detail = wang.get("/api/incidents/inc-1").json()
    assert [u["id"] for u in detail["units"]] == ["near", "far"]
    assert detail["units"][0]["distance_m"] == pytest.approx(145, abs=5)

    def act(**body):
        return wang.post(
            "/api/incidents/inc-1/actions", json=body, headers={"x-csrftoken": wang.csrf}
        )

    assert act(action="acknowledge").status_code == 200
    assert act(action="acknowledge").status_code == 409  # once
    assert act(action="assign", unit_id="nowhere").status_code == 409
    assert act(action="assign", unit_id="near", note="boat from the north pier").status_code == 200
    assert act(action="close", outcome="eaten").status_code == 409
    assert act(action="close", outcome="rescued", note="one adult, conscious").status_code == 200
    assert act(action="assign", unit_id="far").status_code == 409  # closed
    detail = wang.get("/api/incidents/inc-1").json()
    assert (detail["state"], detail["unit_id"], detail["outcome"]) == ("closed", "near", "rescued")
    history = [(h["action"], h["user_name"], h["unit_id"], h["note"]) for h in detail["history"]]
    assert history == [
        ("acknowledge", "wang", None, None),
        ("assign", "wang", "near", "boat from the north pier"),
        ("close", "wang", None, "one adult, conscious"),
    ]
    assert all(time.time() - 60 < h["at"] <= time.time() for h in detail["history"])
    export = wang.get("/api/incidents/inc-1/export")
    assert "attachment" in export.headers["content-disposition"]
    doc = export.json()
    assert [h["action"] for h in doc["history"]] == ["acknowledge", "assign", "close"]
    assert json.loads(doc["alerts"][0]["document"])["incident_id"] == "inc-1"


def test_the_cli_manages_operators_and_units_and_exports(station, monkeypatch, capsys) -> None:
    from mission.cli import run

    db = str(station.target)
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("a long enough pw\n"))
    add = ["station", "users", "add", "zhao", "--role", "viewer", "--password-stdin", "--db", db]
    assert run(add) == 0
    assert run(["station", "users", "add", "x", "--role", "boss", "--db", db]) == 2
    assert "--role" in capsys.readouterr().err
    unit = ["station", "units", "set", "t1", "--lat", "29.25", "--lon", "115.78", "--db", db]
    assert run(unit) == 0
    assert run([*unit[:4], "--lat", "95", "--lon", "1", "--db", db]) == 1
    capsys.readouterr()
    assert run(["station", "users", "list", "--json", "--db", db]) == 0
    users = json.loads(capsys.readouterr().out)
    assert {"name": "zhao", "role": "viewer"} in users
    login(station.console.url, "zhao", "a long enough pw").close()
    deliver(station.receiver, _alert("inc-9"))
    wang = login(station.console.url, "wang")
    wang.post(
        "/api/incidents/inc-9/actions",
        json={"action": "assign", "unit_id": "t1", "note": "go"},
        headers={"x-csrftoken": wang.csrf},
    )
    capsys.readouterr()
    assert run(["station", "export", "inc-9", "--db", db]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(h["action"], h["user_name"], h["unit_id"]) for h in doc["history"]] == [
        ("assign", "wang", "t1")
    ]


def test_evidence_is_served_only_when_it_matches_the_alerts_digest(station, tmp_path) -> None:
    image = station.evidence / "frame-0001.jpg"
    image.write_bytes(b"\xff\xd8\xff\xe0 a tiny jpeg stand-in \xff\xd9")
    evidence = Evidence(
        path="/vehicle/out/frame-0001.jpg",  # where the vehicle saved it, not on this machine
        size_bytes=image.stat().st_size,
        sha256=hashlib.sha256(image.read_bytes()).hexdigest(),
    )
    a = _alert("inc-1", evidence=evidence)
    deliver(station.receiver, a)
    wang = login(station.console.url, "wang")
    resp = wang.get(f"/api/alerts/{a.id}/evidence")
    assert resp.status_code == 200 and resp.content == image.read_bytes()
    image.write_bytes(b"something else entirely")
    assert wang.get(f"/api/alerts/{a.id}/evidence").status_code == 404


# -- live updates -------------------------------------------------------------------------------


class SseReader:
    """Reads a server-sent event stream in a thread; ``events`` collects (id, kind, data)."""

    def __init__(self, client: httpx.Client, url: str, headers: dict[str, str] | None = None):
        self.events: list[tuple[str | None, str, dict]] = []
        self.opened = threading.Event()
        self._client, self._url, self._headers = client, url, headers or {}
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self.opened.wait(10)

    def _run(self) -> None:
        try:
            with self._client.stream("GET", self._url, headers=self._headers) as resp:
                self.status = resp.status_code
                self.opened.set()
                event_id, kind = None, "message"
                for line in resp.iter_lines():
                    if line.startswith("id: "):
                        event_id = line[4:]
                    elif line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        self.events.append((event_id, kind, json.loads(line[6:])))
                    elif not line:
                        event_id, kind = None, "message"
        except httpx.HTTPError:
            self.opened.set()

    def wait_for(self, predicate, timeout: float = 5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in self.events:
                if predicate(e):
                    return e
            time.sleep(0.01)
        raise AssertionError(f"no matching event in {timeout} s: {self.events[-5:]}")


def test_a_stored_alert_reaches_every_open_console_within_a_second(station) -> None:
    wang = login(station.console.url, "wang")
    li = login(station.console.url, "li")
    readers = [SseReader(c, "/events") for c in (wang, li)]
    time.sleep(0.3)
    t0 = time.monotonic()
    deliver(station.receiver, _alert("inc-live", type="distress"))
    for r in readers:
        _, _, data = r.wait_for(lambda e: e[1] == "alert", timeout=2.0)
        assert data["incident"]["incident_id"] == "inc-live"
        assert data["incident"]["severity"] == "critical"
    assert time.monotonic() - t0 < 1.0


def test_a_reconnecting_console_catches_up_with_last_event_id(station) -> None:
    wang = login(station.console.url, "wang")
    deliver(station.receiver, _alert("inc-a"))
    last = wang.get("/api/queue").json()["last_event_id"]
    deliver(station.receiver, _alert("inc-b"))
    wang.post(
        "/api/incidents/inc-a/actions",
        json={"action": "acknowledge"},
        headers={"x-csrftoken": wang.csrf},
    )
    reader = SseReader(wang, "/events", headers={"last-event-id": str(last)})
    reader.wait_for(lambda e: e[1] == "action")
    got = [(k, d["incident"]["incident_id"]) for _, k, d in reader.events if k != "vehicle"]
    assert got == [("alert", "inc-b"), ("action", "inc-a")]
    assert [int(i) for i, k, _ in reader.events if i] == sorted(
        int(i) for i, k, _ in reader.events if i
    )


# -- patrols report in --------------------------------------------------------------------------


def test_status_reports_draw_each_drone_and_its_track(station) -> None:
    wang = login(station.console.url, "wang")
    reader = SseReader(wang, "/events")
    for i in range(3):
        for vehicle in ("uav-1", "uav-2"):
            resp = report(
                station.receiver,
                station.http,
                vehicle_id=vehicle,
                lat=29.23 + i * 0.001,
                lon=115.77 + (vehicle == "uav-2") * 0.01,
                heading_deg=90.0,
                battery_pct=80.0 - i,
                mode="AUTO",
                sortie=1,
                sorties=2,
                video="ok",
                detector_fps=4.5,
            )
            assert resp.status_code == 200, resp.text
    vehicles = {v["vehicle_id"]: v for v in wang.get("/api/vehicles").json()}
    assert set(vehicles) == {"uav-1", "uav-2"}
    one = vehicles["uav-1"]
    assert [p[0] for p in one["track"]] == pytest.approx([29.23, 29.231, 29.232])
    assert (one["battery_pct"], one["mode"], one["sortie"], one["video"]) == (78.0, "AUTO", 1, "ok")
    reader.wait_for(lambda e: e[1] == "vehicle" and e[2]["vehicle_id"] == "uav-2")


def test_the_receiver_refuses_bad_status_reports(station) -> None:
    good = status_message(vehicle_id="uav-1", mission_id="m-1", water_id="w", lat=29.0, lon=115.0)
    for change, field in (
        ({"lat": 95.0}, "lat"),
        ({"lon": None}, "lat"),
        ({"link": "great"}, "link"),
        ({"vehicle_id": "has space"}, "vehicle_id"),
        ({"kind": "alert"}, "kind"),
    ):
        bad = report(station.receiver, station.http, raw={**good, **change})
        assert bad.status_code == 400 and field in bad.json()["error"], (change, bad.text)
    url = station.receiver.url.replace("/alerts", "/status")
    unsigned = station.http.post(url, json={"kind": "status"})
    assert unsigned.status_code == 400
    body = json.dumps({"kind": "status", "vehicle_id": "uav-1"}).encode()
    from station.signing import signed_headers

    wrong_key = signed_headers(b"x" * 32, "st-1", body)
    resp = station.http.post(
        url, content=body, headers={**wrong_key, "content-type": "application/json"}
    )
    assert resp.status_code == 401
    assert login(station.console.url, "wang").get("/api/vehicles").json() == []


def test_two_console_processes_on_one_store_see_each_others_changes(station) -> None:
    """Several consoles behind a proxy share one store: a change made in one reaches pages
    open on the other (the PostgreSQL case is the command centre)."""
    with ConsoleServer(station.target, ConsoleConfig(waters=())) as other:
        watcher = SseReader(login(other.url, "li"), "/events")
        time.sleep(0.3)
        deliver(station.receiver, _alert("inc-shared"))
        watcher.wait_for(lambda e: e[1] == "alert", timeout=3.0)
        wang = login(station.console.url, "wang")
        wang.post(
            "/api/incidents/inc-shared/actions",
            json={"action": "acknowledge"},
            headers={"x-csrftoken": wang.csrf},
        )
        _, _, data = watcher.wait_for(lambda e: e[1] == "action", timeout=3.0)
        assert data["action"]["user_name"] == "wang"
        assert data["incident"]["state"] == "acknowledged"


def test_cookies_are_secure_under_tls(store_target) -> None:
    """The app as served over TLS (in-process ASGI client on an https URL)."""
    import asyncio

    from console.app import create_app
    from console.store import ConsoleStore

    add_operator(store_target, "wang")

    async def log_in(app) -> tuple[str, list[str]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://station.test") as c:
            page = await c.get("/login")
            token = page.text.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
            resp = await c.post(
                "/login",
                data={"name": "wang", "password": "correct horse battery", "csrftoken": token},
            )
            return page.headers["set-cookie"], resp.headers.get_list("set-cookie")

    with ConsoleStore(store_target) as store:
        csrf_cookie, cookies = asyncio.run(log_in(create_app(store, secure=True)))
    assert "secure" in csrf_cookie.lower()
    session = next(v for v in cookies if "wp_session=" in v)
    assert {"secure", "httponly", "samesite=strict"} <= {
        part.strip().lower() for part in session.split(";")
    }


def test_alerts_stored_before_the_console_join_the_queue(tmp_path) -> None:
    """A station store from before the console: its alerts are indexed when the receiver
    starts, CAP messages included."""
    import sqlite3

    from station.cap import to_cap_xml

    target = tmp_path / "station.sqlite"
    with Receiver(target, [KEY]) as receiver:
        deliver(receiver, _alert("old-json"))
        cap = _alert("old-cap", severity="critical")
        body = to_cap_xml(cap).encode()
        from station.signing import signed_headers

        headers = {**signed_headers(KEY, cap.id, body), "content-type": "application/cap+xml"}
        assert httpx.post(receiver.url, content=body, headers=headers).status_code == 200
    with sqlite3.connect(target) as db:  # as an older station left it
        db.execute("DELETE FROM alerts")
        db.execute("DELETE FROM events")
    with Receiver(target, [KEY]):
        pass
    from console.store import ConsoleStore, QueueQuery

    with ConsoleStore(target) as store:
        items, total = store.queue(QueueQuery())
    assert total == 2
    by_id = {i["incident_id"]: i for i in items}
    assert by_id["old-cap"]["severity"] == "critical"
    assert by_id["old-cap"]["lat"] == pytest.approx(29.25)
    assert by_id["old-cap"]["radius_m"] == pytest.approx(5.0)
    assert by_id["old-json"]["water_name"] == "西湖"
