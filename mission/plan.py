"""The planner's output: sorties of mission items plus fence and rally items."""

from __future__ import annotations

from dataclasses import dataclass, field

from mission.items import MissionItem


@dataclass(frozen=True)
class Sortie:
    index: int  # 1-based
    items: tuple[MissionItem, ...]  # item 0 = home ... RTL
    path_lonlat: tuple[tuple[float, float], ...]  # flown survey path, launch to last waypoint
    length_m: float
    est_flight_s: float


@dataclass(frozen=True)
class PlanSummary:
    area_km2: float
    path_km: float
    lanes: int
    turns: int
    est_flight_s: float
    sorties: int
    coverage_pct: float
    sweep_angle_deg: float | None
    line_spacing_m: float
    gsd_cm: float
    planning_ms: float = 0.0
    # What coverage_pct is a share of: "water" (survey, corridor), or "shore band" for the
    # shoreline pattern, which watches one swath along every bank, not the open water.
    coverage_of: str = "water"


@dataclass(frozen=True)
class MissionPlan:
    key_water_id: str
    key_water_name: str
    pattern: str
    home: tuple[float, float, float]  # lat, lon, alt_amsl_m
    altitude_m: float
    sorties: tuple[Sortie, ...]
    fence: tuple[MissionItem, ...]  # mission_type FENCE
    rally: tuple[MissionItem, ...]  # mission_type RALLY
    summary: PlanSummary
    # FENCE_* and failsafe parameters to set (and read back) before arming
    fence_params: dict[str, float] = field(default_factory=dict)
