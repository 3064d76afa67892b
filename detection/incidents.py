"""Findings -> incidents: one incident per person or group, opened once, updated, closed.

Pure computation. ``IncidentTracker.update`` returns incident snapshots whose
``status`` says what happened in this frame: ``open`` (new), ``update`` (a
material change: a worse type or severity at once; a different head count or a
move of more than ``move_m``, at most every ``min_update_s``) or ``closed``
(not seen for ``RuleSettings.incident_close_s``). A person incident escalates
from ``person_in_water`` to ``distress`` and never goes back; severity only
rises. A track that the tracker lost and found again under a new id, close to
where an incident's person was, continues that incident. A finding about an
earlier frame (``Finding.seen_t``: a group confirmed once the camera had passed
it) takes its evidence from that frame.

The station turns these plain objects into alerts; nothing here imports it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from detection.rules import SEVERITY_ORDER, Finding, IncidentType, Severity
from geofences.model import RuleSettings

Status = Literal["open", "update", "closed"]
_TYPE_ORDER: dict[str, int] = {"gathering": 0, "person_in_water": 1, "distress": 2}
_RELINK_M = 15.0  # a new track this close to a person incident whose track vanished is that person
_FRAMES_KEPT = 256  # recent (time, frame index) pairs, for findings about an earlier frame


@dataclass(frozen=True)
class Incident:
    """An incident as it stands at one event."""

    id: str
    type: IncidentType
    severity: Severity
    status: Status
    lat: float | None
    lon: float | None
    uncertainty_m: float | None
    people: int
    first_seen: float  # UNIX s
    last_seen: float
    confidence: float
    track_ids: tuple[int, ...]
    evidence_frame: int  # the frame this event's evidence comes from
    evidence_t: float
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Active:
    incident: Incident
    key: str
    x_m: float | None
    y_m: float | None
    reported_at: float  # when the last open/update event went out
    reported_people: int
    reported_xy: tuple[float, float] | None


class IncidentTracker:
    def __init__(
        self,
        settings: RuleSettings,
        *,
        id_prefix: str = "inc",
        min_update_s: float = 5.0,
        move_m: float = 10.0,
    ) -> None:
        self.close_s = settings.incident_close_s
        self.id_prefix = id_prefix
        self.min_update_s = min_update_s
        self.move_m = move_m
        self._active: dict[str, _Active] = {}  # by finding key
        self._count = 0
        self._frames: deque[tuple[float, int]] = deque(maxlen=_FRAMES_KEPT)

    @property
    def active(self) -> list[Incident]:
        return [a.incident for a in self._active.values()]

    def update(self, t: float, frame_index: int, findings: Sequence[Finding]) -> list[Incident]:
        events: list[Incident] = []
        self._frames.append((t, frame_index))
        seen = {f.key for f in findings}
        for f in findings:
            act = self._active.get(f.key) or self._relink(f, seen)
            evidence = self._evidence(t, frame_index, f)
            if act is None:
                events.append(self._open(t, evidence, f))
            elif (ev := self._refresh(act, t, evidence, f)) is not None:
                events.append(ev)
        for key, act in list(self._active.items()):
            if t - act.incident.last_seen >= self.close_s:
                del self._active[key]
                events.append(replace(act.incident, status="closed"))
        return events

    def close_all(self) -> list[Incident]:
        """Close what is still open (the end of a run)."""
        events = [replace(a.incident, status="closed") for a in self._active.values()]
        self._active.clear()
        return events

    def _evidence(self, t: float, frame_index: int, f: Finding) -> tuple[float, int]:
        """(time, frame index) of the frame the finding is about."""
        if f.seen_t is None:
            return t, frame_index
        for ft, fi in reversed(self._frames):
            if ft <= f.seen_t:
                return ft, fi
        return t, frame_index  # older than what is kept: the frame that found it

    def _open(self, t: float, evidence: tuple[float, int], f: Finding) -> Incident:
        self._count += 1
        inc = Incident(
            id=f"{self.id_prefix}-{self._count:04d}",
            type=f.kind,
            severity=f.severity,
            status="open",
            lat=f.lat,
            lon=f.lon,
            uncertainty_m=f.uncertainty_m,
            people=f.people,
            first_seen=t,
            last_seen=t,
            confidence=f.confidence,
            track_ids=f.track_ids,
            evidence_frame=evidence[1],
            evidence_t=evidence[0],
            reason=f.reason,
        )
        xy = (f.x_m, f.y_m) if f.x_m is not None and f.y_m is not None else None
        self._active[f.key] = _Active(inc, f.key, f.x_m, f.y_m, t, f.people, xy)
        return inc

    def _relink(self, f: Finding, seen: set[str]) -> _Active | None:
        """A person incident whose track is gone this frame, near the new track's point."""
        if f.kind == "gathering" or f.x_m is None or f.y_m is None:
            return None
        best, best_d = None, _RELINK_M
        for act in self._active.values():
            inc = act.incident
            if inc.type == "gathering" or act.key in seen or act.x_m is None or act.y_m is None:
                continue
            d = math.hypot(act.x_m - f.x_m, act.y_m - f.y_m)
            if d <= best_d:
                best, best_d = act, d
        if best is not None:
            del self._active[best.key]
            best.key = f.key
            self._active[f.key] = best
        return best

    def _refresh(
        self, act: _Active, t: float, evidence: tuple[float, int], f: Finding
    ) -> Incident | None:
        old = act.incident
        kind = f.kind if _TYPE_ORDER[f.kind] > _TYPE_ORDER[old.type] else old.type
        severity = (
            f.severity
            if SEVERITY_ORDER[f.severity] > SEVERITY_ORDER[old.severity]
            else old.severity
        )
        track_ids = tuple(sorted(set(old.track_ids) | set(f.track_ids)))
        where = (
            dict(lat=f.lat, lon=f.lon, uncertainty_m=f.uncertainty_m) if f.lat is not None else {}
        )
        new = replace(
            old,
            type=kind,
            severity=severity,
            people=f.people,
            last_seen=t,
            confidence=max(old.confidence, f.confidence),
            track_ids=track_ids,
            **where,
        )
        if f.x_m is not None:
            act.x_m, act.y_m = f.x_m, f.y_m
        escalated = kind != old.type or severity != old.severity
        moved = (
            act.reported_xy is not None
            and act.x_m is not None
            and act.y_m is not None
            and math.hypot(act.x_m - act.reported_xy[0], act.y_m - act.reported_xy[1]) > self.move_m
        )
        changed = f.people != act.reported_people or moved
        due = t - act.reported_at >= self.min_update_s
        if escalated or (changed and due):
            new = replace(
                new,
                status="update",
                reason=f.reason if escalated else old.reason,
                evidence_frame=evidence[1],
                evidence_t=evidence[0],
            )
            act.reported_at, act.reported_people = t, f.people
            act.reported_xy = (act.x_m, act.y_m) if act.x_m is not None else act.reported_xy
            act.incident = new
            return new
        act.incident = new
        return None
