"""Domain types of a key water. Geometry is shapely in WGS84 lon/lat order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from geofences.camera import Camera

Pattern = Literal["survey", "shoreline", "corridor"]
PATTERNS: tuple[str, ...] = ("survey", "shoreline", "corridor")


@dataclass(frozen=True)
class Launch:
    lat: float
    lon: float
    alt_amsl_m: float = 0.0
    name: str = ""  # e.g. "north dock"; empty for a single launch point


@dataclass(frozen=True)
class NoFlyZone:
    name: str
    polygon: Polygon


@dataclass(frozen=True)
class Hotspot:
    """A place where people swim or crowd: a point with a radius, or a stretch of bank."""

    name: str
    geometry: Point | shapely.LineString
    radius_m: float = 50.0


@dataclass(frozen=True)
class PatrolSettings:
    pattern: Pattern = "survey"
    altitude_m: float = 40.0
    speed_m_s: float = 8.0
    side_overlap: float = 0.2
    front_overlap: float = 0.0
    camera: Camera = field(default_factory=lambda: _default_camera())
    sweep_angle_deg: float | None = None  # None: the planner chooses
    fence_margin_m: float = 30.0
    shore_inset_m: float | None = None  # shoreline loop inset; None: half the footprint
    trigger_camera: bool = False  # emit DO_SET_CAM_TRIGG_DIST for a stills camera


@dataclass(frozen=True)
class VehicleSettings:
    endurance_min: float = 25.0
    reserve_pct: float = 25.0
    climb_m_s: float = 2.5
    descent_m_s: float = 1.5
    turn_s: float = 4.0  # time lost per lane turn (decelerate, yaw, accelerate)

    @property
    def usable_s(self) -> float:
        return self.endurance_min * 60.0 * (1.0 - self.reserve_pct / 100.0)


@dataclass(frozen=True)
class RuleSettings:
    """Thresholds for the detection rules; documented in geofences/README.md."""

    in_water_frames: int = 3
    shore_margin_m: float = 3.0
    distress_frames: int = 3
    still_seconds: float = 20.0
    still_radius_m: float = 2.0
    gathering_min_people: int = 5
    gathering_radius_m: float = 10.0
    gathering_hold_s: float = 5.0
    gathering_min_frames: int = 3  # or found in this many frames of a camera's pass over it
    incident_close_s: float = 30.0


@dataclass(frozen=True)
class KeyWater:
    id: str
    name: str
    water: MultiPolygon  # holes are islands
    launch: Launch  # the first (or only) launch point: the plan's reference and map centre
    priority: int = 3
    no_fly: tuple[NoFlyZone, ...] = ()
    hotspots: tuple[Hotspot, ...] = ()
    patrol: PatrolSettings = field(default_factory=PatrolSettings)
    vehicle: VehicleSettings = field(default_factory=VehicleSettings)
    rules: RuleSettings = field(default_factory=RuleSettings)
    sample: bool = False  # sample geometry, not a surveyed shoreline
    source: str = ""  # the file it came from
    extra_launches: tuple[Launch, ...] = ()  # further docks / shore access points, if any

    @property
    def launches(self) -> tuple[Launch, ...]:
        """Every launch point, the first one first."""
        return (self.launch, *self.extra_launches)


def _default_camera() -> Camera:
    from geofences.camera import DEFAULT_PRESET, PRESETS

    return PRESETS[DEFAULT_PRESET]
