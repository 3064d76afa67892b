"""A plan's summary: a dict for ``--json`` and a short text for the operator."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mission.export._fence import fence_shapes
from mission.plan import MissionPlan


def as_dict(plan: MissionPlan) -> dict[str, Any]:
    """Plain JSON-ready data: the key water, the PlanSummary numbers, sorties, fence and rally.

    ``summary.coverage_of`` says what ``summary.coverage_pct`` is a share of ("water", or
    "shore band" for a shoreline patrol).
    """
    polygons, circles = fence_shapes(plan.fence)
    return {
        "key_water": {"id": plan.key_water_id, "name": plan.key_water_name},
        "pattern": plan.pattern,
        "altitude_m": plan.altitude_m,
        "home": {"lat": plan.home[0], "lon": plan.home[1], "alt_amsl_m": plan.home[2]},
        "launches": [
            {"lat": lat, "lon": lon, "alt_amsl_m": alt} for lat, lon, alt in _launches(plan)
        ],
        "summary": {**asdict(plan.summary), "bound_ratio": plan.summary.bound_ratio},
        "sorties": [
            {
                "index": s.index,
                "launch": s.launch,
                "items": len(s.items),
                "waypoints": sum(1 for it in s.items[1:] if it.has_position),
                "length_m": s.length_m,
                "est_flight_s": s.est_flight_s,
            }
            for s in plan.sorties
        ],
        "fence": {
            "items": len(plan.fence),
            "inclusion_polygons": sum(1 for p in polygons if p.inclusion),
            "exclusion_polygons": sum(1 for p in polygons if not p.inclusion),
            "circles": len(circles),
            "vertices": sum(len(p.vertices) for p in polygons),
        },
        "rally_points": len(plan.rally),
        "fence_params": dict(plan.fence_params),
    }


def _launches(plan: MissionPlan) -> tuple[tuple[float, float, float], ...]:
    return plan.launches or (plan.home,)


def as_line(plan: MissionPlan) -> str:
    """The headline numbers on one line (the preview map's subtitle)."""
    s = plan.summary
    return (
        f"area {s.area_km2:.2f} km² · path {s.path_km:.1f} km · {s.lanes} lanes · "
        f"{s.turns} turns · {format_duration(s.est_flight_s)} · {s.sorties} "
        f"{'sortie' if s.sorties == 1 else 'sorties'} · coverage {s.coverage_pct:.1f} % of the "
        f"{s.coverage_of} · "
        + (f"NOT PLANNED {sum(u.area_km2 for u in s.unplanned):.3f} km² · " if s.unplanned else "")
        + f"spacing {s.line_spacing_m:.1f} m · GSD {s.gsd_cm:.1f} cm"
    )


def as_text(plan: MissionPlan) -> str:
    """A few lines for the terminal."""
    s = plan.summary
    sweep = "" if s.sweep_angle_deg is None else f"   sweep {s.sweep_angle_deg:.0f}°"
    lines = [
        f"{plan.key_water_name} ({plan.key_water_id}): {plan.pattern} at {plan.altitude_m:g} m",
        f"  area {s.area_km2:.2f} km²   path {s.path_km:.1f} km   "
        f"lanes {s.lanes}   turns {s.turns}",
        f"  est. flight {format_duration(s.est_flight_s)} in {s.sorties} "
        f"{'sortie' if s.sorties == 1 else 'sorties'}   coverage {s.coverage_pct:.1f} % of the "
        f"{s.coverage_of}",
        f"  line spacing {s.line_spacing_m:.1f} m   GSD {s.gsd_cm:.1f} cm/px{sweep}",
    ]
    if s.lower_bound_km > 0:
        lines.append(
            f"  lower bound {s.lower_bound_sorties} "
            f"{'sortie' if s.lower_bound_sorties == 1 else 'sorties'}, "
            f"{s.lower_bound_km:.1f} km (lanes + the least commuting): "
            f"path {s.bound_ratio:.2f}x the bound"
        )
    for u in s.unplanned:
        lines.append(
            f"  NOT PLANNED: {u.area_km2:.3f} km² of part {u.part} of the water around "
            f"lat {u.centre[0]:.6f}, lon {u.centre[1]:.6f}: {u.reason}"
        )
    several = len(_launches(plan)) > 1
    for sortie in plan.sorties:
        where = f" from launch {sortie.launch + 1}" if several else ""
        lines.append(
            f"  sortie {sortie.index}{where}: {len(sortie.items)} items, "
            f"{sortie.length_m / 1000:.2f} km, {format_duration(sortie.est_flight_s)}"
        )
    return "\n".join(lines)


def format_duration(seconds: float) -> str:
    total = round(seconds)
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    if h:
        return f"{h} h {m:02d} min"
    return f"{m} min {s:02d} s"
