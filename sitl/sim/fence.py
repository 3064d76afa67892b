"""Pure fence logic of the simulated vehicle: validating an uploaded fence and finding breaches.

Follows ArduPilot's AC_PolyFence_loader / AC_Fence: fence items are checked as
a whole when the upload completes (vertex count in param1 of every vertex,
>= 3 vertices, no circle inside a polygon's run, positive radii, one return
point, valid lat/lon, and storage: 560 bytes on a stock copter SITL, i.e. at
most 69 vertices in one polygon). One check is stricter than ArduPilot: a
self-intersecting polygon is refused here, while ArduPilot stores it.

Breaches use FENCE_TYPE bits (1 max altitude, 2 circle around home, 4
inclusion/exclusion polygons and circles); point-in-polygon is planar on
lat/lon as ArduPilot's Polygon_outside is. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import shapely

from mission.items import Cmd, MissionItem
from sitl.sim.flight import distance_bearing

ALT_MAX, CIRCLE, POLYGON, ALT_MIN = 1, 2, 4, 8
_NAMES = ("Max Alt", "Circle", "Polygon", "Min Alt")

FENCE_STORAGE_BYTES = 560  # copter layout of a 16 KB SITL: 48 + 256 + 256
RETURN_POINT_CMD = 5000  # MAV_CMD_NAV_FENCE_RETURN_POINT

# AC_PolyFenceType numbers (as ArduPilot prints them)
_TYPE_NUM = {
    Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION: 98,
    Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION: 97,
    RETURN_POINT_CMD: 95,
    Cmd.NAV_FENCE_CIRCLE_EXCLUSION: 93,
    Cmd.NAV_FENCE_CIRCLE_INCLUSION: 92,
}
_POLYGON_CMDS = (Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION)
FENCE_CMDS = frozenset(_TYPE_NUM)

LatLonE7 = tuple[int, int]


@dataclass(frozen=True)
class Circle:
    lat_e7: int
    lon_e7: int
    radius_m: float


@dataclass(frozen=True)
class FenceZones:
    inclusion_polygons: tuple[tuple[LatLonE7, ...], ...] = ()
    exclusion_polygons: tuple[tuple[LatLonE7, ...], ...] = ()
    inclusion_circles: tuple[Circle, ...] = ()
    exclusion_circles: tuple[Circle, ...] = ()
    return_point: LatLonE7 | None = None

    @property
    def empty(self) -> bool:
        return not (
            self.inclusion_polygons
            or self.exclusion_polygons
            or self.inclusion_circles
            or self.exclusion_circles
        )


def fence_names(mask: int) -> str:
    """ArduPilot's wording for fence types: "Polygon fence", "Circle and Polygon fences"."""
    names = [n for i, n in enumerate(_NAMES) if mask & (1 << i)]
    if not names:
        return ""
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return text + (" fences" if len(names) > 1 else " fence")


def _valid_latlon(lat_e7: int, lon_e7: int) -> bool:
    return abs(lat_e7) <= 90 * 10**7 and abs(lon_e7) <= 180 * 10**7


def storage_required(items: Sequence[MissionItem]) -> int:
    """Bytes ArduPilot needs to store these (already validated) fence items."""
    total, i = 4, 0
    while i < len(items):
        cmd = items[i].command
        if cmd in _POLYGON_CMDS:
            n = int(items[i].param1)
            total += 2 + 8 * n
            i += max(n, 1)
            continue
        total += 1 + (
            12 if cmd in (Cmd.NAV_FENCE_CIRCLE_INCLUSION, Cmd.NAV_FENCE_CIRCLE_EXCLUSION) else 8
        )
        i += 1
    return total


def validate_fence(
    items: Sequence[MissionItem], storage_bytes: int = FENCE_STORAGE_BYTES
) -> tuple[FenceZones | None, list[str]]:
    """Zones from uploaded fence items, or None and the STATUSTEXT lines ArduPilot sends."""
    incl: list[tuple[LatLonE7, ...]] = []
    excl: list[tuple[LatLonE7, ...]] = []
    c_incl: list[Circle] = []
    c_excl: list[Circle] = []
    ret: LatLonE7 | None = None
    run: list[LatLonE7] = []
    run_cmd, run_count = 0, 0

    def fail(text: str) -> tuple[None, list[str]]:
        return None, [text, "Fence validation failed"]

    for item in items:
        cmd = item.command
        if cmd in _POLYGON_CMDS:
            count = int(item.param1)
            if count < 3:
                return fail(f"Invalid vertex count ({count})")
            if not run:
                run_cmd, run_count = cmd, count
            elif cmd != run_cmd:
                want, got = _TYPE_NUM[run_cmd], _TYPE_NUM[cmd]
                return fail(f"Received incorrect vertex type (want={want} got={got})")
            elif count != run_count:
                return fail(f"Unexpected vertex count want={run_count} got={count}")
            run.append((item.x, item.y))
            if len(run) == run_count:
                (incl if run_cmd == Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION else excl).append(
                    tuple(run)
                )
                run = []
        else:
            if run:
                want, got = _TYPE_NUM[run_cmd], _TYPE_NUM.get(cmd, 0)
                return fail(f"Received incorrect type (want={want} got={got})")
            if cmd == RETURN_POINT_CMD:
                if ret is not None:
                    return fail("Multiple return points")
                ret = (item.x, item.y)
            else:
                if not item.param1 > 0:
                    return fail("Non-positive circle radius")
                circle = Circle(item.x, item.y, float(item.param1))
                (c_incl if cmd == Cmd.NAV_FENCE_CIRCLE_INCLUSION else c_excl).append(circle)
        if not _valid_latlon(item.x, item.y):
            return fail("Bad lat or lon")
    if run:
        return None, ["Incorrect item count", "Fence validation failed"]
    for n, poly in enumerate(incl + excl, start=1):
        ring = shapely.LinearRing([(lon / 1e7, lat / 1e7) for lat, lon in poly])
        if not ring.is_simple:
            return fail(f"Fence polygon {n} self-intersects")
    if storage_required(items) > storage_bytes:
        return None, ["Fence exceeds storage size"]
    zones = FenceZones(tuple(incl), tuple(excl), tuple(c_incl), tuple(c_excl), ret)
    return zones, []


def polygon_outside(lat_e7: int, lon_e7: int, polygon: Sequence[LatLonE7]) -> bool:
    """Planar even-odd test on (lat, lon) ints, as ArduPilot's Polygon_outside."""
    inside = False
    n = len(polygon)
    for i in range(n):
        x1, y1 = polygon[i]
        x2, y2 = polygon[(i + 1) % n]
        if (y1 > lon_e7) != (y2 > lon_e7):
            cross = x1 + (lon_e7 - y1) * (x2 - x1) / (y2 - y1)
            if lat_e7 < cross:
                inside = not inside
    return not inside


def polygon_breached(zones: FenceZones, lat: float, lon: float) -> bool:
    """Outside any inclusion zone or inside any exclusion zone (intersection of inclusions)."""
    lat_e7, lon_e7 = round(lat * 1e7), round(lon * 1e7)
    if any(polygon_outside(lat_e7, lon_e7, p) for p in zones.inclusion_polygons):
        return True
    if any(not polygon_outside(lat_e7, lon_e7, p) for p in zones.exclusion_polygons):
        return True
    for c in zones.exclusion_circles:
        if distance_bearing(lat, lon, c.lat_e7 / 1e7, c.lon_e7 / 1e7)[0] < c.radius_m:
            return True
    for c in zones.inclusion_circles:
        if distance_bearing(lat, lon, c.lat_e7 / 1e7, c.lon_e7 / 1e7)[0] > c.radius_m:
            return True
    return False


def breaches(
    zones: FenceZones,
    fence_type: int,
    alt_max_m: float,
    radius_m: float,
    home: tuple[float, float],
    lat: float,
    lon: float,
    alt_m: float,
) -> int:
    """Breached fence types (ALT_MAX | CIRCLE | POLYGON) at a position; ``alt_m`` above home."""
    found = 0
    if fence_type & ALT_MAX and alt_m > alt_max_m:
        found |= ALT_MAX
    if fence_type & CIRCLE and distance_bearing(home[0], home[1], lat, lon)[0] > radius_m:
        found |= CIRCLE
    if fence_type & POLYGON and not zones.empty and polygon_breached(zones, lat, lon):
        found |= POLYGON
    return found
