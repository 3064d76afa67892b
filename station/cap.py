"""Alert -> OASIS CAP 1.2 XML. Pure: builds a string, validates nothing (tests use the XSD).

An incident's alerts map to CAP messages: ``open`` -> Alert, ``update`` ->
Update and ``closed`` -> Cancel, the last two referencing the incident's first
alert as ``sender,identifier,sent``. There is one ``<info>`` per language.
"""

from __future__ import annotations

import mimetypes
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from station.model import Alert, AlertStatus, AlertType, Severity, event_name

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
DEFAULT_SENDER = "waterpatrol"

_MSG_TYPE = {
    AlertStatus.OPEN: "Alert",
    AlertStatus.UPDATE: "Update",
    AlertStatus.CLOSED: "Cancel",
}
_CATEGORY = {
    AlertType.PERSON_IN_WATER: "Rescue",
    AlertType.DISTRESS: "Rescue",
    AlertType.GATHERING: "Safety",
}
_URGENCY = {
    AlertType.PERSON_IN_WATER: "Immediate",
    AlertType.DISTRESS: "Immediate",
    AlertType.GATHERING: "Expected",
}
_RESPONSE = {
    AlertType.PERSON_IN_WATER: "Execute",
    AlertType.DISTRESS: "Execute",
    AlertType.GATHERING: "Monitor",
}
_SEVERITY = {
    Severity.CRITICAL: "Extreme",
    Severity.HIGH: "Severe",
    Severity.MEDIUM: "Moderate",
    Severity.LOW: "Minor",
}
_LANGUAGES = (("zh", "zh-CN"), ("en", "en-US"))


def cap_time(t: datetime) -> str:
    """CAP's dateTime form: whole seconds with an explicit offset (``+00:00``, never ``Z``)."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def certainty(confidence: float) -> str:
    if confidence >= 0.8:
        return "Observed"
    if confidence >= 0.5:
        return "Likely"
    return "Possible"


def to_cap_xml(alert: Alert, sender: str = DEFAULT_SENDER) -> str:
    """The alert as a CAP 1.2 ``<alert>`` document (UTF-8 XML text with declaration)."""
    root = ET.Element(f"{{{CAP_NS}}}alert")
    _add(root, "identifier", alert.id)
    _add(root, "sender", sender)
    _add(root, "sent", cap_time(alert.sent_at))
    _add(root, "status", "Test" if alert.is_test else "Actual")
    _add(root, "msgType", _MSG_TYPE[alert.status])
    _add(root, "source", f"waterpatrol drone {alert.vehicle_id}")
    _add(root, "scope", "Restricted")
    _add(root, "restriction", "Police dispatch only")
    if alert.first_alert_id is not None and alert.first_sent_at is not None:
        _add(root, "references", f"{sender},{alert.first_alert_id},{cap_time(alert.first_sent_at)}")
    _add(root, "incidents", alert.incident_id)
    for lang, tag in _LANGUAGES:
        _add_info(root, alert, lang, tag)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode", default_namespace=CAP_NS)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _add_info(root: ET.Element, alert: Alert, lang: str, tag: str) -> None:
    closed = alert.status is AlertStatus.CLOSED
    info = _add(root, "info")
    _add(info, "language", tag)
    _add(info, "category", _CATEGORY[alert.type])
    _add(info, "event", event_name(alert.type, lang))
    _add(info, "responseType", "AllClear" if closed else _RESPONSE[alert.type])
    _add(info, "urgency", "Past" if closed else _URGENCY[alert.type])
    _add(info, "severity", _SEVERITY[alert.severity])
    _add(info, "certainty", certainty(alert.confidence))
    code = _add(info, "eventCode")  # the machine-readable type, for receivers
    _add(code, "valueName", "waterpatrol")
    _add(code, "value", str(alert.type))
    _add(info, "onset", cap_time(alert.observed_at))
    _add(info, "senderName", f"waterpatrol {alert.vehicle_id}")
    _add(info, "headline", f"{event_name(alert.type, lang)}: {alert.water_name}"[:160])
    _add(info, "description", alert.text_zh if lang == "zh" else alert.text_en)
    for name, value in (
        ("vehicleId", alert.vehicle_id),
        ("missionId", alert.mission_id),
        ("waterId", alert.water_id),
        ("people", str(alert.people)),
        ("confidence", f"{alert.confidence:.3f}"),
        ("observedAt", alert.to_dict()["observed_at"]),
    ):
        param = _add(info, "parameter")
        _add(param, "valueName", name)
        _add(param, "value", value)
    if alert.evidence is not None:
        # CAP's <digest> is defined as SHA-1; the SHA-256 travels as a parameter instead.
        param = _add(info, "parameter")
        _add(param, "valueName", "evidenceSha256")
        _add(param, "value", alert.evidence.sha256)
        res = _add(info, "resource")
        _add(res, "resourceDesc", "evidence image")
        mime = mimetypes.guess_type(alert.evidence.path)[0] or "application/octet-stream"
        _add(res, "mimeType", mime)
        _add(res, "size", str(alert.evidence.size_bytes))
    area = _add(info, "area")
    _add(area, "areaDesc", alert.water_name)  # the whole water when the position is unknown
    if alert.lat is not None and alert.lon is not None and alert.radius_m is not None:
        radius_km = alert.radius_m / 1000.0  # CAP circles: "lat,lon radius_km"
        _add(area, "circle", f"{alert.lat:.7f},{alert.lon:.7f} {radius_km:.4f}")


def _add(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    el = ET.SubElement(parent, f"{{{CAP_NS}}}{name}")
    if text is not None:
        el.text = text
    return el
