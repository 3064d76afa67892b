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
    # The launch point this sortie takes off from and lands at (lat, lon, alt_amsl_m), and
    # its index in MissionPlan.launches; item 0 (home) is there too.
    home: tuple[float, float, float] | None = None
    launch: int = 0


@dataclass(frozen=True)
class UnplannedPart:
    """Water the plan leaves unflown (only with allow_partial), and why."""

    part: int  # 1-based index of the polygon in the file's water
    area_km2: float
    reason: str
    centre: tuple[float, float]  # lat, lon
    outlines_lonlat: tuple[tuple[tuple[float, float], ...], ...]  # outer rings, lon/lat


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
    # The least any plan could need (planning/bounds.py): sorties and lanes + commutes.
    lower_bound_sorties: int = 0
    lower_bound_km: float = 0.0
    launches: int = 1
    unplanned: tuple[UnplannedPart, ...] = ()

    @property
    def bound_ratio(self) -> float | None:
        """Path length over its lower bound (1.0 would be a perfect plan)."""
        return self.path_km / self.lower_bound_km if self.lower_bound_km > 0 else None


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
    # Every launch point (lat, lon, alt_amsl_m), ``home`` first; sorties name theirs.
    launches: tuple[tuple[float, float, float], ...] = ()
