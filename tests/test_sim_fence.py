"""Pure fence logic of the simulated vehicle (sitl/sim/fence.py): validation and breaches."""

from __future__ import annotations

import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from mission.items import Cmd, MissionItem, MissionType
from sitl.sim.fence import (
    ALT_MAX,
    CIRCLE,
    POLYGON,
    breaches,
    fence_names,
    polygon_outside,
    validate_fence,
)
from sitl.sim.flight import offset

HOME = (29.2505, 115.7953)


def polygon(center, radius_m, n, cmd=Cmd.NAV_FENCE_POLYGON_VERTEX_INCLUSION, count=None):
    pts = [offset(*center, k * 360.0 / n, radius_m) for k in range(n)]
    return [
        MissionItem.at(cmd, la, lo, 0.0, param1=count or n, mission_type=MissionType.FENCE)
        for la, lo in pts
    ]


def circle(center, radius_m, cmd=Cmd.NAV_FENCE_CIRCLE_INCLUSION):
    return MissionItem.at(cmd, *center, 0.0, param1=radius_m, mission_type=MissionType.FENCE)


def test_fence_names_as_ardupilot_prints_them():
    assert fence_names(POLYGON) == "Polygon fence"
    assert fence_names(CIRCLE | POLYGON) == "Circle and Polygon fences"
    assert fence_names(ALT_MAX | CIRCLE | POLYGON) == "Max Alt, Circle and Polygon fences"
    assert fence_names(0) == ""


def test_valid_fence_with_exclusions_and_circles():
    items = [
        *polygon(HOME, 300, 12),
        *polygon(HOME, 50, 5, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION),
        circle(HOME, 400),
        circle(offset(*HOME, 0, 200), 20, Cmd.NAV_FENCE_CIRCLE_EXCLUSION),
    ]
    zones, texts = validate_fence(items)
    assert texts == []
    assert len(zones.inclusion_polygons[0]) == 12 and len(zones.exclusion_polygons[0]) == 5
    assert zones.inclusion_circles[0].radius_m == 400 and len(zones.exclusion_circles) == 1


def test_invalid_fences_are_refused_with_ardupilot_texts():
    square = polygon(HOME, 100, 4)
    cases = {
        "Unexpected vertex count want=4 got=5": [
            *square[:3],
            MissionItem(**{**square[3].__dict__, "param1": 5}),
        ],
        "Invalid vertex count (2)": polygon(HOME, 100, 2),
        "Incorrect item count": square[:3],
        "Fence polygon 1 self-intersects": [square[0], square[2], square[1], square[3]],
        "Non-positive circle radius": [circle(HOME, 0)],
        "Received incorrect type (want=98 got=92)": [*square[:2], circle(HOME, 50), *square[2:]],
    }
    for text, items in cases.items():
        zones, texts = validate_fence(items)
        assert zones is None and texts == [text, "Fence validation failed"], text


def test_storage_limit_of_a_stock_copter_sitl():
    assert validate_fence(polygon(HOME, 200, 69))[0] is not None
    assert validate_fence(polygon(HOME, 200, 70)) == (None, ["Fence exceeds storage size"])
    two = [*polygon(HOME, 200, 34), *polygon(HOME, 20, 30, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION)]
    assert validate_fence(two)[0] is not None


def test_breaches_by_fence_type():
    zones, _ = validate_fence(
        [*polygon(HOME, 100, 8), *polygon(HOME, 20, 4, Cmd.NAV_FENCE_POLYGON_VERTEX_EXCLUSION)]
    )
    inside = offset(*HOME, 45, 60)
    in_hole = offset(*HOME, 0, 5)
    outside = offset(*HOME, 45, 160)
    assert breaches(zones, 7, 100, 150, HOME, *inside, 30) == 0
    assert breaches(zones, 7, 100, 150, HOME, *in_hole, 30) == POLYGON
    assert breaches(zones, 7, 100, 150, HOME, *outside, 30) == CIRCLE | POLYGON
    assert breaches(zones, 7, 100, 150, HOME, *inside, 120) == ALT_MAX
    assert (
        breaches(zones, ALT_MAX, 100, 150, HOME, *outside, 30) == 0
    )  # only what FENCE_TYPE enables


@settings(deadline=None)
@given(bearing=st.floats(0, 360), dist=st.floats(0, 400))
def test_point_in_polygon_agrees_with_shapely(bearing, dist):
    ring = [
        offset(*HOME, b, r) for b, r in ((0, 300), (80, 120), (150, 280), (230, 90), (300, 250))
    ]
    poly_e7 = [(round(la * 1e7), round(lo * 1e7)) for la, lo in ring]
    lat, lon = offset(*HOME, bearing, dist)
    shape = shapely.Polygon([(lo, la) for la, lo in ring])
    point = shapely.Point(lon, lat)
    if shape.exterior.distance(point) < 1e-6:
        return  # on the boundary either answer is fine
    assert polygon_outside(round(lat * 1e7), round(lon * 1e7), poly_e7) == (
        not shape.contains(point)
    )
