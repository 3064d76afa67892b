"""The station console: a Starlette app over the station store.

Pages: ``/login`` and ``/`` (the live map and the alert queue). The page's script reads the
JSON views under ``/api/`` and follows ``/events`` (server-sent events). Every view asks
:func:`require` for the permission it needs (console.auth.PERMISSIONS); nothing but the login
page, its assets and ``/healthz`` answers without a session. CSRF protection on every
non-GET request comes from asgi-csrf, wrapped around the whole app.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from asgi_csrf import asgi_csrf
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from console.auth import LoginLimiter, allowed, check_password
from console.config import ConsoleConfig
from console.live import Broadcaster
from console.mapdata import default_water_paths, water_features
from console.messages import LANGUAGES, catalogue, pick_language
from console.store import (
    OUTCOMES,
    STATES,
    ConsoleError,
    ConsoleStore,
    NotFound,
    QueueQuery,
    User,
)

HERE = Path(__file__).parent
LEAFLET_DIR = HERE / "node_modules" / "leaflet" / "dist"
SESSION_COOKIE = "wp_session"
SESSION_MAX_AGE_S = 12 * 3600  # one shift
ALERT_TYPES = ("person_in_water", "distress", "gathering")

templates = Jinja2Templates(directory=HERE / "templates")


@dataclass
class Console:
    """What the views share: the store, settings, and per-process state."""

    store: ConsoleStore
    config: ConsoleConfig
    secure: bool
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    map_cache: dict[str, Any] | None = None
    evidence_ok: dict[tuple[str, float, int], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.live = Broadcaster(self.store)
        self._map_lock = threading.Lock()

    def map(self) -> dict[str, Any]:
        """The key waters with their plans, planned once (a few seconds with the imports)."""
        with self._map_lock:
            if self.map_cache is None:
                paths = self.config.waters
                self.map_cache = water_features(default_water_paths() if paths is None else paths)
            return self.map_cache


def create_app(
    store: ConsoleStore,
    config: ConsoleConfig | None = None,
    *,
    secure: bool = False,
    limiter: LoginLimiter | None = None,
) -> SecurityHeaders:
    """The console as an ASGI app. ``secure``: served over TLS (cookies get ``Secure``)."""
    console = Console(store, config or ConsoleConfig(), secure, limiter or LoginLimiter())
    secret = store.session_secret()

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await console.live.start()
        warm = asyncio.create_task(run_in_threadpool(console.map))  # before the first page asks
        try:
            yield
        finally:
            await console.live.stop()
            with contextlib.suppress(Exception):
                await warm

    routes = [
        Route("/healthz", lambda _r: JSONResponse({"ok": True})),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang/{lang}", set_language),
        Route("/", home),
        Route("/api/queue", api_queue),
        Route("/api/incidents/{incident_id}", api_incident),
        Route("/api/incidents/{incident_id}/actions", api_act, methods=["POST"]),
        Route("/api/incidents/{incident_id}/export", api_export),
        Route("/api/alerts/{alert_id}/evidence", api_evidence),
        Route("/api/map", api_map),
        Route("/api/vehicles", api_vehicles),
        Route("/events", events),
        Mount("/static/leaflet", StaticFiles(directory=LEAFLET_DIR, check_dir=False)),
        Mount("/static", StaticFiles(directory=HERE / "static")),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(
                SessionMiddleware,
                secret_key=secret,
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_MAX_AGE_S,
                same_site="strict",
                https_only=secure,
            )
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.state.console = console
    protected = asgi_csrf(
        app,
        signing_secret=secret,
        cookie_secure=secure,
        cookie_samesite="Strict",
    )
    return SecurityHeaders(protected, console)


class SecurityHeaders:
    """Headers on every answer: no framing, no sniffing, scripts only from the console.
    The outermost layer of the console app; ``console`` is the views' shared state."""

    def __init__(self, app: ASGIApp, console: Console) -> None:
        self.app = app
        self.console = console
        tile_url = console.config.tile_url
        tiles = urlsplit(tile_url.replace("{s}", "a")).netloc if tile_url.startswith("http") else ""
        img = "'self' data:" + (f" https://{tiles} http://{tiles}" if tiles else "")
        self.headers = [
            (
                b"content-security-policy",
                (
                    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';"
                    f" img-src {img}; connect-src 'self'; media-src 'self' data:;"
                    " frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
                ).encode(),
            ),
            (b"x-frame-options", b"DENY"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


# -- who is asking -------------------------------------------------------------------------


def _console(request: Request) -> Console:
    return request.app.state.console


def _stamp(password_hash: str) -> str:
    """Ties a session to the password it was opened with: a new password ends old sessions."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def current_user(request: Request) -> User | None:
    name = request.session.get("user")
    if not isinstance(name, str):
        return None
    user = _console(request).store.user(name)
    if user is None or request.session.get("stamp") != _stamp(user.password_hash):
        return None
    return user


def require(request: Request, permission: str) -> User:
    """The one permission check: 401 without a session, 403 without the permission."""
    user = current_user(request)
    if user is None:
        raise HTTPException(401, "log in first")
    if not allowed(user.role, permission):
        raise HTTPException(403, f"role {user.role} may not {permission}")
    return user


def language(request: Request) -> str:
    return pick_language(request.cookies.get("lang"))


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 401 and not request.url.path.startswith(("/api/", "/events")):
        return RedirectResponse("/login", 303)
    return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)


def _page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    lang = language(request)
    words = catalogue(lang)
    return templates.TemplateResponse(
        request,
        name,
        {
            "t": lambda key, **kw: words.get(key, key).format(**kw),
            "lang": lang,
            "other_lang": LANGUAGES[1 - LANGUAGES.index(lang)],
            "csrftoken": request.scope["csrftoken"](),
            **context,
        },
        status_code=status,
        headers={"cache-control": "no-store"},
    )


# -- login ---------------------------------------------------------------------------------


def login_page(request: Request) -> Response:
    if current_user(request) is not None:
        return RedirectResponse("/", 303)
    return _page(request, "login.html", error="")


async def login(request: Request) -> Response:
    console = _console(request)
    form = await request.form()
    name = str(form.get("name") or "").strip()
    password = str(form.get("password") or "")
    address = request.client.host if request.client else "-"
    wait = console.limiter.retry_after(name, address)
    words = catalogue(language(request))
    if wait > 0:
        message = words["login_limited"].format(s=int(wait) + 1)
        return _page(
            request,
            "login.html",
            429,
            error=message,
            retry_after=int(wait) + 1,
        )
    user = await run_in_threadpool(console.store.user, name) if name else None
    ok = await run_in_threadpool(check_password, user.password_hash if user else None, password)
    if user is None or not ok:
        console.limiter.failed(name, address)
        return _page(request, "login.html", 401, error=words["login_failed"])
    console.limiter.succeeded(name)
    request.session.clear()
    request.session.update(user=user.name, stamp=_stamp(user.password_hash), at=time.time())
    return RedirectResponse("/", 303)


def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", 303)


def set_language(request: Request) -> Response:
    lang = request.path_params["lang"]
    if lang not in LANGUAGES:
        raise HTTPException(404, f"no language {lang!r}: use {' or '.join(LANGUAGES)}")
    back = "/" if current_user(request) else "/login"
    response = RedirectResponse(back, 303)
    response.set_cookie(
        "lang",
        lang,
        max_age=365 * 86400,
        samesite="strict",
        secure=_console(request).secure,
        httponly=True,
    )
    return response


# -- the console page and its data ---------------------------------------------------------


def home(request: Request) -> Response:
    user = require(request, "view")
    console = _console(request)
    lang = language(request)
    boot = {
        "user": user.name,
        "role": user.role,
        "can_act": allowed(user.role, "act"),
        "lang": lang,
        "messages": catalogue(lang),
        "types": ALERT_TYPES,
        "states": STATES,
        "outcomes": OUTCOMES,
        "tile_url": console.config.tile_url,
        "tile_attribution": console.config.tile_attribution,
    }
    return _page(
        request,
        "console.html",
        user=user,
        boot=json.dumps(boot, ensure_ascii=False).replace("</", "<\\/"),
        types=ALERT_TYPES,
        states=STATES,
        outcomes=OUTCOMES,
        can_act=boot["can_act"],
    )


def _int(value: str | None, default: int, lo: int, hi: int) -> int:
    try:
        return min(hi, max(lo, int(value or default)))
    except ValueError:
        raise HTTPException(400, f"expected a whole number, got {value!r}") from None


def api_queue(request: Request) -> Response:
    require(request, "view")
    p = request.query_params
    state = p.get("state", "active")
    if state not in ("", "active", *STATES):
        raise HTTPException(400, f"state {state!r}: use active, {', '.join(STATES)} or nothing")
    kind = p.get("type", "")
    if kind and kind not in ALERT_TYPES:
        raise HTTPException(400, f"type {kind!r}: use one of {', '.join(ALERT_TYPES)}")
    q = QueueQuery(
        water=p.get("water", "").strip(),
        type=kind,
        state=state,
        since=p.get("since", "").strip(),
        until=p.get("until", "").strip(),
        page=_int(p.get("page"), 1, 1, 1_000_000),
        per_page=_int(p.get("per_page"), 50, 1, 200),
    )
    store = _console(request).store
    last = store.last_event_id()  # before the query: an event after it is still delivered
    items, total = store.queue(q)
    return JSONResponse(
        {
            "items": items,
            "total": total,
            "page": q.page,
            "pages": max(1, -(-total // q.per_page)),
            "last_event_id": last,
        }
    )


def api_incident(request: Request) -> Response:
    require(request, "view")
    try:
        detail = _console(request).store.incident_detail(request.path_params["incident_id"])
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return JSONResponse(detail)


async def api_act(request: Request) -> Response:
    user = require(request, "act")
    try:
        body = await request.json()
    except ValueError:
        raise HTTPException(400, "send a JSON object: {action, unit_id, note, outcome}") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "send a JSON object: {action, unit_id, note, outcome}")
    store = _console(request).store
    try:
        action = await run_in_threadpool(
            lambda: store.act(
                request.path_params["incident_id"],
                user.name,
                str(body.get("action") or ""),
                unit_id=body.get("unit_id") or None,
                note=str(body.get("note") or ""),
                outcome=body.get("outcome") or None,
            )
        )
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    except ConsoleError as exc:
        raise HTTPException(409, str(exc)) from None
    return JSONResponse(action)


def api_export(request: Request) -> Response:
    require(request, "view")
    incident_id = request.path_params["incident_id"]
    try:
        doc = _console(request).store.export(incident_id)
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    return Response(
        json.dumps(doc, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="incident-{incident_id}.json"'},
    )


def api_evidence(request: Request) -> Response:
    require(request, "view")
    console = _console(request)
    try:
        path, sha256 = console.store.evidence(request.path_params["alert_id"])
    except NotFound as exc:
        raise HTTPException(404, str(exc)) from None
    found = find_evidence(path, sha256, console.config.evidence_dirs, console.evidence_ok)
    if found is None:
        raise HTTPException(404, "the evidence image is not in the station's store")
    return FileResponse(found, headers={"cache-control": "private, max-age=86400"})


def find_evidence(
    path: str | None,
    sha256: str | None,
    dirs: tuple[Path, ...],
    verified: dict[tuple[str, float, int], str],
) -> Path | None:
    """The evidence file whose content has the alert's SHA-256: at the path the vehicle wrote
    (a station on the same machine), else by that file name or ``<sha256>.jpg`` in ``dirs``."""
    if not sha256:
        return None
    candidates = [Path(path)] if path else []
    for d in dirs:
        if path:
            candidates.append(d / Path(path).name)
        candidates.append(d / f"{sha256}.jpg")
    for candidate in candidates:
        try:
            st = candidate.stat()
        except OSError:
            continue
        key = (str(candidate), st.st_mtime, st.st_size)
        if key not in verified:
            verified[key] = hashlib.sha256(candidate.read_bytes()).hexdigest()
        if verified[key] == sha256:
            return candidate
    return None


def api_map(request: Request) -> Response:
    require(request, "view")
    return JSONResponse(_console(request).map())


def api_vehicles(request: Request) -> Response:
    require(request, "view")
    return JSONResponse(_console(request).store.vehicles())


async def events(request: Request) -> Response:
    await run_in_threadpool(require, request, "view")
    since_text = request.headers.get("last-event-id") or request.query_params.get("since")
    since = _int(since_text, 0, 0, 1 << 62) if since_text else None
    return StreamingResponse(
        _console(request).live.stream(since),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )
