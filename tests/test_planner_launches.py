"""Honest coverage of every part, several launch points, and optimal sortie cuts."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml
from shapely.geometry import LineString

import geofences
from benchmarks import waters
from geofences.projection import LocalProjection
from mission.errors import PlanningError
from mission.export import summary
from mission.planner import plan
from mission.planning import bounds, sorties
from mission.planning.types import Leg


def test_every_part_of_a_multipolygon_water_is_flown() -> None:
    kw = waters.two_ponds()
    mp = plan(kw)
    assert mp.summary.coverage_pct >= 99.5  # of both ponds, not only the near one
    proj = LocalProjection.around(kw.launch.lat, kw.launch.lon)
    east = proj.geom_to_m(kw.water).geoms[1]
    flown = [LineString([proj.to_xy(*p) for p in s.path_lonlat]) for s in mp.sorties]
    assert sum(line.intersection(east).length for line in flown) > east.area / 60.0
    assert mp.summary.unplanned == ()


def test_water_beyond_the_endurance_is_an_error_that_suggests_a_launch() -> None:
    kw = waters.big_lake(area_km2=30.0, islands=5, endurance_min=12.0)
    with pytest.raises(PlanningError) as info:
        plan(kw)
    text = str(info.value)
    assert "beyond the reach of the usable endurance" in text
    assert "add a launch point on the bank near lat 29." in text
    assert "--allow-partial" in text


def test_allow_partial_names_the_unplanned_water_in_summary_and_json() -> None:
    kw = waters.big_lake(area_km2=30.0, islands=5, endurance_min=12.0)
    mp = plan(kw, allow_partial=True)
    left = mp.summary.unplanned
    assert left and all(u.part == 1 and u.area_km2 > 0 for u in left)
    # Coverage is of all of the water: what is left out is missing from it.
    area = mp.summary.area_km2
    assert mp.summary.coverage_pct <= 100.0 * (1 - sum(u.area_km2 for u in left) / area) + 1.0
    assert "NOT PLANNED" in summary.as_text(mp)
    assert summary.as_dict(mp)["summary"]["unplanned"][0]["reason"] == left[0].reason


def test_a_second_launch_serves_the_far_water() -> None:
    one = waters.big_lake(area_km2=30.0, islands=5, endurance_min=12.0)
    two = waters.big_lake(area_km2=30.0, islands=5, endurance_min=12.0, launches=2)
    left_one = sum(u.area_km2 for u in plan(one, allow_partial=True).summary.unplanned)
    mp = plan(two, allow_partial=True)
    assert sum(u.area_km2 for u in mp.summary.unplanned) < left_one
    assert {s.launch for s in mp.sorties} == {0, 1}
    for s in mp.sorties:
        lat, lon, _ = mp.launches[s.launch]
        assert (s.items[0].lat, s.items[0].lon) == pytest.approx((lat, lon))
        assert s.home == mp.launches[s.launch]
    assert len(mp.rally) == 2


def test_optimal_cut_needs_no_more_sorties_than_the_greedy_one() -> None:
    # Two lanes out and back from a launch: cutting mid-lane where the battery ends
    # (greedy) and the shortest path over cut points must agree on a simple case.
    kw = waters.meandering_river(endurance_min=20.0)
    mp = plan(kw)
    assert mp.summary.sorties <= 4
    assert all(s.est_flight_s <= kw.vehicle.usable_s + 1e-6 for s in mp.sorties)
    assert mp.summary.lower_bound_sorties <= mp.summary.sorties


def test_lower_bound_is_below_the_plan() -> None:
    lanes = [Leg(((0.0, 100.0 * k), (3000.0, 100.0 * k)), "lane") for k in range(6)]
    lb = bounds.lower_bound(lanes, ((-50.0, 0.0),), 10.0, 900.0)
    assert lb.sorties == 3  # 18 km of lanes, 9 km range less 2 x 50 m
    assert lb.path_m == pytest.approx(18000.0 + 3 * 2 * 50.0)
    # Lanes farther than half the range are out of reach and not counted.
    far = [Leg(((0.0, 0.0), (6000.0, 0.0)), "lane")]
    assert bounds.lower_bound(far, ((0.0, 0.0),), 10.0, 900.0).path_m < 6000.0


def test_cut_lanes_keeps_every_metre() -> None:
    leg = Leg(((0.0, 0.0), (250.0, 0.0), (250.0, 130.0)), "lane")
    pieces = sorties.cut_lanes([leg], 100.0)
    assert all(len(p.points) >= 2 for p in pieces)
    total = sum(sorties.path_length(p.points) for p in pieces)
    assert total == pytest.approx(380.0)
    assert max(sorties.path_length(p.points) for p in pieces) <= 100.0 + 1e-6


def test_key_water_file_with_a_list_of_launch_points(tmp_path: Path) -> None:
    src = geofences.sample_paths()[0]
    doc = yaml.safe_load(Path(src).read_text()) if str(src).endswith(".yaml") else None
    if doc is None:
        pytest.skip("first sample is not YAML")
    lp = doc["launch"]
    doc["launch"] = [lp, {**lp, "name": "north dock"}]
    path = tmp_path / "two.yaml"
    path.write_text(yaml.safe_dump(doc))
    kw = geofences.load(path)
    assert len(kw.launches) == 2 and kw.launches[1].name == "north dock"
    doc["launch"] = [lp, {**lp, "lat": 95.0}]
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(geofences.GeofenceError) as info:
        geofences.load(path)
    assert "launch[1].lat" in str(info.value)


def test_single_launch_plan_keeps_its_shape() -> None:
    kw = geofences.load(geofences.sample_paths()[0])
    mp = plan(kw)
    assert mp.launches == (mp.home,)
    assert all(s.launch == 0 and s.home == mp.home for s in mp.sorties)
    assert replace(kw).launches == (kw.launch,)
