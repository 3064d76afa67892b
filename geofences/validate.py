"""Cross-checks of a built KeyWater, measured in metres in the water's UTM zone.

Pure computation. Catches what each field alone cannot show: a launch point
far from the water, coordinates that only make sense with lat and lon swapped,
no-fly zones and hotspots that lie nowhere near the water.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry import MultiPolygon

from geofences.errors import KeyWaterFileError
from geofences.model import KeyWater, Launch
from geofences.projection import LocalProjection

MAX_LAUNCH_DISTANCE_M = 500.0
# Below this share of the water left free of no-fly zones there is nothing to patrol.
MIN_FREE_WATER_FRACTION = 0.01


def check_keywater(kw: KeyWater) -> None:
    """Raise KeyWaterFileError for the first cross-field problem in ``kw``."""
    centre = kw.water.centroid
    proj = LocalProjection.around(centre.y, centre.x)
    water_m = proj.geom_to_m(kw.water)
    _check_launch(kw, proj, water_m)
    if kw.no_fly:
        _check_no_fly(kw, proj, water_m, water_m.buffer(kw.patrol.fence_margin_m))
    _check_hotspots(kw, proj, water_m)


def _distance_m(proj: LocalProjection, a: shapely.Geometry, b_m: shapely.Geometry) -> float:
    """Distance in metres; infinite when ``a`` is too far away to project (another continent)."""
    with np.errstate(invalid="ignore"):
        d = float(shapely.distance(proj.geom_to_m(a), b_m))
    return d if math.isfinite(d) else math.inf


def _swap(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The geometry with lon and lat exchanged, or None if that is not a valid position."""
    swapped = shapely.transform(geom, lambda c: c[:, ::-1])
    xmin, ymin, xmax, ymax = swapped.bounds
    if min(ymin, -ymax) < -90.0 or min(xmin, -xmax) < -180.0:
        return None
    return swapped


def _launch_field(kw: KeyWater, i: int) -> str:
    return "launch" if not kw.extra_launches else f"launch[{i}]"


def _check_launch(kw: KeyWater, proj: LocalProjection, water_m: MultiPolygon) -> None:
    for i, point in enumerate(kw.launches):
        _check_one_launch(kw, point, _launch_field(kw, i), proj, water_m)


def _check_one_launch(
    kw: KeyWater, point: Launch, field: str, proj: LocalProjection, water_m: MultiPolygon
) -> None:
    src = kw.source
    launch = shapely.Point(point.lon, point.lat)
    dist = _distance_m(proj, launch, water_m)
    if dist <= MAX_LAUNCH_DISTANCE_M:
        return
    # Exchanging lon and lat of the launch point or of every water position are the same
    # relative move, so the two mistakes cannot be told apart: name both.
    swapped = _swap(launch)
    if swapped is not None and _distance_m(proj, swapped, water_m) <= MAX_LAUNCH_DISTANCE_M:
        raise KeyWaterFileError(
            src,
            "water.coordinates",
            "the water and the launch point only lie together with lat and lon exchanged: "
            "either the water positions are written [lat, lon] (GeoJSON positions are "
            f"[lon, lat]: swap each pair), or the launch point is (lat {point.lon}, "
            f"lon {point.lat})",
        )
    far = "thousands of kilometres" if math.isinf(dist) else f"{dist:.0f} m"
    raise KeyWaterFileError(
        src,
        field,
        f"the launch point is {far} from the water; it must be within "
        f"{MAX_LAUNCH_DISTANCE_M:.0f} m (on the shore): check {field}.lat and {field}.lon "
        "against the water outline",
    )


def _check_no_fly(
    kw: KeyWater, proj: LocalProjection, water_m: MultiPolygon, fence_m: shapely.Geometry
) -> None:
    src = kw.source
    for i, zone in enumerate(kw.no_fly):
        zone_m = proj.geom_to_m(zone.polygon)
        if not shapely.intersects(zone_m, fence_m):
            gap = _distance_m(proj, zone.polygon, water_m)
            far = "thousands of kilometres" if math.isinf(gap) else f"{gap:.0f} m"
            raise KeyWaterFileError(
                src,
                f"no_fly[{i}].geometry",
                f"no-fly zone {zone.name!r} is {far} from the water, outside the fence "
                f"(water + fence_margin_m = {kw.patrol.fence_margin_m:g} m), so it would "
                "have no effect; check its coordinates or delete it",
            )
        for k, point in enumerate(kw.launches):
            if shapely.contains(zone_m, proj.geom_to_m(shapely.Point(point.lon, point.lat))):
                raise KeyWaterFileError(
                    src,
                    _launch_field(kw, k),
                    f"the launch point lies inside no-fly zone {zone.name!r}; move the launch "
                    "point out of it",
                )
    blocked = shapely.union_all([proj.geom_to_m(z.polygon) for z in kw.no_fly])
    free = shapely.area(shapely.difference(water_m, blocked))
    if free < MIN_FREE_WATER_FRACTION * shapely.area(water_m):
        raise KeyWaterFileError(
            src,
            "no_fly",
            "the no-fly zones cover the whole water, leaving nothing to patrol; "
            "shrink them to the areas the drone must avoid",
        )


def _check_hotspots(kw: KeyWater, proj: LocalProjection, water_m: MultiPolygon) -> None:
    reach = kw.patrol.fence_margin_m
    for i, spot in enumerate(kw.hotspots):
        gap = _distance_m(proj, spot.geometry, water_m)
        if gap > spot.radius_m + reach:
            far = "thousands of kilometres" if math.isinf(gap) else f"{gap:.0f} m"
            raise KeyWaterFileError(
                kw.source,
                f"hotspots[{i}].geometry",
                f"hotspot {spot.name!r} is {far} from the water, beyond its radius "
                f"({spot.radius_m:g} m) plus the fence margin ({reach:g} m), so the patrol "
                "never sees it; check its coordinates",
            )
