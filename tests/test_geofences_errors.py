"""One bad key-water file per validation rule: each fails with the file, the field and the fix."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import shapely
import yaml

import geofences
from geofences import KeyWaterFileError
from geofences.loader import SAMPLES_DIR

LAKE = yaml.safe_load((SAMPLES_DIR / "gqc-lake.yaml").read_text())


def write(tmp_path: Path, doc: Any, name: str = "bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def mutated(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    doc = copy.deepcopy(LAKE)
    change(doc)
    return doc


def fails(path: Path) -> KeyWaterFileError:
    with pytest.raises(KeyWaterFileError) as info:
        geofences.load(path)
    err = info.value
    assert err.path == str(path)
    assert str(err).startswith(str(path))
    return err


def fails_doc(tmp_path: Path, change: Callable[[dict[str, Any]], object]) -> KeyWaterFileError:
    return fails(write(tmp_path, mutated(change)))


def shell(doc: dict[str, Any]) -> list[list[float]]:
    return doc["water"]["coordinates"][0]


def test_the_unchanged_base_document_loads(tmp_path: Path) -> None:
    # Guards every test below: each fails because of its one change, not the base.
    kw = geofences.load(write(tmp_path, LAKE))
    assert kw.id == "gqc-lake"


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("id: x\nname: y\nwater: [1, 2\nlaunch: 3\n")
    err = fails(path)
    assert "YAML syntax error at line 4" in err.problem


def test_tab_indentation_is_a_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("patrol:\n\taltitude_m: 40\n")
    assert "line 2" in fails(path).problem


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(altitud_m=30))
    assert err.field == "patrol.altitud_m"
    assert "'altitude_m'" in err.problem


def test_key_in_the_wrong_section_says_where_it_belongs(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d.update(speed_m_s=5))
    assert err.field == "speed_m_s"
    assert "patrol.speed_m_s" in err.problem


def test_unknown_key_without_a_near_match_lists_the_known_keys(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["vehicle"].update(colour="red"))
    assert err.field == "vehicle.colour"
    assert "endurance_min" in err.problem


def test_wrong_type_says_what_is_expected(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(altitude_m="high"))
    assert err.field == "patrol.altitude_m"
    assert "must be a number" in err.problem


def test_bool_is_not_a_number(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(speed_m_s=True))
    assert err.field == "patrol.speed_m_s"


def test_fractional_frame_count_is_rejected(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d.update(rules={"in_water_frames": 2.5}))
    assert err.field == "rules.in_water_frames"
    assert "whole number" in err.problem


def test_non_finite_number_is_rejected(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(speed_m_s=float("nan")))
    assert err.field == "patrol.speed_m_s"
    assert "finite" in err.problem


def test_launch_lat_lon_swapped(tmp_path: Path) -> None:
    def swap(d: dict[str, Any]) -> None:
        d["launch"]["lat"], d["launch"]["lon"] = d["launch"]["lon"], d["launch"]["lat"]

    err = fails_doc(tmp_path, swap)
    assert err.field == "launch.lat"
    assert "swapped" in err.problem


def test_water_position_written_lat_lon(tmp_path: Path) -> None:
    def swap(d: dict[str, Any]) -> None:
        d["water"]["coordinates"] = [[p[::-1] for p in r] for r in d["water"]["coordinates"]]

    err = fails_doc(tmp_path, swap)
    assert err.field == "water.coordinates[0][0]"
    lon, lat = shell(LAKE)[0]
    assert f"write [{lon}, {lat}]" in err.problem


def test_polygon_that_only_makes_sense_swapped(tmp_path: Path) -> None:
    # Both orders are in range here (a lake near 29 N 60 E written [lat, lon]); only the
    # launch point shows which one was meant.
    def move(d: dict[str, Any]) -> None:
        d["water"]["coordinates"] = [
            [[p[1], p[0] - 55.78] for p in r] for r in d["water"]["coordinates"]
        ]
        d["launch"]["lon"] -= 55.78
        del d["no_fly"], d["hotspots"]

    err = fails_doc(tmp_path, move)
    assert err.field == "water.coordinates"
    assert "[lon, lat]" in err.problem


def test_launch_that_only_makes_sense_swapped(tmp_path: Path) -> None:
    # A water near 50 N, 60 E with its launch written (lat 60, lon 50): both in range.
    def move(d: dict[str, Any]) -> None:
        d["water"]["coordinates"] = [
            [[p[0] - 55.78, p[1] + 20.77] for p in r] for r in d["water"]["coordinates"]
        ]
        lat, lon = d["launch"]["lat"] + 20.77, d["launch"]["lon"] - 55.78
        d["launch"].update(lat=lon, lon=lat)
        del d["no_fly"], d["hotspots"]

    err = fails_doc(tmp_path, move)
    assert err.field == "water.coordinates"
    assert "lat and lon exchanged" in err.problem
    assert "launch point is (lat" in err.problem


def test_latitude_out_of_range(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["launch"].update(lat=95.0, lon=120.0))
    assert err.field == "launch.lat"
    assert "95" in err.problem


def test_longitude_out_of_range_in_a_ring(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: shell(d)[5].__setitem__(0, 215.8))
    assert err.field == "water.coordinates[0][5]"
    assert "out of range" in err.problem


def test_position_with_one_number(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: shell(d).__setitem__(2, [115.78]))
    assert err.field == "water.coordinates[0][2]"
    assert "[lon, lat]" in err.problem


def test_ring_not_closed(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: shell(d).pop())
    assert err.field == "water.coordinates[0]"
    assert "not closed" in err.problem
    lon, lat = shell(LAKE)[0]
    assert f"append [{lon}, {lat}]" in err.problem


def test_ring_with_fewer_than_four_positions(tmp_path: Path) -> None:
    def three(d: dict[str, Any]) -> None:
        ring = shell(d)
        d["water"]["coordinates"] = [[ring[0], ring[10], ring[0]]]

    err = fails_doc(tmp_path, three)
    assert err.field == "water.coordinates[0]"
    assert "at least 4 positions" in err.problem


def test_ring_with_no_area(tmp_path: Path) -> None:
    def flat(d: dict[str, Any]) -> None:
        d["water"]["coordinates"] = [
            [[115.77, 29.23], [115.78, 29.23], [115.79, 29.23], [115.77, 29.23]]
        ]

    err = fails_doc(tmp_path, flat)
    assert "no area" in err.problem


def test_self_intersection_says_where(tmp_path: Path) -> None:
    def bow_tie(d: dict[str, Any]) -> None:
        ring = shell(d)
        ring[3], ring[10] = ring[10], ring[3]

    err = fails_doc(tmp_path, bow_tie)
    assert err.field.startswith("water.coordinates[0][")
    assert "crosses itself near lat 29.2" in err.problem
    assert "lon 115.7" in err.problem


def test_self_intersection_of_a_simple_bow_tie_is_located_exactly(tmp_path: Path) -> None:
    # Edges 0-1 and 2-3 of this ring cross at (115.785, 29.235).
    bow = [[115.78, 29.23], [115.79, 29.24], [115.79, 29.23], [115.78, 29.24], [115.78, 29.23]]
    doc = {
        "launch": {"lat": 29.229, "lon": 115.785},
        "water": {"type": "Polygon", "coordinates": [bow]},
    }
    err = fails(write(tmp_path, doc))
    assert err.field == "water.coordinates[0][0]"
    assert "lat 29.235000, lon 115.785000" in err.problem
    assert "position 0 to 1" in err.problem
    assert "position 2 to 3" in err.problem


def test_island_outside_the_shoreline(tmp_path: Path) -> None:
    def move(d: dict[str, Any]) -> None:
        d["water"]["coordinates"][1] = [[p[0] + 0.02, p[1]] for p in d["water"]["coordinates"][1]]

    err = fails_doc(tmp_path, move)
    assert err.field == "water.coordinates[1]"
    assert "not inside the outer ring" in err.problem


def test_overlapping_islands(tmp_path: Path) -> None:
    def dup(d: dict[str, Any]) -> None:
        d["water"]["coordinates"][2] = [[p[0] + 0.0001, p[1]] for p in d["water"]["coordinates"][1]]

    err = fails_doc(tmp_path, dup)
    assert err.field == "water.coordinates[2]"
    assert "overlap" in err.problem


def test_no_fly_zone_outside_the_fence(tmp_path: Path) -> None:
    def move(d: dict[str, Any]) -> None:
        ring = d["no_fly"][0]["geometry"]["coordinates"][0]
        d["no_fly"][0]["geometry"]["coordinates"][0] = [[p[0] + 0.02, p[1]] for p in ring]

    err = fails_doc(tmp_path, move)
    assert err.field == "no_fly[0].geometry"
    assert "east bay power line" in err.problem
    assert "no effect" in err.problem


def _zone_north_of_the_lake(gap_m: float) -> tuple[dict[str, Any], float]:
    """A 6 m square no-fly zone ``gap_m`` north of the lake's northernmost shore point."""
    kw = geofences.load(SAMPLES_DIR / "gqc-lake.yaml")
    proj = geofences.LocalProjection.around(kw.launch.lat, kw.launch.lon)
    water_m = proj.geom_to_m(kw.water)
    coords = shapely.get_coordinates(water_m)
    x, y = coords[coords[:, 1].argmax()]
    square = [(-3, -3), (3, -3), (3, 3), (-3, 3), (-3, -3)]
    ring_m = [(x + dx, y + gap_m + 3 + dy) for dx, dy in square]
    distance = shapely.distance(shapely.Polygon(ring_m), water_m)
    ring = [list(proj.to_lonlat(px, py)) for px, py in ring_m]
    zone = {"name": "pier", "geometry": {"type": "Polygon", "coordinates": [ring]}}
    return zone, distance


def test_no_fly_zone_in_the_fence_margin_is_accepted(tmp_path: Path) -> None:
    zone, distance = _zone_north_of_the_lake(20.0)
    assert 15.0 < distance < 30.0  # outside the water, inside the 30 m fence margin
    kw = geofences.load(write(tmp_path, mutated(lambda d: d.update(no_fly=[zone]))))
    assert kw.no_fly[0].name == "pier"


def test_no_fly_zone_just_beyond_the_fence_margin_is_refused(tmp_path: Path) -> None:
    zone, distance = _zone_north_of_the_lake(40.0)
    assert 35.0 < distance < 45.0
    err = fails_doc(tmp_path, lambda d: d.update(no_fly=[zone]))
    assert err.field == "no_fly[0].geometry"
    assert f"is {distance:.0f} m from the water" in err.problem


def test_no_fly_zone_covering_the_launch_point(tmp_path: Path) -> None:
    def cover(d: dict[str, Any]) -> None:
        lat, lon = d["launch"]["lat"], d["launch"]["lon"]
        box = [
            [lon - 0.001, lat - 0.001],
            [lon + 0.001, lat - 0.001],
            [lon + 0.001, lat + 0.001],
            [lon - 0.001, lat + 0.001],
            [lon - 0.001, lat - 0.001],
        ]
        d["no_fly"][0]["geometry"]["coordinates"] = [box]

    err = fails_doc(tmp_path, cover)
    assert err.field == "launch"
    assert "inside no-fly zone" in err.problem


def test_no_fly_zones_covering_all_the_water(tmp_path: Path) -> None:
    def cover(d: dict[str, Any]) -> None:
        box = [[115.76, 29.22], [115.80, 29.22], [115.80, 29.25], [115.76, 29.25], [115.76, 29.22]]
        d["no_fly"][0]["geometry"]["coordinates"] = [box]
        d["launch"].update(lat=29.2295, lon=115.80 + 0.0005)

    err = fails_doc(tmp_path, cover)
    assert err.field in ("no_fly", "launch")


def test_launch_point_too_far_from_the_water(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["launch"].update(lat=d["launch"]["lat"] - 0.01))
    assert err.field == "launch"
    assert "within 500 m" in err.problem
    metres = int(err.problem.split("is ")[1].split(" m")[0])
    assert 900 < metres < 1300  # 0.01 deg of latitude is about 1.1 km, minus the 37 m offset


@pytest.mark.parametrize(("value", "word"), [(130, "120"), (120.5, "120"), (5, "10"), (-20, "10")])
def test_altitude_outside_10_to_120_m(tmp_path: Path, value: float, word: str) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(altitude_m=value))
    assert err.field == "patrol.altitude_m"
    assert word in err.problem
    assert "legal ceiling" in err.problem


@pytest.mark.parametrize("value", [120, 10])
def test_altitude_limits_are_inclusive(tmp_path: Path, value: float) -> None:
    kw = geofences.load(write(tmp_path, mutated(lambda d: d["patrol"].update(altitude_m=value))))
    assert kw.patrol.altitude_m == value


@pytest.mark.parametrize(
    ("key", "value"), [("side_overlap", 0.95), ("side_overlap", -0.1), ("front_overlap", 1.0)]
)
def test_overlap_outside_0_to_095(tmp_path: Path, key: str, value: float) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update({key: value}))
    assert err.field == f"patrol.{key}"


@pytest.mark.parametrize("value", [0, -3, 20.5])
def test_speed_outside_0_to_20(tmp_path: Path, value: float) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(speed_m_s=value))
    assert err.field == "patrol.speed_m_s"
    assert "20 m/s" in err.problem


def test_empty_water_geometry(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["water"].update(coordinates=[]))
    assert err.field == "water.coordinates"
    assert "empty" in err.problem


def test_empty_multipolygon(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d.update(water={"type": "MultiPolygon", "coordinates": []}))
    assert "empty" in err.problem


def test_unknown_pattern_lists_the_valid_ones(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(pattern="spiral"))
    assert err.field == "patrol.pattern"
    for name in geofences.PATTERNS:
        assert name in err.problem


def test_unknown_camera_preset_lists_the_valid_ones(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(camera="gopro"))
    assert err.field == "patrol.camera"
    for name in geofences.PRESETS:
        assert name in err.problem


def test_custom_camera_missing_a_field(tmp_path: Path) -> None:
    cam = {
        "sensor_width_mm": 6.4,
        "sensor_height_mm": 3.6,
        "focal_length_mm": 4.5,
        "image_width_px": 1920,
    }
    err = fails_doc(tmp_path, lambda d: d["patrol"].update(camera=cam))
    assert err.field == "patrol.camera"
    assert "image_height_px" in err.problem


def test_geojson_feature_pasted_as_water(tmp_path: Path) -> None:
    err = fails_doc(
        tmp_path,
        lambda d: d.update(water={"type": "Feature", "properties": {}, "geometry": d["water"]}),
    )
    assert err.field == "water"
    assert "'geometry' member" in err.problem


def test_point_given_as_water(tmp_path: Path) -> None:
    err = fails_doc(
        tmp_path, lambda d: d.update(water={"type": "Point", "coordinates": [115.78, 29.23]})
    )
    assert err.field == "water.type"
    assert "Polygon" in err.problem


def test_missing_water(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d.pop("water"))
    assert "'water'" in err.problem


def test_missing_launch(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d.pop("launch"))
    assert "'launch'" in err.problem


def test_hotspot_far_from_the_water(tmp_path: Path) -> None:
    err = fails_doc(
        tmp_path, lambda d: d["hotspots"][0]["geometry"].update(coordinates=[115.9, 29.3])
    )
    assert err.field == "hotspots[0].geometry"


def test_hotspot_line_with_one_position(tmp_path: Path) -> None:
    def line(d: dict[str, Any]) -> None:
        d["hotspots"][0]["geometry"] = {"type": "LineString", "coordinates": [[115.78, 29.23]]}

    err = fails_doc(tmp_path, line)
    assert err.field == "hotspots[0].geometry.coordinates"


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing yet\n")
    assert "empty" in fails(path).problem


def test_top_level_list(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- water\n- launch\n")
    assert "mapping" in fails(path).problem


def test_missing_file(tmp_path: Path) -> None:
    assert "no such file" in fails(tmp_path / "nope.yaml").problem


def test_folder_instead_of_file(tmp_path: Path) -> None:
    folder = tmp_path / "dir.yaml"
    folder.mkdir()
    assert "folder" in fails(folder).problem


def test_unknown_suffix(tmp_path: Path) -> None:
    path = tmp_path / "lake.kml"
    path.write_text("<kml/>")
    assert ".yaml" in fails(path).problem


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes("name: Lac Léman\n".encode("latin-1"))
    assert "UTF-8" in fails(path).problem


def test_yaml_python_tags_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("id: !!python/object/apply:os.system ['echo hi']\n")
    assert "YAML" in fails(path).problem


def test_bad_id(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d.update(id="lake one/two"))
    assert err.field == "id"


def test_priority_out_of_range(tmp_path: Path) -> None:
    err = fails_doc(tmp_path, lambda d: d.update(priority=0))
    assert err.field == "priority"


def test_yaml_alias_bomb_fails_fast(tmp_path: Path) -> None:
    # Nine levels of nine aliases each would be 387 million leaves if walked naively.
    lines = ["l0: &l0 [1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7.5, 8.5, 9.5]"]
    for k in range(1, 10):
        lines.append(f"l{k}: &l{k} [" + ", ".join([f"*l{k - 1}"] * 9) + "]")
    lines.append("water: {type: Polygon, coordinates: *l9}")
    lines.append("launch: {lat: 29.2, lon: 115.8}")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    err = fails(path)
    assert err.field == "l0"  # the first unknown key, found without expanding the aliases


def test_deep_nesting_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("water: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested too deeply" in fails(path).problem
