"""GeoJSON export: RFC 7946 structure, and every layer present with the plan's geometry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from mission.errors import ExportError
from mission.export.geojson import feature_collection, write_geojson
from tests.test_export_samples import sample_keywater, sample_plan


def _position(p: Any) -> None:
    assert isinstance(p, list) and len(p) == 2, p
    lon, lat = p
    assert -180 <= lon <= 180 and -90 <= lat <= 90


def _ring(ring: Any, exterior: bool) -> None:
    assert len(ring) >= 4 and ring[0] == ring[-1]
    for p in ring:
        _position(p)
    # RFC 7946 right-hand rule: exteriors counter-clockwise, holes clockwise.
    ccw = shapely.LinearRing(ring).is_ccw
    assert ccw == exterior


def validate_geojson(doc: Any) -> None:
    """Structural checks of RFC 7946 for the geometry types we write."""
    assert doc["type"] == "FeatureCollection"
    assert isinstance(doc["features"], list)
    for f in doc["features"]:
        assert f["type"] == "Feature" and isinstance(f["properties"], dict)
        g = f["geometry"]
        kind, coords = g["type"], g["coordinates"]
        if kind == "Point":
            _position(coords)
        elif kind == "LineString":
            assert len(coords) >= 2
            for p in coords:
                _position(p)
        elif kind == "Polygon":
            for i, ring in enumerate(coords):
                _ring(ring, exterior=i == 0)
        elif kind == "MultiPolygon":
            for poly in coords:
                for i, ring in enumerate(poly):
                    _ring(ring, exterior=i == 0)
        else:
            raise AssertionError(f"unexpected geometry {kind}")
        if kind in ("Polygon", "MultiPolygon"):
            assert shape(g).is_valid


@pytest.fixture(scope="module")
def doc(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("gj") / "lake.geojson"
    write_geojson(path, sample_plan(), sample_keywater())
    return json.loads(path.read_text())


def test_structure_is_valid_geojson(doc: dict[str, Any]) -> None:
    validate_geojson(doc)


def _by_kind(doc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in doc["features"] if f["properties"]["kind"] == kind]


def test_layers_carry_the_plan(doc: dict[str, Any]) -> None:
    plan, kw = sample_plan(), sample_keywater()
    (water,) = _by_kind(doc, "water")
    assert water["properties"]["name"] == kw.name
    # Positions are rounded to 1e-7 degree: the outline moves by at most that much.
    moved = shape(water["geometry"]).symmetric_difference(kw.water).area
    assert moved <= kw.water.length * 1e-7
    assert len(_by_kind(doc, "island")) == 1
    assert [f["properties"]["name"] for f in _by_kind(doc, "no_fly")] == ["bridge"]
    assert len(_by_kind(doc, "hotspot")) == 1
    fences = _by_kind(doc, "fence")
    assert [f["properties"]["inclusion"] for f in fences] == [True, False]
    assert sum(f["properties"]["vertices"] for f in fences) == len(plan.fence)
    (launch,) = _by_kind(doc, "launch")
    assert launch["geometry"]["coordinates"] == [round(plan.home[1], 7), round(plan.home[0], 7)]
    assert len(_by_kind(doc, "rally")) == len(plan.rally)
    paths = _by_kind(doc, "path")
    assert [p["properties"]["sortie"] for p in paths] == [1, 2]
    for feature, sortie in zip(paths, plan.sorties, strict=True):
        want = [[round(lon, 7), round(lat, 7)] for lon, lat in sortie.path_lonlat]
        assert feature["geometry"]["coordinates"] == want
        assert feature["properties"]["length_m"] == sortie.length_m
    waypoints = _by_kind(doc, "waypoint")
    want_count = sum(1 for s in plan.sorties for it in s.items[1:] if it.has_position)
    assert len(waypoints) == want_count
    takeoff = next(w for w in waypoints if w["properties"]["command_name"] == "NAV_TAKEOFF")
    assert takeoff["properties"]["alt_ref"] == "home" and takeoff["properties"]["seq"] == 1


def test_the_fence_inclusion_contains_the_water(doc: dict[str, Any]) -> None:
    inclusion = shape(_by_kind(doc, "fence")[0]["geometry"])
    assert inclusion.contains(sample_keywater().water)


def test_a_path_of_one_point_is_refused(tmp_path: Path) -> None:
    from dataclasses import replace

    plan = sample_plan()
    broken = replace(plan, sorties=(replace(plan.sorties[0], path_lonlat=((115.8, 29.25),)),))
    with pytest.raises(ExportError, match=r"x\.geojson: sortie 1: the path has 1 point"):
        write_geojson(tmp_path / "x.geojson", broken, sample_keywater())


def test_collection_is_plain_json() -> None:
    text = json.dumps(feature_collection(sample_plan(), sample_keywater()), allow_nan=False)
    assert json.loads(text)["type"] == "FeatureCollection"
