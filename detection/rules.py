"""Danger and gathering rules over tracked, georeferenced people. Pure computation.

Per frame the pipeline hands ``RuleEngine.update`` the people it saw
(``Observation``: a track, its box and keypoints, and its ground point when the
pose was known). The engine keeps a little state per track and per group and
returns ``Finding``s: conditions that hold now. ``incidents.IncidentTracker``
turns findings into incidents that open, update and close.

Rules (thresholds from ``geofences.model.RuleSettings``; defaults documented there
and in geofences/README.md):

- ``person_in_water``: a track whose ground point is on the water, at least
  ``shore_margin_m`` from any bank (islands included), in ``in_water_frames``
  consecutive observations. Severity high; critical within a hotspot's radius.
- ``distress`` (critical): both wrists beyond the head along the body axis in
  ``distress_frames`` consecutive observations with usable keypoints; or a
  person in the water whose ground points stay within ``still_radius_m`` for
  ``still_seconds``.
- ``gathering``: at least ``gathering_min_people`` people within
  ``gathering_radius_m`` of each other (DBSCAN on ground points), held for
  ``gathering_hold_s`` or for as long as the camera could watch them (below).
  Severity high when one of them is on the water, medium when the group is
  within ``SHORE_BAND_M`` of the waterline, low elsewhere.

Why a gathering has two ways to be held: the hold assumes a camera that watches
the group for ``gathering_hold_s`` (a hovering or slow drone, a mast camera). A
drone passing at patrol speed has the whole group in view for a few seconds at
most, so no pass could satisfy the operator's hold. With the frame's ground
footprint (``update(..., footprint=)``) the engine knows when the camera's view
of a group ended: its centre left the footprint. A group found in at least
``gathering_min_frames`` frames of that view, and missed in no more than
``GROUP_MISSED_FRAMES`` frames in a row that had all of it in view (a detector's
miss, not a group that dispersed in front of the camera), was held for as long
as the camera could watch it, and is confirmed then. One or two glimpses, or a
group that broke up while in view, are not. Without a footprint (no pose) only
the hold applies.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import shapely
from scipy.spatial import cKDTree

from detection.georef import GroundPoint
from geofences.model import KeyWater, RuleSettings
from geofences.projection import LocalProjection

IncidentType = Literal["person_in_water", "distress", "gathering"]
Severity = Literal["low", "medium", "high", "critical"]
SEVERITY_ORDER: dict[str, int] = {"low": 0, "medium": 1, "high": 2, "critical": 3}

SHORE_BAND_M = 15.0  # a group this close to the waterline (either side) is "at the shore"
KEYPOINT_MIN_CONF = 0.5
GROUP_GRACE_S = 2.0  # a group missing from a frame or two keeps its hold time
# Frames in a row with a whole group in the footprint but not found that are still a
# detector's misses; one more and the group dispersed in view (its pass no longer counts).
GROUP_MISSED_FRAMES = 2

# COCO keypoint indices
_HEAD = (0, 1, 2, 3, 4)
_SHOULDERS = (5, 6)
_WRISTS = (9, 10)
_HIPS = (11, 12)


@dataclass(frozen=True)
class Observation:
    """One person in one frame."""

    track_id: int | None
    confidence: float
    box_xyxy: tuple[float, float, float, float]
    keypoints: np.ndarray | None = field(default=None, compare=False)  # (17, 3) x, y, conf
    ground: GroundPoint | None = None


@dataclass(frozen=True)
class Finding:
    """A rule that holds in this frame, for one track or one group."""

    kind: IncidentType
    key: str  # "track:<id>" or "group:<n>": what keeps one incident one incident
    severity: Severity
    people: int
    track_ids: tuple[int, ...]
    confidence: float
    reason: str
    # where: a person's ground point, a group's centroid; None when the pose was unknown
    lat: float | None = None
    lon: float | None = None
    x_m: float | None = None  # local metres (the projection the pipeline shares)
    y_m: float | None = None
    uncertainty_m: float | None = None
    # when what is found was last seen, when earlier than this frame (a group confirmed once
    # the camera had passed it); None: in this frame
    seen_t: float | None = None


@dataclass(frozen=True)
class WaterArea:
    """The key water in local metres, prepared for point tests."""

    water_m: shapely.Geometry  # holes are islands
    open_water_m: shapely.Geometry  # the water less the shore margin
    hotspots_m: tuple[tuple[str, shapely.Geometry, float], ...]  # name, geometry, radius

    @classmethod
    def from_keywater(
        cls, kw: KeyWater, projection: LocalProjection, shore_margin_m: float | None = None
    ) -> WaterArea:
        margin = kw.rules.shore_margin_m if shore_margin_m is None else shore_margin_m
        water = projection.geom_to_m(kw.water)
        open_water = water.buffer(-margin) if margin > 0 else water
        shapely.prepare(water)
        shapely.prepare(open_water)
        spots = tuple((h.name, projection.geom_to_m(h.geometry), h.radius_m) for h in kw.hotspots)
        return cls(water, open_water, spots)

    def on_open_water(self, x_m: float, y_m: float) -> bool:
        return bool(shapely.contains_xy(self.open_water_m, x_m, y_m))

    def shore_distance_m(self, x_m: float, y_m: float) -> float:
        return float(shapely.distance(self.water_m.boundary, shapely.Point(x_m, y_m)))

    def hotspot_near(self, x_m: float, y_m: float) -> str | None:
        p = shapely.Point(x_m, y_m)
        for name, geom, radius in self.hotspots_m:
            if shapely.distance(geom, p) <= radius:
                return name
        return None


def _where(g: GroundPoint | None) -> dict[str, float | None]:
    if g is None:
        return {}
    return dict(lat=g.lat, lon=g.lon, x_m=g.x_m, y_m=g.y_m, uncertainty_m=g.uncertainty_m)


def arms_raised(keypoints: np.ndarray | None) -> bool | None:
    """Both wrists beyond the head along the body axis; None when the keypoints cannot tell.

    The axis runs from the hips to the shoulders (image up when the hips are
    not visible), so a person seen lying in the water from above counts too.
    """
    if keypoints is None or len(keypoints) < 17:
        return None
    kp = np.asarray(keypoints, dtype=float)
    ok = kp[:, 2] >= KEYPOINT_MIN_CONF
    if not (ok[list(_SHOULDERS)].all() and ok[list(_WRISTS)].all() and ok[list(_HEAD)].any()):
        return None
    shoulders = kp[list(_SHOULDERS), :2].mean(axis=0)
    head = kp[[i for i in _HEAD if ok[i]], :2].mean(axis=0)
    if ok[list(_HIPS)].all():
        axis = shoulders - kp[list(_HIPS), :2].mean(axis=0)
    else:
        axis = np.array([0.0, -1.0])
    norm = float(np.linalg.norm(axis))
    if norm < 1e-6:
        return None
    axis /= norm
    head_h = float((head - shoulders) @ axis)
    if head_h <= 0:  # head not above the shoulders: a pose we cannot read
        return None
    return all(float((kp[i, :2] - shoulders) @ axis) > head_h for i in _WRISTS)


def dbscan(points: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN labels (-1 = noise) of (n, 2) points; neighbourhoods include the point itself."""
    n = len(points)
    labels = np.full(n, -1, dtype=int)
    if n == 0:
        return labels
    neighbours = cKDTree(points).query_ball_point(points, r=eps)
    core = np.array([len(nb) >= min_samples for nb in neighbours])
    cluster = 0
    for i in range(n):
        if not core[i] or labels[i] != -1:
            continue
        labels[i] = cluster
        stack = [i]
        while stack:
            j = stack.pop()
            for k in neighbours[j]:
                if labels[k] == -1:
                    labels[k] = cluster
                    if core[k]:
                        stack.append(k)
        cluster += 1
    return labels


@dataclass
class _Track:
    in_water: int = 0  # consecutive observations on open water
    raised: int = 0  # consecutive readable observations with arms raised
    last_t: float = 0.0
    history: deque[tuple[float, float, float]] = field(default_factory=deque)  # t, x, y on water
    confidences: deque[float] = field(default_factory=lambda: deque(maxlen=10))


@dataclass
class _Group:
    id: int
    first_t: float
    last_t: float
    track_ids: frozenset[int]
    x_m: float
    y_m: float
    members: tuple[Observation, ...]  # its last sighting
    frames: int = 0  # sightings in the camera's current view of it
    missed: int = 0  # frames in a row with all of it in the footprint but not found
    confirmed: bool = False


class RuleEngine:
    """Holds per-track and per-group state; ``update`` once per processed frame."""

    def __init__(self, settings: RuleSettings, area: WaterArea | None) -> None:
        self.settings = settings
        self.area = area
        self._tracks: dict[int, _Track] = {}
        self._groups: list[_Group] = []
        self._next_group = 1

    def update(
        self,
        t: float,
        observations: Sequence[Observation],
        footprint: shapely.Geometry | None = None,
    ) -> list[Finding]:
        """What holds at frame time ``t``. ``footprint``: the ground the frame covers, in the
        same local metres as the observations' ground points (None: unknown, no pose)."""
        findings = [f for o in observations if (f := self._person(t, o)) is not None]
        findings += self._gatherings(t, observations)
        if footprint is not None:
            findings += self._watched(t, footprint)
        self._expire(t)
        return findings

    # people

    def _person(self, t: float, obs: Observation) -> Finding | None:
        if obs.track_id is None:
            return None
        s = self.settings
        tr = self._tracks.setdefault(obs.track_id, _Track())
        tr.last_t = t
        tr.confidences.append(obs.confidence)
        g = obs.ground
        on_water = g is not None and self.area is not None and self.area.on_open_water(g.x_m, g.y_m)
        tr.in_water = tr.in_water + 1 if on_water else 0
        if on_water:
            assert g is not None
            tr.history.append((t, g.x_m, g.y_m))
            while tr.history and tr.history[0][0] < t - s.still_seconds - 1.0:
                tr.history.popleft()
        else:
            tr.history.clear()
        raised = arms_raised(obs.keypoints)
        if raised is not None:
            tr.raised = tr.raised + 1 if raised else 0

        conf = float(np.mean(tr.confidences))
        common = dict(
            key=f"track:{obs.track_id}",
            people=1,
            track_ids=(obs.track_id,),
            confidence=conf,
            **_where(g),
        )
        if tr.raised >= s.distress_frames:
            return Finding("distress", severity="critical", reason="arms raised", **common)
        if tr.in_water >= s.in_water_frames and self._still(tr):
            why = f"still in the water for {s.still_seconds:g} s"
            return Finding("distress", severity="critical", reason=why, **common)
        if tr.in_water >= s.in_water_frames:
            assert g is not None and self.area is not None
            spot = self.area.hotspot_near(g.x_m, g.y_m)
            if spot is not None:
                why = f"in the water near hotspot {spot}"
                return Finding("person_in_water", severity="critical", reason=why, **common)
            return Finding("person_in_water", severity="high", reason="in the water", **common)
        return None

    def _still(self, tr: _Track) -> bool:
        s = self.settings
        h = tr.history
        if len(h) < 2 or h[-1][0] - h[0][0] < s.still_seconds:
            return False
        xy = np.array([(x, y) for _, x, y in h])
        return bool(np.linalg.norm(xy - np.median(xy, axis=0), axis=1).max() <= s.still_radius_m)

    # groups

    def _gatherings(self, t: float, observations: Sequence[Observation]) -> list[Finding]:
        s = self.settings
        placed = [o for o in observations if o.ground is not None]
        if len(placed) < s.gathering_min_people:
            return []
        pts = np.array([(o.ground.x_m, o.ground.y_m) for o in placed])  # type: ignore[union-attr]
        labels = dbscan(pts, s.gathering_radius_m, s.gathering_min_people)
        findings = []
        for label in sorted(set(labels.tolist()) - {-1}):
            members = tuple(o for o, lab in zip(placed, labels, strict=True) if lab == label)
            if len(members) < s.gathering_min_people:
                continue
            cx, cy = pts[labels == label].mean(axis=0)
            group = self._match_group(t, members, float(cx), float(cy))
            if t - group.first_t >= s.gathering_hold_s:
                group.confirmed = True
            if group.confirmed:
                findings.append(self._group_finding(group))
        return findings

    def _match_group(
        self, t: float, members: tuple[Observation, ...], x: float, y: float
    ) -> _Group:
        ids = frozenset(o.track_id for o in members if o.track_id is not None)
        best, best_score = None, 0.0
        for g in self._groups:
            if g.last_t == t:  # already taken by another cluster in this frame
                continue
            shared = len(ids & g.track_ids) / max(1, len(ids | g.track_ids))
            near = math.hypot(g.x_m - x, g.y_m - y) <= self.settings.gathering_radius_m
            score = shared + (0.5 if near else 0.0)
            if score > best_score:
                best, best_score = g, score
        if best is None:
            best = _Group(self._next_group, t, t, ids, x, y, members)
            self._next_group += 1
            self._groups.append(best)
        best.last_t, best.track_ids, best.x_m, best.y_m, best.members = t, ids, x, y, members
        best.frames += 1
        best.missed = 0
        return best

    def _watched(self, t: float, footprint: shapely.Geometry) -> list[Finding]:
        """Groups not found in this frame: confirmed when the camera's view of them ended
        after it watched them throughout (see the module's docstring)."""
        findings = []
        for g in self._groups:
            if g.last_t == t or g.confirmed:
                continue
            if not shapely.contains_xy(footprint, g.x_m, g.y_m):  # the view of it ended
                if g.frames >= self.settings.gathering_min_frames:
                    g.confirmed = True
                    findings.append(self._group_finding(g, seen_t=g.last_t))
                g.frames = 0  # a later view is a new pass
                continue
            xy = np.array([(o.ground.x_m, o.ground.y_m) for o in g.members])  # type: ignore[union-attr]
            if shapely.contains_xy(footprint, xy[:, 0], xy[:, 1]).all():
                g.missed += 1
                if g.missed > GROUP_MISSED_FRAMES:  # dispersed in full view
                    g.frames = 0
        return findings

    def _group_finding(self, group: _Group, seen_t: float | None = None) -> Finding:
        members = group.members
        grounds = [o.ground for o in members if o.ground is not None]
        severity: Severity = "low"
        where = "away from the water"
        if self.area is not None:
            if any(self.area.on_open_water(g.x_m, g.y_m) for g in grounds):
                severity, where = "high", "on the water"
            elif self.area.shore_distance_m(group.x_m, group.y_m) <= SHORE_BAND_M:
                severity, where = "medium", "at the shore"
        # Centroid: averaging degrees is exact enough across a group tens of metres wide.
        spread = max(math.hypot(g.x_m - group.x_m, g.y_m - group.y_m) for g in grounds)
        n = len(members)
        return Finding(
            "gathering",
            key=f"group:{group.id}",
            severity=severity,
            people=n,
            track_ids=tuple(sorted(group.track_ids)),
            confidence=float(np.mean([o.confidence for o in members])),
            reason=f"{n} people within {self.settings.gathering_radius_m:g} m, {where}",
            lat=float(np.mean([g.lat for g in grounds])),
            lon=float(np.mean([g.lon for g in grounds])),
            x_m=group.x_m,
            y_m=group.y_m,
            uncertainty_m=float(np.mean([g.uncertainty_m for g in grounds])) + spread,
            seen_t=seen_t,
        )

    def _expire(self, t: float) -> None:
        keep_s = self.settings.incident_close_s
        self._tracks = {k: v for k, v in self._tracks.items() if t - v.last_t <= keep_s}
        # A confirmed group stays as long as its incident, so that seeing it again (the
        # next pass) continues that incident rather than opening another.
        self._groups = [
            g
            for g in self._groups
            if t - g.last_t <= (keep_s + GROUP_GRACE_S if g.confirmed else GROUP_GRACE_S)
        ]
