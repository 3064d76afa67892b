"""The ground truth the synthetic camera looks at: the key water and the people around it.

A ``Scene`` is the key water's polygon (water inside, land outside, islands
as holes) and the people placed in it, each with a WGS84 position, a heading,
a body length and a look (which photograph it is drawn from).
``build_scene`` places, deterministically from a seed:

- swimmers in open water, at least ``SWIM_SHORE_M`` from any bank, apart from
  each other; half of them (rounded up) near a hotspot when the water has one;
  one of them waving (arms raised);
- a group on the shore: ``group_size`` people on land within ``GROUP_SPAN_M``
  of each other, ``GROUP_SHORE_M`` back from the waterline, near a hotspot
  when there is one (where people gather to swim);
- walkers on land, ``WALKER_SHORE_M`` from the water.

``swimmer_look`` says how the people in the water are drawn: "composed"
(today's default: the upright photographed people of ``sitl.camera.people``,
which the current detector finds), "real" (swimmers cut out of real drone
footage, ``sitl.camera.swimmers``: heads, shoulders and arms, partly under
water, at a width of ``SWIM_WIDTH_M``) or "auto" (real when that footage is
there, composed otherwise, with the reason logged). The scene keeps the
answer (``Scene.swimmers``). Real swimmers' widths and looks come from their
own random stream, so a seed places everyone where it always did.

``seen`` (a lon/lat area, e.g. ``coverage_of(plan)``) keeps everyone where
the camera will look. Pure computation, but for "auto" and "real", which look
for the footage on disk (``swimmers.choose_look``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point

from geofences.model import KeyWater
from geofences.projection import LocalProjection
from sitl.camera.errors import SceneError
from sitl.camera.swimmers import LOOKS, choose_look

PersonKind = Literal["swimmer", "swimmer_waving", "shore_group", "land_walker"]
KINDS: tuple[str, ...] = ("swimmer", "swimmer_waving", "shore_group", "land_walker")
IN_WATER: frozenset[str] = frozenset({"swimmer", "swimmer_waving"})

SWIM_SHORE_M = 8.0  # swimmers this far from any bank: clear of the rules' shore margin
SWIM_APART_M = 30.0  # swimmers apart from each other and from the shore group
GROUP_SHORE_M = (5.0, 8.0)  # the group's members stand this far back from the water
GROUP_SPAN_M = 7.0  # every two members of the group within this distance
WALKER_SHORE_M = (10.0, 22.0)
WALKER_APART_M = 25.0
BODY_M = (1.6, 1.85)
SWIM_WIDTH_M = (0.5, 0.8)  # a real swimmer across the shoulders (life jackets the wider)
DEFAULT_SWIMMER_LOOK = "composed"  # "auto" once the real-footage detector is the default
_TRIES = 4000


@dataclass(frozen=True)
class Person:
    id: str  # "swimmer-1", "group-3", "walker-2"
    kind: PersonKind
    lat: float
    lon: float
    heading_deg: float  # the way they face, clockwise from true north
    height_m: float  # body length
    look: int  # which photograph (an index the renderer reduces modulo its looks)
    gain: float = 1.0  # brightness of the photograph
    width_m: float = 0.65  # across the shoulders: the size a real swimmer is drawn at
    variant: int = 0  # which real cut-out, and how it moves (reduced modulo what there is)

    @property
    def in_water(self) -> bool:
        return self.kind in IN_WATER

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "lat": round(self.lat, 8),
            "lon": round(self.lon, 8),
            "heading_deg": round(self.heading_deg, 1),
            "height_m": round(self.height_m, 2),
            "in_water": self.in_water,
        }


@dataclass(frozen=True)
class Scene:
    key_water_id: str
    water: MultiPolygon  # WGS84 lon/lat; holes are islands
    people: tuple[Person, ...]
    seed: int = 0
    hotspots: tuple[str, ...] = field(default=())
    swimmers: str = "composed"  # how people in the water are drawn: "real" or "composed"

    @functools.cached_property
    def rings_lonlat(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """Each polygon's rings (exterior first) as (n, 2) lon/lat arrays, for the renderer."""
        return tuple(
            tuple(np.asarray(r.coords)[:, :2] for r in (p.exterior, *p.interiors))
            for p in self.water.geoms
        )

    def person(self, person_id: str) -> Person:
        for p in self.people:
            if p.id == person_id:
                return p
        raise SceneError(f"no person {person_id!r} in the scene; ids: {self.ids()}")

    def ids(self) -> str:
        return ", ".join(p.id for p in self.people)

    def to_json(self) -> dict[str, Any]:
        return {
            "key_water": self.key_water_id,
            "seed": self.seed,
            "swimmers": self.swimmers,
            "people": [
                p.to_json() | ({"width_m": round(p.width_m, 2)} if self._real(p) else {})
                for p in self.people
            ],
        }

    def _real(self, p: Person) -> bool:
        return p.in_water and self.swimmers == "real"


def coverage_of(path_lonlat: list[tuple[float, float]], width_m: float) -> shapely.Geometry:
    """The ground a camera sees along a flown path (lon/lat), ``width_m`` wide: lon/lat area.

    Pass the narrower side of the footprint (it turns with the heading) for a safe estimate.
    """
    if len(path_lonlat) < 2:
        raise SceneError("a coverage path needs at least two points")
    lon, lat = np.mean(np.asarray(path_lonlat), axis=0)
    proj = LocalProjection.around(float(lat), float(lon))
    line = proj.geom_to_m(shapely.LineString(path_lonlat))
    return proj.geom_to_lonlat(line.buffer(width_m / 2.0))


def build_scene(
    kw: KeyWater,
    seed: int = 0,
    *,
    swimmers: int = 3,
    group_size: int = 5,
    walkers: int = 3,
    seen: shapely.Geometry | None = None,
    swimmer_look: str = DEFAULT_SWIMMER_LOOK,
) -> Scene:
    """People around ``kw`` (see the module docstring); the same seed gives the same scene."""
    for name, n, low in (("swimmers", swimmers, 1), ("group_size", group_size, 0)):
        if n < low or n > 50:
            raise SceneError(f"{name}={n} must be between {low} and 50")
    if group_size and group_size < 2:
        raise SceneError(f"group_size={group_size}: a group needs at least 2 people (or 0)")
    if walkers < 0 or walkers > 50:
        raise SceneError(f"walkers={walkers} must be between 0 and 50")
    if swimmer_look not in LOOKS:
        raise SceneError(f"swimmer_look={swimmer_look!r}: choose one of {', '.join(LOOKS)}")
    look = choose_look(swimmer_look)
    rng = np.random.default_rng(seed)
    c = kw.water.centroid
    proj = LocalProjection.around(c.y, c.x)
    water = proj.geom_to_m(kw.water)
    seen_m = proj.geom_to_m(seen) if seen is not None else None

    def visible(area: shapely.Geometry) -> shapely.Geometry:
        return area if seen_m is None else area.intersection(seen_m)

    open_water = visible(water.buffer(-SWIM_SHORE_M))
    if open_water.is_empty:
        raise SceneError(
            f"{kw.id}: no open water {SWIM_SHORE_M:g} m from the banks"
            + (" where the camera looks" if seen is not None else "")
        )
    hot = shapely.union_all(
        [proj.geom_to_m(h.geometry).buffer(h.radius_m) for h in kw.hotspots]
    ).intersection(open_water)
    people: list[Person] = []

    def add(kind: PersonKind, idx: int, x: float, y: float, look_pool: int = 8) -> None:
        lon, lat = proj.to_lonlat(x, y)
        people.append(
            Person(
                id=f"{_PREFIX[kind]}-{idx}",
                kind=kind,
                lat=lat,
                lon=lon,
                heading_deg=float(rng.uniform(0.0, 360.0)),
                height_m=float(rng.uniform(*BODY_M)),
                look=int(rng.integers(look_pool)),
                gain=float(rng.uniform(0.85, 1.15)),
            )
        )

    # the shore group first: swimmers keep their distance from it
    group_xy: list[tuple[float, float]] = []
    if group_size:
        band = visible(water.buffer(GROUP_SHORE_M[1]).difference(water.buffer(GROUP_SHORE_M[0])))
        centre = _group_centre(band, hot, rng, group_size)
        if centre is None:
            raise SceneError(f"{kw.id}: no room on the shore for a group of {group_size}")
        for i, (x, y) in enumerate(_cluster(centre, band, group_size, rng), 1):
            group_xy.append((x, y))
            add("shore_group", i, x, y)
    taken = list(group_xy)
    near_hotspot = math.ceil(swimmers / 2) if not hot.is_empty else 0
    waving_at = near_hotspot - 1 if near_hotspot else 0
    for i in range(swimmers):
        area = hot if i < near_hotspot else open_water
        xy = _sample(area, rng, taken, SWIM_APART_M) or _sample(open_water, rng, taken, 12.0)
        if xy is None:
            raise SceneError(f"{kw.id}: no room in the water for {swimmers} swimmers")
        taken.append(xy)
        add("swimmer_waving" if i == waving_at else "swimmer", i + 1, *xy)
    land = visible(water.buffer(WALKER_SHORE_M[1]).difference(water.buffer(WALKER_SHORE_M[0])))
    for i in range(walkers):
        xy = _sample(land, rng, taken, WALKER_APART_M)
        if xy is None:
            raise SceneError(f"{kw.id}: no room on land for {walkers} walkers")
        taken.append(xy)
        add("land_walker", i + 1, *xy)
    # a stream of its own: the draws above (and so every position) do not depend on the look
    extra = np.random.default_rng([seed, 7])
    people = [
        replace(
            p,
            width_m=float(extra.uniform(*SWIM_WIDTH_M)),
            variant=int(extra.integers(2**31)),
        )
        for p in people
    ]
    hot_names = tuple(h.name for h in kw.hotspots)
    return Scene(kw.id, kw.water, tuple(people), seed, hot_names, look)


_PREFIX = {
    "swimmer": "swimmer",
    "swimmer_waving": "swimmer",
    "shore_group": "group",
    "land_walker": "walker",
}


def _sample(
    area: shapely.Geometry,
    rng: np.random.Generator,
    taken: list[tuple[float, float]],
    apart_m: float,
) -> tuple[float, float] | None:
    """A point of ``area`` at least ``apart_m`` from every point of ``taken`` (rejection)."""
    if area.is_empty:
        return None
    shapely.prepare(area)
    x1, y1, x2, y2 = area.bounds
    for _ in range(_TRIES // 100):
        xs = rng.uniform(x1, x2, 100)
        ys = rng.uniform(y1, y2, 100)
        inside = shapely.contains_xy(area, xs, ys)
        for x, y in zip(xs[inside], ys[inside], strict=True):
            if all(math.hypot(x - tx, y - ty) >= apart_m for tx, ty in taken):
                return float(x), float(y)
    return None


def _group_centre(
    band: shapely.Geometry, hot: shapely.Geometry, rng: np.random.Generator, size: int
) -> tuple[float, float] | None:
    """Where the group stands: in the shore band, by the hotspot when there is one."""
    if band.is_empty:
        return None
    if not hot.is_empty:
        near = band.intersection(hot.buffer(GROUP_SHORE_M[1] + 40.0))
        xy = _sample(near, rng, [], 0.0)
        if xy is not None and _fits(xy, band, size):
            return xy
    for _ in range(50):
        xy = _sample(band, rng, [], 0.0)
        if xy is not None and _fits(xy, band, size):
            return xy
    return None


def _fits(xy: tuple[float, float], band: shapely.Geometry, size: int) -> bool:
    """Room for ``size`` people around ``xy`` in the band (a quarter of the span's disc)."""
    disc = Point(xy).buffer(GROUP_SPAN_M / 2.0)
    need = size * 1.2**2
    return band.intersection(disc).area >= max(need, disc.area / 4.0)


def _cluster(
    centre: tuple[float, float], band: shapely.Geometry, size: int, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """``size`` points of ``band`` within GROUP_SPAN_M/2 of ``centre``, at least 1 m apart."""
    area = band.intersection(Point(centre).buffer(GROUP_SPAN_M / 2.0))
    out: list[tuple[float, float]] = []
    for _ in range(size):
        xy = _sample(area, rng, out, 1.0) or _sample(area, rng, out, 0.5)
        if xy is None:
            raise SceneError(f"no room for a group of {size} on the shore; use a smaller group")
        out.append(xy)
    return out
