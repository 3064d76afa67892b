"""Property tests: valid outlines load intact; a corrupted file fails only as KeyWaterFileError."""

from __future__ import annotations

import contextlib
import copy
import math
import tempfile
from pathlib import Path
from typing import Any

import shapely
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import geofences
from geofences import KeyWaterFileError, LocalProjection
from geofences.loader import SAMPLES_DIR

LAKE = yaml.safe_load((SAMPLES_DIR / "gqc-lake.yaml").read_text())
LAT0, LON0 = 29.25, 115.80
PROJ = LocalProjection.around(LAT0, LON0)
X0, Y0 = PROJ.to_xy(LON0, LAT0)


def load_text(text: str, suffix: str = ".yaml") -> geofences.KeyWater:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"water{suffix}"
        path.write_text(text)
        return geofences.load(path)


@st.composite
def star_polygons(draw: st.DrawFn) -> list[tuple[float, float]]:
    """A star-shaped ring in metres around the origin: always simple."""
    n = draw(st.integers(min_value=3, max_value=40))
    radii = draw(st.lists(st.floats(50.0, 800.0), min_size=n, max_size=n))
    turn = draw(st.floats(0.0, 2 * math.pi))
    return [
        (r * math.cos(turn + 2 * math.pi * k / n), r * math.sin(turn + 2 * math.pi * k / n))
        for k, r in enumerate(radii)
    ]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ring_m=star_polygons(), clockwise=st.booleans())
def test_any_simple_outline_loads_with_its_area(
    ring_m: list[tuple[float, float]], clockwise: bool
) -> None:
    if clockwise:
        ring_m = ring_m[::-1]
    ring = [list(PROJ.to_lonlat(X0 + x, Y0 + y)) for x, y in ring_m]
    ring.append(ring[0])
    # Launch just outside the outline, beyond its farthest vertex.
    far = max(ring_m, key=lambda p: math.hypot(*p))
    scale = (math.hypot(*far) + 20.0) / math.hypot(*far)
    lon, lat = PROJ.to_lonlat(X0 + far[0] * scale, Y0 + far[1] * scale)
    doc = {"launch": {"lat": lat, "lon": lon}, "water": {"type": "Polygon", "coordinates": [ring]}}
    kw = load_text(yaml.safe_dump(doc))
    expected = shapely.Polygon(ring_m).area
    got = PROJ.geom_to_m(kw.water).area
    assert math.isclose(got, expected, rel_tol=1e-4)
    assert kw.water.geoms[0].exterior.is_ccw


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(-200, 200), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


LAKE_PATHS = _paths(LAKE)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(where=st.sampled_from(LAKE_PATHS), junk=JUNK, delete=st.booleans())
def test_a_corrupted_file_fails_only_with_a_key_water_error(
    where: tuple[Any, ...], junk: Any, delete: bool
) -> None:
    doc = copy.deepcopy(LAKE)
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    if delete:
        del parent[where[-1]]
    else:
        parent[where[-1]] = junk
    try:
        load_text(yaml.safe_dump(doc))
    except KeyWaterFileError as err:
        assert err.problem
        assert "Traceback" not in str(err)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=200))
@example(text="?")  # YAML's explicit-key mark alone: a mapping whose key is None (found by CI)
def test_arbitrary_text_fails_only_with_a_key_water_error(text: str) -> None:
    for suffix in (".yaml", ".geojson"):
        with contextlib.suppress(KeyWaterFileError):
            load_text(text, suffix)
