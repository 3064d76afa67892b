"""The patrol's final report: Markdown for the operator, JSON for machines, a PNG map.

``report_dict`` and ``report_markdown`` are pure; ``render_map`` draws the water, the
fence, the planned path, the flown track, every person placed on the ground and each
alerted incident (and, for the demo, the ground truth) in the planner's map style
(``mission.export.preview``'s colours, metres east and north of the launch point);
``write_report`` writes the three files.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mission.patrol import PatrolResult, first_alerts

if TYPE_CHECKING:
    from geofences.model import KeyWater
    from mission.plan import MissionPlan

Truth = tuple[float, float, str, str]  # lat, lon, id, kind
INCIDENT_STYLE = {  # marker, colour
    "person_in_water": ("o", "#d7191c"),
    "distress": ("*", "#7b0000"),
    "gathering": ("s", "#ff7f00"),
}
TRUTH_STYLE = {
    "swimmer": ("x", "#08306b"),
    "swimmer_waving": ("X", "#08306b"),
    "shore_group": ("+", "#4d004b"),
    "land_walker": ("1", "#404040"),
}
TRACK = "#111111"
DETECTION = "#fdae61"


def report_dict(result: PatrolResult) -> dict[str, Any]:
    """Everything the report says, as JSON-ready data."""
    flights = [f.as_dict() for f in result.flights]
    return {
        "mission_id": result.mission_id,
        "key_water": {"id": result.key_water_id, "name": result.key_water_name},
        "pattern": result.pattern,
        "altitude_m": result.altitude_m,
        "speed_m_s": result.speed_m_s,
        "vehicle": result.connect,
        "video": {"source": result.source, **asdict(result.video)},
        "video_delay_s": result.video_delay_s,
        "time_scale": result.time_scale,
        "started_at": _iso(result.started_at),
        "ended_at": _iso(result.ended_at),
        "wall_s": result.ended_at - result.started_at,
        "outcome": result.outcome,
        "reason": result.reason,
        "fence_ok": result.fence_ok,
        "all_delivered": result.all_delivered,
        "plan": result.plan,
        "plan_files": list(result.plan_files),
        "flights": flights,
        "incidents": [asdict(i) for i in result.incidents],
        "alerts": [asdict(a) for a in result.alerts],
        "track_points": len(result.track),
        "people_placed": len(result.detections),
        "outbox": result.outbox,
    }


def report_markdown(result: PatrolResult, sections: Sequence[tuple[str, str]] = ()) -> str:
    """The operator's report; ``sections`` (title, Markdown) are appended."""

    def opt(v: float | None, fmt: str = ".1f", unit: str = "") -> str:
        return "-" if v is None else f"{v:{fmt}}{unit}"

    r = result
    plan = r.plan.get("summary", {})
    lines = [
        f"# Patrol {r.mission_id}",
        "",
        f"**{r.key_water_name}** ({r.key_water_id}): {r.pattern} patrol at {r.altitude_m:g} m, "
        f"{r.speed_m_s:g} m/s; {plan.get('path_km', 0):.2f} km planned in "
        f"{plan.get('sorties', len(r.flights))} sortie(s).",
        "",
        f"- Outcome: **{r.outcome}** ({r.reason})",
        f"- Started {_iso(r.started_at)}, ended {_iso(r.ended_at)} "
        f"({r.ended_at - r.started_at:.0f} s wall"
        + (f", vehicle at x{r.time_scale:g}" if r.time_scale != 1 else "")
        + ")",
        f"- Vehicle {r.connect}; video {r.source} ({r.video.frame_size[0]}x"
        f"{r.video.frame_size[1]}), delay {r.video_delay_s * 1000:.0f} ms compensated",
        f"- Detection: {r.video.frames} frames at {r.video.fps:.1f} fps, detector "
        f"{r.video.detect_ms:.0f} ms/frame, {r.video.dropped} frames dropped (newest frame "
        f"wins), {r.video.reconnects} reconnects",
        f"- Fence: {'kept' if r.fence_ok else '**LEFT**'}; alerts "
        f"{sum(a.delivery == 'delivered' for a in r.alerts)}/{len(r.alerts)} delivered",
        "",
        "## Flights",
        "",
        "| sortie | completed | waypoints | max off path | fence breaches | outside fence "
        "| battery used | landed from launch | wall |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, f in enumerate(r.flights, start=1):
        lines.append(
            f"| {i} | {'yes' if f.completed else 'no: ' + f.reason} | "
            f"{f.waypoints_reached}/{f.waypoints_total} | {opt(f.max_off_path_m, '.1f', ' m')} | "
            f"{f.fence_breaches} | {f.track_outside_fence} | "
            f"{opt(f.battery_used_pct, '.0f', ' %')} | "
            f"{opt(f.landing_from_launch_m, '.2f', ' m')} | {f.wall_s:.0f} s |"
        )
    lines += ["", "## Incidents", ""]
    if r.incidents:
        lines += [
            "| incident | type | severity | position | people | confidence | first seen "
            "| alerts | why |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for inc in r.incidents:
            where = (
                f"{inc.lat:.6f}, {inc.lon:.6f} ±{inc.uncertainty_m:.1f} m"
                if inc.lat is not None and inc.lon is not None and inc.uncertainty_m is not None
                else "unknown"
            )
            lines.append(
                f"| {inc.id} | {inc.type} | {inc.severity} | {where} | {inc.people} | "
                f"{inc.confidence:.2f} | {_clock(inc.first_seen)} | {inc.alerts} | {inc.reason} |"
            )
    else:
        lines.append("No incidents.")
    lines += ["", "## Alerts", ""]
    if r.alerts:
        lines += [
            "| alert | incident | status | type | severity | emitted | delivery | evidence |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for a in r.alerts:
            delivered = (
                f"delivered {_clock(a.delivered_at)}" if a.delivered_at is not None else a.delivery
            )
            evidence = f"[jpeg]({_rel(a.evidence, r)})" if a.evidence else "-"
            lines.append(
                f"| {a.id} | {a.incident_id} | {a.status} | {a.type} | {a.severity} | "
                f"{_clock(a.emitted_at)} | {delivered} | {evidence} |"
            )
    else:
        lines.append("No alerts.")
    if r.video.events:
        lines += ["", "## Video events", "", *[f"- {e}" for e in r.video.events]]
    for title, body in sections:
        lines += ["", f"## {title}", "", body]
    lines += [
        "",
        "## Files",
        "",
        "- Map: `map.png`; data: `report.json`; outbox: " + f"`{r.outbox}`",
        *[f"- Plan: `{p}`" for p in r.plan_files],
        "",
    ]
    return "\n".join(lines)


def render_map(
    result: PatrolResult,
    keywater: KeyWater,
    plan: MissionPlan,
    truth: Sequence[Truth] = (),
    width_px: int = 1600,
    height_px: int = 1200,
) -> bytes:
    """The PNG map: water, fence, planned path, flown track, people placed, alerts."""
    import shapely
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import PathPatch
    from matplotlib.path import Path as MplPath
    from shapely import affinity
    from shapely.geometry import LineString, Polygon

    from geofences.projection import LocalProjection
    from mission.export import preview
    from mission.link.report import fence_polygons, planned_path

    lat0, lon0, _ = plan.home
    proj = LocalProjection.around(lat0, lon0)
    ox, oy = proj.to_xy(lon0, lat0)

    def xy(lat: float, lon: float) -> tuple[float, float]:
        x, y = proj.to_xy(lon, lat)
        return x - ox, y - oy

    def to_m(geom: Any) -> Any:
        return affinity.translate(proj.geom_to_m(geom), -ox, -oy)

    def patch(poly: Polygon, **kw: Any) -> PathPatch:
        rings = [poly.exterior, *poly.interiors]
        path = MplPath.make_compound_path(*[MplPath(list(r.coords), closed=True) for r in rings])
        return PathPatch(path, **kw)

    fig = Figure(figsize=(width_px / preview.DPI, height_px / preview.DPI), dpi=preview.DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.06, top=0.93)
    ax = fig.add_subplot()
    ax.set_facecolor(preview.LAND)
    water = to_m(keywater.water)
    for i, poly in enumerate(water.geoms):
        ax.add_patch(
            patch(
                poly,
                fc=preview.WATER,
                ec=preview.SHORE,
                lw=0.8,
                zorder=1,
                label=None if i else "water",
            )
        )
    for zone in keywater.no_fly:
        ax.add_patch(
            patch(
                to_m(zone.polygon),
                fc=(0.84, 0.1, 0.11, 0.15),
                ec=preview.NOFLY,
                lw=1.0,
                hatch="//",
                zorder=2,
            )
        )
    inc, exc = fence_polygons(plan.fence)
    for i, poly in enumerate([*inc, *exc]):
        xs, ys = to_m(poly.exterior).xy
        ax.plot(
            xs,
            ys,
            ls="--",
            lw=1.0,
            color=preview.FENCE if i < len(inc) else preview.NOFLY,
            zorder=3,
            label="fence" if i == 0 else None,
        )
    for k, sortie in enumerate(plan.sorties):
        line = to_m(LineString(planned_path(sortie.items, (lat0, lon0))))
        xs, ys = line.xy
        ax.plot(
            xs,
            ys,
            lw=0.8,
            ls=":",
            color=preview.SORTIE_COLOURS[k % 7],
            zorder=4,
            label=f"planned sortie {sortie.index}",
        )
    if len(result.track) >= 2:
        pts = [xy(lat, lon) for _, lat, lon, _ in result.track]
        ax.plot(
            [p[0] for p in pts],
            [p[1] for p in pts],
            lw=1.4,
            color=TRACK,
            zorder=5,
            label="flown track",
        )
    if result.detections:
        pts = [xy(lat, lon) for _, lat, lon in result.detections]
        ax.scatter(
            [p[0] for p in pts],
            [p[1] for p in pts],
            s=4,
            color=DETECTION,
            zorder=6,
            label="person placed by the detector",
        )
    shown: set[str] = set()
    for kind in TRUTH_STYLE:
        pts = [xy(lat, lon) for lat, lon, _, k in truth if k == kind]
        if pts:
            marker, colour = TRUTH_STYLE[kind]
            ax.scatter(
                [p[0] for p in pts],
                [p[1] for p in pts],
                marker=marker,
                s=60,
                lw=1.5,
                color=colour,
                zorder=10,  # on top of the alert markers: the error shows
                label=f"truth: {kind.replace('_', ' ')}",
            )
    for a in first_alerts(result.alerts).values():
        if a.lat is None or a.lon is None:
            continue
        marker, colour = INCIDENT_STYLE.get(a.type, ("o", "black"))
        x, y = xy(a.lat, a.lon)
        ax.scatter(
            [x],
            [y],
            marker=marker,
            s=160,
            color=colour,
            edgecolor="white",
            zorder=9,
            label=None if a.type in shown else f"alert: {a.type}",
        )
        shown.add(a.type)
        ax.annotate(
            a.incident_id.rsplit("-", 1)[-1],
            (x, y),
            xytext=(6, 6),
            textcoords="offset points",
            fontsize=8,
            zorder=10,
        )
    ax.scatter(
        [0], [0], marker="^", s=140, color="black", edgecolor="white", zorder=8, label="launch"
    )
    extent = shapely.GeometryCollection([water, *[to_m(p) for p in inc]])
    xmin, ymin, xmax, ymax = extent.bounds
    pad = 0.05 * max(xmax - xmin, ymax - ymin, 1.0)
    ax.set_xlim(min(xmin, 0.0) - pad, max(xmax, 0.0) + pad)
    ax.set_ylim(min(ymin, 0.0) - pad, max(ymax, 0.0) + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("metres east of launch (UTM grid)")
    ax.set_ylabel("metres north of launch (UTM grid)")
    ax.grid(True, color="white", lw=0.6, zorder=0)
    ax.legend(loc="upper left", fontsize=8, framealpha=0.85)
    n_alerted = len(first_alerts(result.alerts))
    ax.set_title(
        f"{result.key_water_id}: patrol {result.mission_id} ({result.outcome})\n"
        f"{result.pattern} at {result.altitude_m:g} m, {len(result.track)} track points, "
        f"{len(result.detections)} detections placed on the ground, {n_alerted} incidents alerted",
        fontsize=11,
    )
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=preview.DPI)
    return buf.getvalue()


def write_report(
    result: PatrolResult,
    keywater: KeyWater,
    plan: MissionPlan,
    out_dir: Path,
    *,
    truth: Sequence[Truth] = (),
    sections: Sequence[tuple[str, str]] = (),
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write ``report.md``, ``report.json`` and ``map.png`` into ``out_dir``."""
    from mission.errors import MissionError
    from mission.export._io import write_atomic

    out = Path(out_dir)
    files = {
        "markdown": out / "report.md",
        "json": out / "report.json",
        "map": out / "map.png",
    }
    data = {**report_dict(result), **(extra or {})}
    try:
        out.mkdir(parents=True, exist_ok=True)
        write_atomic(files["markdown"], report_markdown(result, sections).encode("utf-8"))
        write_atomic(
            files["json"],
            json.dumps(data, indent=2, ensure_ascii=False, default=str).encode("utf-8"),
        )
        write_atomic(files["map"], render_map(result, keywater, plan, truth))
    except OSError as exc:
        raise MissionError(f"cannot write the patrol report in {out}: {exc.strerror}") from None
    return files


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _clock(t: float | None) -> str:
    return "-" if t is None else time.strftime("%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 10)}"


def _rel(path: str, result: PatrolResult) -> str:
    p = Path(path)
    return f"evidence/{p.name}" if p.parent.name == "evidence" else str(p)
