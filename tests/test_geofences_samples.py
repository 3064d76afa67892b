"""The bundled sample waters load and have the shapes the demos rely on."""

from __future__ import annotations

import dataclasses
import re

import pytest
import shapely
from shapely.geometry import LineString, Point

import geofences
from geofences import KeyWater, LocalProjection
from geofences.loader import SAMPLES_DIR
from geofences.schema import schema


def load_sample(name: str) -> KeyWater:
    return geofences.load(SAMPLES_DIR / name)


def metric(kw: KeyWater) -> tuple[LocalProjection, shapely.Geometry]:
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    return proj, proj.geom_to_m(kw.water)


def launch_gap_m(kw: KeyWater) -> float:
    proj, water_m = metric(kw)
    return shapely.distance(water_m, Point(proj.to_xy(kw.launch.lon, kw.launch.lat)))


def test_sample_paths_lists_the_four_samples() -> None:
    names = sorted(p.name for p in geofences.sample_paths())
    assert names == ["gqc-lake.yaml", "gqc-pond.geojson", "gqc-reservoir.yaml", "gqc-river.yaml"]


@pytest.mark.parametrize("path", geofences.sample_paths(), ids=lambda p: p.name)
def test_every_sample_loads_as_sample_geometry_near_gongqingcheng(path) -> None:
    kw = geofences.load(path)
    assert kw.sample is True
    assert kw.id == path.stem
    assert kw.source == str(path)
    assert 29.15 < kw.launch.lat < 29.35
    assert 115.70 < kw.launch.lon < 115.90
    assert kw.water.is_valid
    assert all(p.exterior.is_ccw for p in kw.water.geoms)
    assert all(not h.is_ccw for p in kw.water.geoms for h in p.interiors)
    assert 0 < launch_gap_m(kw) <= 100.0  # on the shore, not in the water


def test_lake_is_a_concave_half_square_kilometre_with_two_islands() -> None:
    kw = load_sample("gqc-lake.yaml")
    _, water_m = metric(kw)
    assert 0.4e6 <= water_m.area <= 0.6e6
    (poly,) = kw.water.geoms
    assert 30 <= len(poly.exterior.coords) - 1 <= 60
    assert len(poly.interiors) == 2
    assert water_m.area / water_m.convex_hull.area < 0.95  # has bays
    assert kw.patrol.pattern == "survey"
    (zone,) = kw.no_fly
    assert zone.name
    assert shapely.intersects(zone.polygon, kw.water)
    assert len(kw.hotspots) >= 1


def test_islands_are_well_inside_the_lake() -> None:
    kw = load_sample("gqc-lake.yaml")
    proj, _ = metric(kw)
    (poly,) = kw.water.geoms
    shore_m = proj.geom_to_m(shapely.Polygon(poly.exterior))
    for hole in poly.interiors:
        island_m = proj.geom_to_m(shapely.Polygon(hole))
        assert shapely.contains(shore_m.buffer(-50.0), island_m)


def test_river_is_a_winding_reach_of_about_2_5_km() -> None:
    kw = load_sample("gqc-river.yaml")
    _, water_m = metric(kw)
    assert kw.patrol.pattern == "corridor"
    # A band of width w around a centreline of length L has area w*L and a perimeter of
    # about 2L, so L ~ perimeter / 2 and w ~ 2 * area / perimeter.
    length_m = water_m.length / 2.0
    width_m = 2.0 * water_m.area / water_m.length
    assert 2200 <= length_m <= 2800
    assert 80 <= width_m <= 150
    assert water_m.area / water_m.convex_hull.area < 0.6  # winding, not straight


def test_reservoir_has_a_swimming_beach_point_and_line() -> None:
    kw = load_sample("gqc-reservoir.yaml")
    _, water_m = metric(kw)
    assert 0.4e6 <= water_m.area <= 0.6e6
    assert kw.patrol.pattern == "shoreline"
    kinds = {type(h.geometry) for h in kw.hotspots}
    assert kinds == {Point, LineString}
    proj, _ = metric(kw)
    launch_m = Point(proj.to_xy(kw.launch.lon, kw.launch.lat))
    for spot in kw.hotspots:
        assert shapely.distance(proj.geom_to_m(spot.geometry), launch_m) < 150.0


def test_pond_is_a_geojson_feature_collection() -> None:
    path = SAMPLES_DIR / "gqc-pond.geojson"
    kw = geofences.load(path)
    assert kw.name == "Gongqingcheng sample pond"
    assert kw.launch.alt_amsl_m == 24.0
    assert kw.patrol.altitude_m == 30.0


def test_samples_do_not_overlap_each_other() -> None:
    waters = [geofences.load(p).water for p in geofences.sample_paths()]
    for i, a in enumerate(waters):
        for b in waters[i + 1 :]:
            assert not shapely.intersects(a, b)


def test_unset_settings_take_the_model_defaults() -> None:
    kw = load_sample("gqc-river.yaml")
    assert kw.rules == geofences.RuleSettings()
    assert kw.vehicle == geofences.VehicleSettings()
    assert kw.patrol.sweep_angle_deg is None
    assert kw.patrol.camera == geofences.PRESETS[geofences.DEFAULT_PRESET]


def test_reservoir_overrides_only_the_rules_it_names() -> None:
    kw = load_sample("gqc-reservoir.yaml")
    assert kw.rules.gathering_min_people == 8
    assert kw.rules.gathering_radius_m == 15.0
    assert kw.rules.in_water_frames == geofences.RuleSettings().in_water_frames
    assert kw.patrol.camera.name == "dji-m30t-wide"


def _schema_keys(section: str) -> set[str]:
    return set(schema()["properties"][section]["properties"])


def test_schema_sections_match_the_model_fields() -> None:
    assert _schema_keys("patrol") == {f.name for f in dataclasses.fields(geofences.PatrolSettings)}
    assert _schema_keys("vehicle") == {
        f.name for f in dataclasses.fields(geofences.VehicleSettings)
    }
    assert _schema_keys("rules") == {f.name for f in dataclasses.fields(geofences.RuleSettings)}
    camera = schema()["properties"]["patrol"]["properties"]["camera"]["properties"]
    assert set(camera) == {f.name for f in dataclasses.fields(geofences.Camera)}
    pattern = schema()["properties"]["patrol"]["properties"]["pattern"]["enum"]
    assert tuple(pattern) == geofences.PATTERNS


def test_readme_documents_every_field_default_and_preset() -> None:
    readme = (SAMPLES_DIR.parent / "README.md").read_text()
    for section, cls in (
        ("patrol", geofences.PatrolSettings),
        ("vehicle", geofences.VehicleSettings),
        ("rules", geofences.RuleSettings),
    ):
        for f in dataclasses.fields(cls):
            if f.name == "camera":
                continue
            row = re.search(rf"^\| `{f.name}` \|.*$", readme, re.MULTILINE)
            assert row, f"{section}.{f.name} missing from README"
            default = f.default
            shown = "null" if default is None else str(default).lower()
            assert f"| {shown} |" in row.group(0) or f"| `{shown}` |" in row.group(0), row.group(0)
    for name, cam in geofences.PRESETS.items():
        row = re.search(rf"^\| `{name}` \|.*$", readme, re.MULTILINE)
        assert row, name
        assert f"{cam.focal_length_mm:g}" in row.group(0)


def test_numbers_have_the_model_types() -> None:
    # YAML reads "altitude_m: 50" as an int; the model (and JSON output) wants floats.
    kw = load_sample("gqc-reservoir.yaml")
    assert type(kw.patrol.altitude_m) is float
    assert type(kw.rules.gathering_radius_m) is float
    assert type(kw.rules.gathering_min_people) is int
    assert type(kw.priority) is int
