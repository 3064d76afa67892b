"""One sample alert for the station tests: plain values, changed per test as needed."""

from __future__ import annotations

from station.model import Alert

SAMPLE = dict(
    type="person_in_water",
    lat=29.25,
    lon=115.78,
    radius_m=5.0,
    people=1,
    observed_at="2025-06-01T08:30:00Z",
    vehicle_id="uav-1",
    mission_id="m-1",
    water_id="xihu",
    water_name="西湖",
    confidence=0.9,
)


def sample_alert(incident: str = "inc-1", **changes: object) -> Alert:
    return Alert(incident_id=incident, **{**SAMPLE, **changes})  # type: ignore[arg-type]
