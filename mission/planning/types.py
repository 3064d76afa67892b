"""Types passed between planner stages. Metric coordinates (local UTM metres)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shapely.geometry import MultiPolygon, Polygon

XY = tuple[float, float]
LegKind = Literal["lane", "transit"]


@dataclass(frozen=True)
class Unreached:
    """Water the plan does not fly: which part of the file's water, and why."""

    part: int  # 1-based index of the water's polygon in the file
    region: Polygon | MultiPolygon  # metres
    reason: str


@dataclass(frozen=True)
class Area:
    """A key water in metres, with the regions the planner may use."""

    water: MultiPolygon  # the water; holes are islands
    # What the camera must see: the whole water minus no-fly zones (every part of it).
    coverage: MultiPolygon
    transit: Polygon | MultiPolygon  # where any leg may fly: inside the fence, off islands/no-fly
    fence_inclusion: Polygon  # <= 70 vertices, contains the water and every launch
    fence_exclusions: tuple[Polygon, ...]  # no-fly zones and island cores, <= 70 vertices each
    homes_xy: tuple[XY, ...]  # every launch point, the first one first
    reachable: MultiPolygon  # the coverage some launch reaches through the transit region
    # Coverage no route reaches from any launch (cut off by no-fly zones or the fence).
    cut_off: tuple[Unreached, ...] = ()

    @property
    def home_xy(self) -> XY:
        return self.homes_xy[0]


@dataclass(frozen=True)
class Leg:
    """A polyline the vehicle flies; lanes are where the camera survey happens."""

    points: tuple[XY, ...]
    kind: LegKind

    @property
    def start(self) -> XY:
        return self.points[0]

    @property
    def end(self) -> XY:
        return self.points[-1]

    def reversed(self) -> Leg:
        return Leg(tuple(reversed(self.points)), self.kind)


@dataclass(frozen=True)
class Lane:
    """One straight survey lane segment, in the rotated frame's lane index order."""

    index: int  # lane number across the sweep
    a: XY  # the end with the smaller along-lane coordinate
    b: XY
    x0: float  # along-lane extent in the sweep-rotated frame (for cell decomposition)
    x1: float
