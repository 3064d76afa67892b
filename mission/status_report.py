"""Patrols report in: the vehicle's telemetry as a station status report, sent about once a
second to each dispatch endpoint's station (``.../alerts`` -> ``.../status``) while ``fly`` or
``patrol`` runs. The message and the sender are :mod:`station.status`; this is the glue."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from station.status import StatusSender, status_message, status_url

LINK_STALE_S = 3.0  # no heartbeat for this long: the link is degraded


def telemetry_report(
    snap: Any,
    *,
    vehicle_id: str,
    mission_id: str,
    water_id: str,
    sortie: int | None = None,
    sorties: int | None = None,
    video: str = "none",
    detector_fps: float | None = None,
    now: float | None = None,
) -> dict[str, Any] | None:
    """A report from a ``mission.link.telemetry.Telemetry`` snapshot (pure); None before the
    vehicle's first heartbeat."""
    from mission.link.telemetry import COPTER_MODE_NAMES

    if snap.last_heartbeat is None:
        return None
    age = (time.monotonic() if now is None else now) - snap.last_heartbeat
    return status_message(
        vehicle_id=vehicle_id,
        mission_id=mission_id,
        water_id=water_id,
        lat=snap.lat if snap.lon is not None else None,
        lon=snap.lon if snap.lat is not None else None,
        alt_rel_m=snap.alt_rel_m,
        heading_deg=snap.heading_deg,
        speed_m_s=snap.groundspeed_m_s,
        sortie=sortie,
        sorties=sorties,
        battery_pct=snap.battery_pct,
        mode=COPTER_MODE_NAMES.get(snap.custom_mode or -1, str(snap.custom_mode or "-")),
        link="ok" if age < LINK_STALE_S else "degraded",
        video=video,
        detector_fps=detector_fps,
    )


def start_reporting(
    endpoints: Sequence[Any], source: Callable[[], dict[str, Any] | None]
) -> StatusSender | None:
    """A running sender to each endpoint's station (``station.config.Endpoint``: url and
    secret_env), or None without endpoints. The caller stops it."""
    targets = [(status_url(e.url), os.environ.get(e.secret_env, "")) for e in endpoints]
    targets = [(u, s) for u, s in targets if s]  # the alerts' own check names a missing secret
    if not targets:
        return None
    return StatusSender([u for u, _ in targets], [s for _, s in targets], source).start()


def patrol_report(patrol: Any) -> dict[str, Any] | None:
    """The report for a running ``mission.patrol.Patrol`` (None while it is not connected)."""
    conn = patrol.connection
    if conn is None:
        return None
    st = patrol.status()
    return telemetry_report(
        conn.snapshot(),
        vehicle_id=patrol.ctx.vehicle_id,
        mission_id=patrol.ctx.mission_id,
        water_id=patrol.ctx.water_id,
        sortie=st.sortie or None,
        sorties=st.sorties or None,
        video="ok" if st.frames else "none",
        detector_fps=st.fps,
    )


def fly_reporter(station_url: str | None, conn: Any, plan_name: str) -> StatusSender | None:
    """``fly --station URL``: report the connected vehicle's telemetry to that station."""
    if not station_url:
        return None
    from station.config import Endpoint
    from station.model import new_alert_id

    endpoint = Endpoint(url=station_url)
    water_id = re.sub(r"[^A-Za-z0-9._:-]+", "-", plan_name).strip("-._:")[:64] or "plan"
    mission_id = f"fly-{new_alert_id()}"
    return start_reporting(
        [endpoint],
        lambda: telemetry_report(
            conn.snapshot(), vehicle_id="uav-1", mission_id=mission_id, water_id=water_id
        ),
    )
