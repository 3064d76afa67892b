"""Frames -> people -> ground points -> rules -> incident events.

``Pipeline.process`` handles one frame: the detector (with tracking) finds
people, each foot point is placed on the water with the pose at the frame's
capture time, the rules find what holds (told what ground the frame covers, so
that a drone passing a group can confirm it), the incident tracker says what
opened, changed or closed. ``Pipeline.run`` drives it from a ``FrameReader``:
the reader hands over the newest frame only, so the detector never works
through a backlog of a live stream; source events and a periodic status are
yielded along with the incidents.
"""

from __future__ import annotations

import collections
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import shapely

from detection.georef import PoseErrors, ground_footprint, locate
from detection.incidents import Incident, IncidentTracker
from detection.pose import Pose, PoseProvider
from detection.rules import Finding, Observation, RuleEngine, WaterArea
from detection.sources import FrameReader, SourceEvent
from detection.types import Detection, Frame
from geofences.camera import DEFAULT_PRESET, PRESETS, Camera
from geofences.model import KeyWater, RuleSettings
from geofences.projection import LocalProjection

RESULTS_KEPT = 8  # recent frame results, for evidence of an incident found a few frames later


class PersonDetector(Protocol):
    def track(self, image_bgr: np.ndarray) -> list[Detection]: ...


@dataclass(frozen=True)
class FrameResult:
    frame: Frame
    pose: Pose | None
    detections: list[Detection]
    observations: list[Observation]
    findings: list[Finding]
    incidents: list[Incident]  # events of this frame: open / update / closed
    detect_s: float  # detector time for this frame
    footprint: shapely.Geometry | None = None  # the ground it covers (local metres); None: no pose


@dataclass(frozen=True)
class Status:
    """How the pipeline keeps up: the periodic status line."""

    t: float
    frames: int  # processed
    fps: float  # processed per second, recent
    source_fps: float
    dropped: int
    reconnects: int
    latency_s: float | None  # capture -> now, last frame of a live source (None for files)
    detect_ms: float  # detector time, recent mean
    people: int  # in the last frame
    placed: int  # of those, placed on the ground
    open_incidents: int


Event = Incident | SourceEvent | Status


@dataclass
class _Meter:
    done: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=30))
    detect: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=30))

    def fps(self) -> float:
        d = self.done
        return (len(d) - 1) / (d[-1] - d[0]) if len(d) > 1 and d[-1] > d[0] else 0.0


class Pipeline:
    """One detection run: a detector, the camera, a pose provider and the key water.

    Without a pose (no telemetry) nothing can be placed on the ground, so only
    the pose-keypoint part of ``distress`` can fire; without a key water
    ``person_in_water`` cannot fire and gatherings are ``low``.
    """

    def __init__(
        self,
        detector: PersonDetector,
        *,
        keywater: KeyWater | None = None,
        camera: Camera | None = None,
        pose: PoseProvider | None = None,
        rules: RuleSettings | None = None,
        errors: PoseErrors = PoseErrors(),
        id_prefix: str | None = None,
    ) -> None:
        self.detector = detector
        self.keywater = keywater
        self.camera = camera or (keywater.patrol.camera if keywater else PRESETS[DEFAULT_PRESET])
        self.pose = pose
        self.settings = rules or (keywater.rules if keywater else RuleSettings())
        self.errors = errors
        self.projection: LocalProjection | None = None
        area = None
        if keywater is not None:
            c = keywater.water.centroid
            self.projection = LocalProjection.around(c.y, c.x)
            area = WaterArea.from_keywater(keywater, self.projection, self.settings.shore_margin_m)
        self.rules = RuleEngine(self.settings, area)
        if id_prefix is None:  # unique across runs: start time (UTC) and a random tag
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            id_prefix = f"inc-{stamp}-{secrets.token_hex(2)}"
        self.incidents = IncidentTracker(self.settings, id_prefix=id_prefix)
        self.frames = 0
        self._meter = _Meter()
        self._last: FrameResult | None = None
        self._recent: collections.deque[FrameResult] = collections.deque(maxlen=RESULTS_KEPT)

    def process(self, frame: Frame) -> FrameResult:
        t0 = time.monotonic()
        detections = self.detector.track(frame.image)
        detect_s = time.monotonic() - t0
        pose = self.pose(frame.t_capture) if self.pose is not None else None
        h, w = frame.image.shape[:2]
        footprint = None
        if pose is None:
            observations = [
                Observation(d.track_id, d.confidence, d.box_xyxy, d.keypoints) for d in detections
            ]
        else:
            if self.projection is None:  # no key water: a projection around the first fix
                self.projection = LocalProjection.around(pose.lat, pose.lon)
            observations = [self._observe(d, pose, self.projection, (w, h)) for d in detections]
            footprint = ground_footprint(self.camera, pose, self.projection, (w, h))
        findings = self.rules.update(frame.t_capture, observations, footprint)
        events = self.incidents.update(frame.t_capture, frame.index, findings)
        self.frames += 1
        self._meter.done.append(time.monotonic())
        self._meter.detect.append(detect_s)
        result = FrameResult(
            frame, pose, detections, observations, findings, events, detect_s, footprint
        )
        self._last = result
        self._recent.append(result)
        return result

    def result_for(self, frame_index: int) -> FrameResult | None:
        """The result of a recent frame (the last ``RESULTS_KEPT``): an incident's evidence
        frame may be a few frames back (a group confirmed once the camera had passed it)."""
        return next((r for r in self._recent if r.frame.index == frame_index), None)

    def _observe(
        self, det: Detection, pose: Pose, projection: LocalProjection, size: tuple[int, int]
    ) -> Observation:
        u, v = det.foot_px
        ground = locate(self.camera, pose, u, v, projection, size, errors=self.errors)
        return Observation(det.track_id, det.confidence, det.box_xyxy, det.keypoints, ground)

    def finish(self) -> list[Incident]:
        """Close every open incident (the end of a run)."""
        return self.incidents.close_all()

    def status(self, reader: FrameReader | None = None) -> Status:
        st = reader.stats if reader is not None else None
        last = self._last
        return Status(
            t=time.time(),
            frames=self.frames,
            fps=self._meter.fps(),
            source_fps=st.source_fps if st else 0.0,
            dropped=st.dropped if st else 0,
            reconnects=st.reconnects if st else 0,
            latency_s=(
                time.time() - last.frame.t_capture
                if last is not None and reader is not None and reader.source.live
                else None
            ),
            detect_ms=1000.0 * float(np.mean(self._meter.detect)) if self._meter.detect else 0.0,
            people=len(last.detections) if last else 0,
            placed=sum(o.ground is not None for o in last.observations) if last else 0,
            open_incidents=len(self.incidents.active),
        )

    def run(
        self,
        reader: FrameReader,
        *,
        max_frames: int | None = None,
        duration_s: float | None = None,
        status_every_s: float = 2.0,
        on_result: Callable[[FrameResult], None] | None = None,
    ) -> Iterator[Event]:
        """Process the reader's frames until it ends, ``max_frames`` or ``duration_s``.

        Yields source events, incident events and a ``Status`` every
        ``status_every_s`` (and one at the end); closes what is still open at
        the end. A live source that fails for good raises SourceError.
        """
        start = time.monotonic()
        next_status = start + status_every_s
        while True:
            yield from reader.events()
            if max_frames is not None and self.frames >= max_frames:
                break
            if duration_s is not None and time.monotonic() - start >= duration_s:
                break
            frame = reader.next_frame(timeout_s=0.2)
            if frame is None and reader.finished:
                yield from reader.events()
                break
            if frame is not None:
                result = self.process(frame)
                if on_result is not None:
                    on_result(result)
                yield from result.incidents
            if time.monotonic() >= next_status:
                next_status += status_every_s
                yield self.status(reader)
        yield self.status(reader)
        yield from self.finish()
