"""Fence items <-> fence shapes (polygons and circles), as the .plan, GeoJSON and preview need.

A fence polygon is a run of NAV_FENCE_POLYGON_VERTEX_* items whose param1 is
the run's vertex count (ArduPilot rejects a wrong count). Items built here
follow QGroundControl's upload: frame GLOBAL, altitude 0, autocontinue 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mission.errors import ExportError
from mission.export._params import FENCE_CIRCLE_CMDS, FENCE_POLYGON_CMDS
from mission.items import Cmd, Frame, MissionItem, MissionType

LatLon = tuple[float, float]


@dataclass(frozen=True)
class FencePolygon:
    inclusion: bool
    vertices: tuple[LatLon, ...]  # (lat, lon) degrees in upload order, not closed


@dataclass(frozen=True)
class FenceCircle:
    inclusion: bool
    lat: float
    lon: float
    radius_m: float


def fence_shapes(fence: Sequence[MissionItem]) -> tuple[list[FencePolygon], list[FenceCircle]]:
    """Group a plan's fence items into polygons and circles, checking the vertex counts."""
    polygons: list[FencePolygon] = []
    circles: list[FenceCircle] = []
    i = 0
    while i < len(fence):
        item = fence[i]
        if item.command in FENCE_CIRCLE_CMDS:
            inclusion = item.command == Cmd.NAV_FENCE_CIRCLE_INCLUSION
            circles.append(FenceCircle(inclusion, item.lat, item.lon, item.param1))
            i += 1
            continue
        if item.command not in FENCE_POLYGON_CMDS:
            raise ExportError(
                f"fence item {i}: command {item.command} is not a fence command "
                "(expected 5001-5004); fix the plan's fence list"
            )
        count = int(item.param1)
        run = fence[i : i + count]
        if (
            count < 3
            or len(run) < count
            or any(it.command != item.command or int(it.param1) != count for it in run)
        ):
            raise ExportError(
                f"fence item {i}: a polygon of param1={item.param1:g} vertices needs that many "
                f"consecutive {Cmd(item.command).name} items with the same param1 (and >= 3)"
            )
        inclusion = item.command == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
        polygons.append(FencePolygon(inclusion, tuple((it.lat, it.lon) for it in run)))
        i += count
    return polygons, circles


def fence_items(
    polygons: Sequence[FencePolygon], circles: Sequence[FenceCircle] = ()
) -> tuple[MissionItem, ...]:
    """The fence list for shapes: polygons first, then circles (QGroundControl's order)."""
    items: list[MissionItem] = []
    for poly in polygons:
        cmd = (
            Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION
            if poly.inclusion
            else Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION
        )
        n = float(len(poly.vertices))
        items += [_fence_item(cmd, lat, lon, n) for lat, lon in poly.vertices]
    for c in circles:
        cmd = Cmd.NAV_FENCE_CIRCLE_INCLUSION if c.inclusion else Cmd.NAV_FENCE_CIRCLE_EXCLUSION
        items.append(_fence_item(cmd, c.lat, c.lon, c.radius_m))
    return tuple(items)


def _fence_item(cmd: Cmd, lat: float, lon: float, param1: float) -> MissionItem:
    return MissionItem.at(
        cmd,
        lat,
        lon,
        0.0,
        frame=Frame.GLOBAL,
        param1=param1,
        autocontinue=0,
        mission_type=MissionType.FENCE,
    )
