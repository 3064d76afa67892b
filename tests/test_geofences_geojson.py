"""The GeoJSON FeatureCollection variant: roles, settings (inline or sidecar), error paths."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import shapely
import yaml

import geofences
from geofences import KeyWaterFileError
from geofences.loader import SAMPLES_DIR

POND = json.loads((SAMPLES_DIR / "gqc-pond.geojson").read_text())
LAKE = yaml.safe_load((SAMPLES_DIR / "gqc-lake.yaml").read_text())


def feature(role: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"role": role, **props}, "geometry": geometry}


def lake_collection() -> dict[str, Any]:
    """The lake sample rewritten as a FeatureCollection, as QGIS would export it."""
    lake = copy.deepcopy(LAKE)
    launch = lake["launch"]
    return {
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
        "features": [
            feature("launch", {"type": "Point", "coordinates": [launch["lon"], launch["lat"]]}),
            feature("water", lake["water"], name="lake"),
            feature("no_fly", lake["no_fly"][0]["geometry"], name=lake["no_fly"][0]["name"]),
            feature("hotspot", lake["hotspots"][0]["geometry"], radius_m=60),
        ],
    }


def write(tmp_path: Path, data: Any, name: str = "water.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=1))
    return path


def fails(path: Path) -> KeyWaterFileError:
    with pytest.raises(KeyWaterFileError) as info:
        geofences.load(path)
    return info.value


def test_geojson_and_yaml_of_the_same_water_load_the_same(tmp_path: Path) -> None:
    from_yaml = geofences.load(SAMPLES_DIR / "gqc-lake.yaml")
    from_geojson = geofences.load(write(tmp_path, lake_collection(), "gqc-lake.geojson"))
    assert shapely.equals(from_yaml.water, from_geojson.water)
    assert from_geojson.launch.lat == from_yaml.launch.lat
    assert from_geojson.no_fly[0].name == "east bay power line"
    assert shapely.equals(from_geojson.no_fly[0].polygon, from_yaml.no_fly[0].polygon)
    assert from_geojson.hotspots[0].radius_m == 60.0
    assert from_geojson.id == "gqc-lake"  # from the file name: no settings given


def test_sidecar_yaml_supplies_the_settings(tmp_path: Path) -> None:
    path = write(tmp_path, lake_collection(), "lake.geojson")
    (tmp_path / "lake.yaml").write_text("id: lake-7\npriority: 1\npatrol: {altitude_m: 60}\n")
    kw = geofences.load(path)
    assert (kw.id, kw.priority, kw.patrol.altitude_m) == ("lake-7", 1, 60.0)


def test_sidecar_error_points_into_the_sidecar(tmp_path: Path) -> None:
    path = write(tmp_path, lake_collection(), "lake.geojson")
    side = tmp_path / "lake.yaml"
    side.write_text("patrol: {altitude_m: 150}\n")
    err = fails(path)
    assert err.path == str(side)
    assert err.field == "patrol.altitude_m"


def test_inline_settings_error_points_at_properties(tmp_path: Path) -> None:
    data = copy.deepcopy(POND)
    data["properties"]["patrol"]["speed_m_s"] = 40
    path = write(tmp_path, data)
    err = fails(path)
    assert err.path == str(path)
    assert err.field == "properties.patrol.speed_m_s"


def test_settings_in_both_places_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, POND, "pond.geojson")
    (tmp_path / "pond.yaml").write_text("priority: 2\n")
    err = fails(path)
    assert err.field == "properties"
    assert "pond.yaml" in err.problem


def test_geometry_keys_in_settings_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, lake_collection(), "lake.geojson")
    (tmp_path / "lake.yaml").write_text("launch: {lat: 29.2, lon: 115.8}\n")
    err = fails(path)
    assert err.field == "launch"
    assert "features" in err.problem


def test_loading_the_sidecar_itself_says_load_the_geojson(tmp_path: Path) -> None:
    write(tmp_path, lake_collection(), "lake.geojson")
    side = tmp_path / "lake.yaml"
    side.write_text("priority: 2\n")
    err = fails(side)
    assert "lake.geojson" in err.problem


def test_geometry_error_points_at_the_feature(tmp_path: Path) -> None:
    data = lake_collection()
    data["features"][1]["geometry"]["coordinates"][0][6] = [29.23, 115.78]
    err = fails(write(tmp_path, data))
    assert err.field == "features[1].geometry.coordinates[0][6]"
    assert "[lon, lat]" in err.problem


def test_launch_error_points_at_the_launch_feature(tmp_path: Path) -> None:
    data = lake_collection()
    lon, lat = data["features"][0]["geometry"]["coordinates"]
    data["features"][0]["geometry"]["coordinates"] = [lon, lat - 0.02]
    err = fails(write(tmp_path, data))
    assert err.field == "features[0]"
    assert "500 m" in err.problem


def test_swapped_launch_position_points_at_its_coordinates(tmp_path: Path) -> None:
    data = lake_collection()
    data["features"][0]["geometry"]["coordinates"].reverse()
    err = fails(write(tmp_path, data))
    assert err.field == "features[0].geometry.coordinates"
    assert "looks like [lat, lon]" in err.problem


def test_no_fly_error_points_at_its_feature(tmp_path: Path) -> None:
    data = lake_collection()
    ring = data["features"][2]["geometry"]["coordinates"][0]
    data["features"][2]["geometry"]["coordinates"][0] = [[p[0] + 0.05, p[1]] for p in ring]
    err = fails(write(tmp_path, data))
    assert err.field == "features[2].geometry"


def test_several_water_features_are_merged(tmp_path: Path) -> None:
    a = [[115.80, 29.25], [115.802, 29.25], [115.802, 29.252], [115.80, 29.252], [115.80, 29.25]]
    b = [[115.802, 29.25], [115.804, 29.25], [115.804, 29.252], [115.802, 29.252], [115.802, 29.25]]
    data = {
        "type": "FeatureCollection",
        "features": [
            feature("water", {"type": "Polygon", "coordinates": [a]}),
            feature("water", {"type": "Polygon", "coordinates": [b]}),
            feature("launch", {"type": "Point", "coordinates": [115.801, 29.2495]}),
        ],
    }
    kw = geofences.load(write(tmp_path, data))
    assert len(kw.water.geoms) == 1  # they share an edge: one water
    assert kw.water.geoms[0].area == pytest.approx(0.004 * 0.002)


def test_error_in_the_second_water_feature_names_it(tmp_path: Path) -> None:
    a = [[115.80, 29.25], [115.802, 29.25], [115.802, 29.252], [115.80, 29.252], [115.80, 29.25]]
    b = [[115.803, 29.25], [115.804, 29.25], [115.804, 29.252]]
    data = {
        "type": "FeatureCollection",
        "features": [
            feature("launch", {"type": "Point", "coordinates": [115.801, 29.2495]}),
            feature("water", {"type": "Polygon", "coordinates": [a]}),
            feature("water", {"type": "Polygon", "coordinates": [b]}),
        ],
    }
    err = fails(write(tmp_path, data))
    assert err.field == "features[2].geometry.coordinates[0]"


def test_missing_role(tmp_path: Path) -> None:
    data = lake_collection()
    del data["features"][3]["properties"]["role"]
    err = fails(write(tmp_path, data))
    assert err.field == "features[3].properties.role"
    assert "water, no_fly, hotspot, launch" in err.problem


def test_misspelt_role(tmp_path: Path) -> None:
    data = lake_collection()
    data["features"][2]["properties"]["role"] = "nofly"
    err = fails(write(tmp_path, data))
    assert "'no_fly'" in err.problem


def test_unknown_feature_property(tmp_path: Path) -> None:
    data = lake_collection()
    data["features"][3]["properties"]["radius"] = 60
    err = fails(write(tmp_path, data))
    assert err.field == "features[3].properties.radius"
    assert "'radius_m'" in err.problem


def test_styling_properties_are_allowed(tmp_path: Path) -> None:
    data = lake_collection()
    data["features"][1]["properties"].update({"fill": "#0000ff", "stroke-width": 2})
    assert geofences.load(write(tmp_path, data)).id == "water"


def test_wrong_geometry_for_the_role(tmp_path: Path) -> None:
    data = lake_collection()
    data["features"][0]["geometry"] = data["features"][1]["geometry"]
    err = fails(write(tmp_path, data))
    assert err.field == "features[0].geometry.type"
    assert "Point" in err.problem


def test_feature_without_geometry(tmp_path: Path) -> None:
    data = lake_collection()
    data["features"][2]["geometry"] = None
    assert fails(write(tmp_path, data)).field == "features[2].geometry"


def test_no_launch_feature(tmp_path: Path) -> None:
    data = lake_collection()
    del data["features"][0]
    err = fails(write(tmp_path, data))
    assert "role 'launch'" in err.problem


def test_two_launch_features_are_two_launch_points(tmp_path: Path) -> None:
    data = lake_collection()
    dock = copy.deepcopy(data["features"][0])
    lon, lat = dock["geometry"]["coordinates"]
    dock["geometry"]["coordinates"] = [lon + 0.0005, lat]
    dock["properties"]["name"] = "east dock"
    data["features"].append(dock)
    kw = geofences.load(write(tmp_path, data))
    assert len(kw.launches) == 2
    assert kw.launches[1].name == "east dock"
    assert kw.launches[1].lon == pytest.approx(lon + 0.0005)
    assert kw.launch.lon == pytest.approx(lon)


def test_a_far_second_launch_feature_is_named_by_its_index(tmp_path: Path) -> None:
    data = lake_collection()
    far = copy.deepcopy(data["features"][0])
    far["geometry"]["coordinates"][1] += 0.5  # 55 km north
    data["features"].append(far)
    err = fails(write(tmp_path, data))
    assert err.field.startswith("features[4]") or err.field == "launch[1]"


def test_no_water_feature(tmp_path: Path) -> None:
    data = lake_collection()
    del data["features"][1]
    assert "role 'water'" in fails(write(tmp_path, data)).problem


def test_projected_crs_is_refused(tmp_path: Path) -> None:
    data = lake_collection()
    data["crs"]["properties"]["name"] = "urn:ogc:def:crs:EPSG::3857"
    err = fails(write(tmp_path, data))
    assert err.field == "crs"
    assert "EPSG:4326" in err.problem


def test_bare_geometry_is_not_a_collection(tmp_path: Path) -> None:
    err = fails(write(tmp_path, LAKE["water"]))
    assert err.field == "type"
    assert "FeatureCollection" in err.problem


def test_json_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.geojson"
    path.write_text('{"type": "FeatureCollection",\n "features": [,]}\n')
    assert "line 2" in fails(path).problem


def test_unknown_inline_setting_points_at_properties(tmp_path: Path) -> None:
    data = copy.deepcopy(POND)
    data["properties"]["patrl"] = {"altitude_m": 40}
    err = fails(write(tmp_path, data))
    assert err.field == "properties.patrl"
    assert "'patrol'" in err.problem
