"""Plan summary: the --json dict and the operator's text carry the plan's numbers."""

from __future__ import annotations

import json
from dataclasses import asdict

from mission.export.summary import as_dict, as_line, as_text, format_duration
from tests.test_export_samples import FENCE_EXCLUSION_M, FENCE_INCLUSION_M, sample_plan


def test_dict_is_json_and_carries_the_numbers() -> None:
    plan = sample_plan()
    d = json.loads(json.dumps(as_dict(plan), allow_nan=False))
    summary = dict(d["summary"])
    assert summary.pop("bound_ratio") == plan.summary.bound_ratio
    assert summary == json.loads(json.dumps(asdict(plan.summary)))
    assert d["key_water"] == {"id": plan.key_water_id, "name": plan.key_water_name}
    assert [s["items"] for s in d["sorties"]] == [len(s.items) for s in plan.sorties]
    want_wps = [sum(1 for it in s.items[1:] if it.has_position) for s in plan.sorties]
    assert [s["waypoints"] for s in d["sorties"]] == want_wps
    assert d["fence"] == {
        "items": len(plan.fence),
        "inclusion_polygons": 1,
        "exclusion_polygons": 1,
        "circles": 0,
        "vertices": len(FENCE_INCLUSION_M) + len(FENCE_EXCLUSION_M),
    }
    assert d["rally_points"] == len(plan.rally)
    assert d["fence_params"] == plan.fence_params


def test_text_shows_each_figure() -> None:
    plan = sample_plan(3)
    s = plan.summary
    text = as_text(plan)
    for figure in (
        f"area {s.area_km2:.2f} km²",
        f"path {s.path_km:.1f} km",
        f"lanes {s.lanes}",
        f"turns {s.turns}",
        f"in {s.sorties} sorties",
        f"coverage {s.coverage_pct:.1f} %",
        f"line spacing {s.line_spacing_m:.1f} m",
        f"GSD {s.gsd_cm:.1f} cm/px",
        format_duration(s.est_flight_s),
    ):
        assert figure in text
    for sortie in plan.sorties:
        assert f"sortie {sortie.index}: {len(sortie.items)} items" in text
    assert "\n" not in as_line(plan) and f"{s.lanes} lanes" in as_line(plan)


def test_duration_format() -> None:
    for seconds in (0, 59.4, 61, 3599, 3600, 5432.6):
        text = format_duration(seconds)
        total = round(seconds)
        if total >= 3600:
            assert text == f"{total // 3600} h {total % 3600 // 60:02d} min"
        else:
            assert text == f"{total // 60} min {total % 60:02d} s"
