"""Types passed between planner stages. Metric coordinates (local UTM metres)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shapely.geometry import MultiPolygon, Polygon

XY = tuple[float, float]
LegKind = Literal["lane", "transit"]


@dataclass(frozen=True)
class Area:
    """A key water in metres, with the regions the planner may use."""

    water: MultiPolygon  # the water; holes are islands
    coverage: MultiPolygon  # what the camera must see: water minus no-fly zones
    transit: Polygon | MultiPolygon  # where any leg may fly: inside the fence, off islands/no-fly
    fence_inclusion: Polygon  # <= 70 vertices, contains the water and the launch
    fence_exclusions: tuple[Polygon, ...]  # no-fly zones and island cores, <= 70 vertices each
    home_xy: XY


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
