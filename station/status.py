"""Patrol status reports: where a drone is and how it is doing, sent to the station about once
a second so the console can draw it live.

A report is a small JSON document (``kind: "status"``) POSTed to the station receiver's
``/status`` path with the same Standard Webhooks signature as alerts. :func:`status_message`
builds one (pure), :func:`parse_status` checks one (the receiver), and :class:`StatusSender`
sends the latest report in the background: a report that cannot be sent is dropped, never
queued, since the next one supersedes it, and a slow station never slows the patrol.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

from station.errors import AlertError
from station.model import _check_id, format_time, new_alert_id, parse_time, utc_now
from station.signing import parse_secret, signed_headers

log = logging.getLogger(__name__)

KIND = "status"
LINK_STATES = ("ok", "degraded", "lost")
VIDEO_STATES = ("ok", "stalled", "none")
_NUMBERS = {  # name: (lowest, highest)
    "lat": (-90.0, 90.0),
    "lon": (-180.0, 180.0),
    "alt_rel_m": (-1000.0, 10000.0),
    "heading_deg": (0.0, 360.0),
    "speed_m_s": (0.0, 200.0),
    "battery_pct": (0.0, 100.0),
    "detector_fps": (0.0, 1000.0),
}


def status_message(
    *,
    vehicle_id: str,
    mission_id: str,
    water_id: str,
    lat: float | None,
    lon: float | None,
    alt_rel_m: float | None = None,
    heading_deg: float | None = None,
    speed_m_s: float | None = None,
    sortie: int | None = None,
    sorties: int | None = None,
    battery_pct: float | None = None,
    mode: str = "-",
    link: str = "ok",
    video: str = "none",
    detector_fps: float | None = None,
    sent_at: str | None = None,
) -> dict[str, Any]:
    """One status report (checked: the same rules the receiver applies)."""
    report = {
        "kind": KIND,
        "schema_version": 1,
        "sent_at": sent_at or format_time(utc_now()),
        "vehicle_id": vehicle_id,
        "mission_id": mission_id,
        "water_id": water_id,
        "lat": lat,
        "lon": lon,
        "alt_rel_m": alt_rel_m,
        "heading_deg": None if heading_deg is None else heading_deg % 360.0,
        "speed_m_s": speed_m_s,
        "sortie": sortie,
        "sorties": sorties,
        "battery_pct": battery_pct,
        "mode": mode,
        "link": link,
        "video": video,
        "detector_fps": detector_fps,
    }
    return parse_status(report)


def parse_status(data: Any) -> dict[str, Any]:
    """A status report checked field by field; AlertError names the first bad one."""
    if not isinstance(data, dict):
        raise AlertError("status report: expected a JSON object")
    if data.get("kind") != KIND:
        raise AlertError(
            f"kind: expected {KIND!r} (alerts go to /alerts), got {data.get('kind')!r}"
        )
    for name in ("vehicle_id", "mission_id", "water_id"):
        _check_id(data.get(name), name)
    out: dict[str, Any] = {"kind": KIND, "schema_version": 1}
    out.update({name: data.get(name) for name in ("vehicle_id", "mission_id", "water_id")})
    out["sent_at"] = format_time(parse_time(data.get("sent_at") or "", "sent_at"))
    for name, (lo, hi) in _NUMBERS.items():
        value = data.get(name)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise AlertError(f"{name}: expected a number or null, got {value!r}")
            if not (math.isfinite(value) and lo <= value <= hi):
                raise AlertError(f"{name}: {value!r} is outside {lo:g}..{hi:g}")
        out[name] = value
    if (out["lat"] is None) != (out["lon"] is None):
        raise AlertError("lat: give lat and lon together, or neither (position unknown)")
    for name in ("sortie", "sorties"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise AlertError(f"{name}: expected an integer or null, got {value!r}")
        out[name] = value
    for name, allowed in (("link", LINK_STATES), ("video", VIDEO_STATES)):
        if data.get(name) not in allowed:
            raise AlertError(
                f"{name}: expected one of {', '.join(allowed)}, got {data.get(name)!r}"
            )
        out[name] = data[name]
    mode = data.get("mode")
    if not isinstance(mode, str) or not 0 < len(mode) <= 32:
        raise AlertError(f"mode: expected a flight mode name (1-32 characters), got {mode!r}")
    out["mode"] = mode
    return out


class StatusSender:
    """Sends ``source()``'s report to each URL every ``period_s`` until stopped.

    ``source`` returns a report (:func:`status_message`) or None when there is nothing to say
    yet; ``secrets`` are the whsec_ secrets, one per URL. A failed send is logged once per
    outage and dropped."""

    def __init__(
        self,
        urls: Sequence[str],
        secrets: Sequence[str],
        source: Callable[[], dict[str, Any] | None],
        *,
        period_s: float = 1.0,
        timeout_s: float = 2.0,
    ) -> None:
        self.targets = [
            (u, parse_secret(s, f"status secret for {u}"))
            for u, s in zip(urls, secrets, strict=True)
        ]
        self.source = source
        self.period_s = period_s
        self.timeout_s = timeout_s
        self.sent = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="status-sender", daemon=True)

    def start(self) -> StatusSender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.timeout_s + 1.0)

    def __enter__(self) -> StatusSender:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        import httpx

        failing: set[str] = set()
        with httpx.Client(timeout=self.timeout_s) as client:
            while not self._stop.is_set():
                self._send(client, failing)
                self._stop.wait(self.period_s)

    def _send(self, client: Any, failing: set[str]) -> None:
        import httpx

        try:
            report = self.source()
        except Exception:  # a report is never worth stopping the patrol for
            log.exception("building the status report failed")
            return
        if report is None:
            return
        body = json.dumps(report, separators=(",", ":")).encode()
        for url, key in self.targets:
            headers = signed_headers(key, f"st_{new_alert_id()}", body)
            headers["content-type"] = "application/json"
            try:
                resp = client.post(url, content=body, headers=headers)
                ok, why = resp.status_code < 300, f"HTTP {resp.status_code}"
            except httpx.HTTPError as exc:
                ok, why = False, str(exc) or type(exc).__name__
            if ok:
                self.sent += 1
                failing.discard(url)
            else:
                self.failed += 1
                if url not in failing:  # once per outage
                    log.warning("status report to %s not accepted: %s", url, why)
                    failing.add(url)


def status_url(alerts_url: str) -> str:
    """The station's status URL beside its alerts URL (``.../alerts`` -> ``.../status``)."""
    base = alerts_url.rstrip("/")
    return (base[: -len("/alerts")] if base.endswith("/alerts") else base) + "/status"
