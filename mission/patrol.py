"""The closed-loop patrol: fly a key water's sorties while watching the drone's video, and
turn every incident into a station alert.

``Patrol(keywater, options).run()``:

1. plan (``mission.planner.plan``) and write the plan files (``mission.export.write_all``);
2. open the outbox and start the delivery worker (signed webhooks to the dispatch URLs);
3. open the drone's video (``detection.sources``) and load the detector;
4. connect to the vehicle (``mission.link.open_link``): a telemetry thread feeds a
   ``PoseBuffer`` from the link's own position and attitude messages, and a detection
   thread runs ``detection.pipeline.Pipeline`` on the stream with that pose;
5. fly every sortie (``mission.link.job.fly_job``); each incident event (open, update,
   closed) becomes an ``Alert`` (``incident_alert``) emitted to the outbox, with an
   evidence JPEG for open and update;
6. stop the video, close what is still open, wait for the deliveries, return a
   ``PatrolResult`` (``mission.patrol_report`` writes it out).

Any way out of a flight ends with the vehicle sent home by the link's ``abort`` (RTL, or
LAND where RTL is refused): Ctrl-C (``fly`` sends it home and follows it down), a video
that is lost for good or any other error (sent home here, then followed down), a lost
link (``abort`` is tried; the vehicle's own failsafe is in charge).

``time_scale`` is for simulators running faster than real time: the video and the
pipeline run on the wall clock, the vehicle on its own, so the rules' timers (gathering
hold, stillness, incident close) are divided by it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from geofences.model import KeyWater, RuleSettings
from mission.errors import MissionError, PatrolError

if TYPE_CHECKING:
    from detection.incidents import Incident
    from detection.pipeline import FrameResult, PersonDetector
    from detection.pose import PoseBuffer
    from mission.link.connection import Connection
    from mission.plan import MissionPlan
    from station.config import Endpoint
    from station.model import Alert, Evidence

Outcome = Literal["completed", "ended_early", "link_lost", "interrupted", "error"]

POSE_MESSAGES = ("GLOBAL_POSITION_INT", "ATTITUDE", "GIMBAL_DEVICE_ATTITUDE_STATUS", "MOUNT_STATUS")
POSE_RATE_HZ = 10.0  # position and attitude, in the vehicle's clock: georeferencing needs them
MAX_DETECTIONS_KEPT = 20_000  # ground points kept for the report's map
ABORT_FOLLOW_S = 600.0  # follow a vehicle sent home for at most this long (its clock)


@dataclass(frozen=True)
class PatrolOptions:
    """How to run one patrol. Only ``connect``, ``source`` and ``endpoints`` are required."""

    connect: str  # vehicle: a pymavlink connection string (tcp:HOST:PORT, udpin:...)
    source: (
        str  # the drone's video: a stream URL (udp://, rtsp://...) or anything open_source takes
    )
    endpoints: tuple[Endpoint, ...]  # dispatch
    out_dir: Path = Path("out/patrol")
    outbox: Path | None = None  # default: out_dir/outbox.sqlite
    mission_id: str | None = None  # default: "<key water id>-<UTC time>-<random>"
    vehicle_id: str = "drone-1"
    pattern: str | None = None  # default: the key water's
    model: str | None = None  # detector model file; default yolo11n-pose
    conf: float | None = None  # None: the model's own operating threshold
    video_delay_s: float = 0.0  # camera capture -> frame arrival: poses are looked up this early
    time_scale: float = 1.0  # vehicle seconds per wall second (a simulator's speed-up)
    water_level_m: float = 0.0  # water surface above the vehicle's home
    params: Mapping[str, float] = field(default_factory=dict)  # set once ready, before flying
    connect_timeout_s: float = 30.0
    ready_timeout_s: float = 120.0
    video_timeout_s: float = 30.0  # for the first frame
    video_give_up_s: float = 60.0  # a stream without frames this long is lost: the vehicle RTLs
    delivery_timeout_s: float = 30.0  # at the end, for the dispatch to acknowledge every alert

    def __post_init__(self) -> None:
        if not self.endpoints:
            raise PatrolError("no dispatch endpoint: give --dispatch URL")
        if not 0.0 <= self.video_delay_s <= 10.0:
            raise PatrolError(f"video delay {self.video_delay_s} s: give 0 to 10 seconds")
        if not 0.0 < self.time_scale <= 100.0:
            raise PatrolError(f"time scale {self.time_scale}: give a speed-up in (0, 100]")
        if self.conf is not None and not 0.0 < self.conf < 1.0:
            raise PatrolError(f"detector confidence {self.conf}: give a value in (0, 1)")


@dataclass(frozen=True)
class AlertContext:
    """What every alert of one patrol says about where it comes from."""

    mission_id: str
    vehicle_id: str
    water_id: str
    water_name: str


def new_mission_id(keywater_id: str, now: float | None = None) -> str:
    """``<key water id>-<UTC time>-<4 hex>``: unique across missions, sortable by start."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"{keywater_id}-{stamp}-{secrets.token_hex(2)}"


def incident_alert(
    incident: Incident,
    ctx: AlertContext,
    previous: Alert | None = None,
    evidence: Evidence | None = None,
) -> Alert:
    """The station alert for one incident event; ``previous``: the incident's last alert.

    The first alert of an incident is ``open``; later events follow it up (``update``,
    ``closed``) so the station can chain them. The incident id carries the mission id
    (the pipeline numbers incidents from 1 in every run). Texts come from the station.
    """
    from station.model import Alert

    incident_id = (
        incident.id
        if incident.id.startswith(f"{ctx.mission_id}-")
        else f"{ctx.mission_id}-{incident.id}"
    )
    placed = None not in (incident.lat, incident.lon, incident.uncertainty_m)
    changes: dict[str, Any] = {
        "type": incident.type,
        "severity": incident.severity,
        "lat": incident.lat if placed else None,
        "lon": incident.lon if placed else None,
        "radius_m": incident.uncertainty_m if placed else None,
        "people": incident.people,
        "confidence": min(1.0, max(0.0, float(incident.confidence))),
        "observed_at": datetime.fromtimestamp(
            incident.last_seen if incident.status == "closed" else incident.evidence_t, UTC
        ),
    }
    if evidence is not None:
        changes["evidence"] = evidence
    if previous is None:
        return Alert(
            incident_id=incident_id,
            vehicle_id=ctx.vehicle_id,
            mission_id=ctx.mission_id,
            water_id=ctx.water_id,
            water_name=ctx.water_name,
            **changes,
        )
    return previous.follow_up(incident.status, **changes)


def scaled_rules(rules: RuleSettings, time_scale: float) -> RuleSettings:
    """The rules' timers in wall seconds for a vehicle running ``time_scale`` times faster."""
    return dataclasses.replace(
        rules,
        still_seconds=rules.still_seconds / time_scale,
        gathering_hold_s=rules.gathering_hold_s / time_scale,
        incident_close_s=rules.incident_close_s / time_scale,
    )


# -- what a patrol hands back -------------------------------------------------------------


@dataclass(frozen=True)
class AlertRecord:
    """One alert as emitted, and what became of its delivery."""

    id: str
    incident_id: str
    type: str
    severity: str
    status: str  # open / update / closed
    lat: float | None
    lon: float | None
    radius_m: float | None
    people: int
    confidence: float
    emitted_at: float  # UNIX s
    evidence: str | None  # JPEG path
    delivery: str = "pending"  # delivered / pending / failed / disabled
    delivered_at: float | None = None


@dataclass(frozen=True)
class IncidentRecord:
    """An incident as it last stood (the report's incident table)."""

    id: str  # as the station knows it (mission id prefixed)
    type: str
    severity: str
    lat: float | None
    lon: float | None
    uncertainty_m: float | None
    people: int
    confidence: float
    first_seen: float
    last_seen: float
    alerts: int
    reason: str


@dataclass(frozen=True)
class VideoStats:
    frames: int
    fps: float  # frames processed per second over the whole patrol
    dropped: int
    reconnects: int
    detect_ms: float  # mean detector time per frame
    frame_size: tuple[int, int]
    events: tuple[str, ...]  # source events (stalls, reconnects), in order


@dataclass(frozen=True)
class PatrolResult:
    mission_id: str
    key_water_id: str
    key_water_name: str
    pattern: str
    altitude_m: float
    speed_m_s: float
    connect: str
    source: str
    started_at: float  # UNIX s
    ended_at: float
    outcome: Outcome
    reason: str
    plan: dict[str, Any]  # mission.export.summary.as_dict
    plan_files: tuple[str, ...]
    flights: tuple[Any, ...]  # mission.link.report.FlightReport per sortie flown
    flight_ended_at: float | None  # UNIX s the last sortie ended (vehicle disarmed)
    track: tuple[tuple[float, float, float, float], ...]  # t, lat, lon, alt_rel_m
    detections: tuple[tuple[float, float, float], ...]  # t, lat, lon of people placed
    incidents: tuple[IncidentRecord, ...]
    alerts: tuple[AlertRecord, ...]
    video: VideoStats
    video_delay_s: float
    time_scale: float
    outbox: str

    @property
    def all_delivered(self) -> bool:
        return all(a.delivery == "delivered" for a in self.alerts)

    @property
    def fence_ok(self) -> bool:
        return all(f.fence_breaches == 0 and f.track_outside_fence == 0 for f in self.flights)


@dataclass(frozen=True)
class PatrolStatus:
    """One look at a running patrol, for the live status view."""

    stage: str
    sortie: int
    sorties: int
    seq: int
    total: int
    mode: str
    battery_pct: float | None
    alt_rel_m: float | None
    elapsed_s: float
    frames: int
    fps: float
    dropped: int
    people: int
    open_incidents: int
    alerts: int
    delivered: int


# -- the patrol ---------------------------------------------------------------------------


class Patrol:
    """One patrol of one key water. ``run`` blocks until the vehicle is down and alerts sent.

    ``detector``: a loaded detector (else one is loaded for the stream's frame size);
    ``poses``: the PoseBuffer to feed from the vehicle's telemetry (else a new one);
    ``before_sortie(conn, index)``: runs before each sortie (a battery swap); ``on_line``
    receives one line per notable event (stage, mode change, incident, alert).
    """

    def __init__(
        self,
        keywater: KeyWater,
        options: PatrolOptions,
        *,
        plan: MissionPlan | None = None,
        detector: PersonDetector | None = None,
        poses: PoseBuffer | None = None,
        before_sortie: Callable[[Connection, int], None] | None = None,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        from detection.pose import PoseBuffer

        self.kw = keywater
        self.opt = options
        self.mission_id = options.mission_id or new_mission_id(keywater.id)
        self.ctx = AlertContext(self.mission_id, options.vehicle_id, keywater.id, keywater.name)
        self._plan = plan
        self._detector = detector
        self.poses = poses if poses is not None else PoseBuffer()
        self._before_sortie = before_sortie
        self._on_line = on_line or (lambda _text: None)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._stage = "starting"
        self._t0 = time.monotonic()
        self._sortie = (0, 0)
        self._progress: Any = None
        self._pipe_status: Any = None
        self._chains: dict[str, Alert] = {}  # incident id -> its last alert
        self._incidents: dict[str, tuple[Incident, int]] = {}  # last event, alerts sent
        self._alerts: list[AlertRecord] = []
        self._track: list[tuple[float, float, float, float]] = []
        self._detections: list[tuple[float, float, float]] = []
        self._source_events: list[str] = []
        self._failure: PatrolError | None = None
        self._outbox: Any = None
        self._reader: Any = None
        self._pipeline: Any = None
        self._frame_size = (0, 0)
        self._conn: Connection | None = None

    # -- status --------------------------------------------------------------------------

    def status(self) -> PatrolStatus:
        with self._lock:
            p, st = self._progress, self._pipe_status
            alerts = len(self._alerts)
            stage, (sortie, sorties) = self._stage, self._sortie
        delivered = 0
        outbox = self._outbox
        if outbox is not None:
            with contextlib.suppress(Exception):  # a busy database only delays the count
                delivered = outbox.counts().get("delivered", 0)
        return PatrolStatus(
            stage=stage,
            sortie=sortie,
            sorties=sorties,
            seq=p.seq if p else 0,
            total=p.total if p else 0,
            mode=p.mode if p else "-",
            battery_pct=p.battery_pct if p else None,
            alt_rel_m=p.alt_rel_m if p else None,
            elapsed_s=time.monotonic() - self._t0,
            frames=st.frames if st else 0,
            fps=st.fps if st else 0.0,
            dropped=st.dropped if st else 0,
            people=st.people if st else 0,
            open_incidents=st.open_incidents if st else 0,
            alerts=alerts,
            delivered=delivered,
        )

    @property
    def connection(self) -> Connection | None:
        """The vehicle link while connected (status reports read its telemetry)."""
        return self._conn

    def set_params(self, values: Mapping[str, float]) -> dict[str, float]:
        """Set vehicle parameters while the patrol runs (a simulator's speed-up); returns
        the values read back."""
        from mission.link import params

        conn = self._conn
        if conn is None:
            raise PatrolError("the patrol is not connected to a vehicle now")
        return params.set_many(conn, values)

    def _set_stage(self, text: str) -> None:
        with self._lock:
            self._stage = text
        self._on_line(text)

    # -- run -----------------------------------------------------------------------------

    def run(self) -> PatrolResult:
        from mission.export import write_all
        from mission.export.summary import as_dict
        from mission.link.job import endurance_of, job_from_plan
        from mission.planner import plan as make_plan
        from station.delivery import Delivery
        from station.outbox import Outbox

        started = time.time()
        self._t0 = time.monotonic()
        out = Path(self.opt.out_dir)
        plan = self._plan or make_plan(self.kw, self.opt.pattern)
        job = job_from_plan(plan, endurance_of(self.kw.vehicle))
        try:
            (out / "evidence").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PatrolError(f"cannot create the output folder {out}: {exc.strerror}") from None
        plan_files = tuple(str(p) for p in write_all(plan, self.kw, out / "plan"))
        self._on_line(
            f"mission {self.mission_id}: {plan.pattern} patrol of {self.kw.name} at "
            f"{plan.altitude_m:g} m, {len(plan.sorties)} sortie(s), "
            f"{plan.summary.path_km:.2f} km; plan files in {out / 'plan'}"
        )
        outbox_path = self.opt.outbox or out / "outbox.sqlite"
        self._outbox = Outbox(outbox_path)
        delivery = Delivery(self._outbox, self.opt.endpoints)
        delivery.start()
        flights: list[Any] = []
        outcome: Outcome = "error"
        reason = "stopped before the flight"
        flight_end: float | None = None
        threads: list[threading.Thread] = []
        try:
            self._open_video()
            self._pipeline = self._make_pipeline()
            conn = self._connect()
            self._conn = conn
            try:
                threads = [
                    threading.Thread(target=self._feed_poses, args=(conn,), daemon=True),
                    threading.Thread(target=self._detect, args=(self._pipeline,), daemon=True),
                ]
                for t in threads:
                    t.start()
                outcome, reason, flights = self._fly(conn, job)
                flight_end = time.time()
            finally:
                self._stop.set()  # the pose feed
                self._conn = None
                conn.close()
            if self._failure is not None and outcome == "completed":
                outcome, reason = "error", str(self._failure)
        finally:
            self._stop_video(threads[1:])
            self._stop.set()
            self._set_stage("delivering alerts")
            records = self._wait_deliveries(delivery)
            delivery.stop()
            outbox, self._outbox = self._outbox, None  # status() stops counting
            outbox.close()
        self._set_stage(f"done: {outcome} ({reason})")
        return PatrolResult(
            mission_id=self.mission_id,
            key_water_id=self.kw.id,
            key_water_name=self.kw.name,
            pattern=plan.pattern,
            altitude_m=plan.altitude_m,
            speed_m_s=self.kw.patrol.speed_m_s,
            connect=self.opt.connect,
            source=self.opt.source,
            started_at=started,
            ended_at=time.time(),
            outcome=outcome,
            reason=reason,
            plan=as_dict(plan),
            plan_files=plan_files,
            flights=tuple(flights),
            flight_ended_at=flight_end,
            track=tuple(self._track),
            detections=tuple(self._detections),
            incidents=self._incident_records(),
            alerts=records,
            video=self._video_stats(),
            video_delay_s=self.opt.video_delay_s,
            time_scale=self.opt.time_scale,
            outbox=str(outbox_path),
        )

    # -- video and detection ---------------------------------------------------------------

    def _open_video(self) -> None:
        from detection.sources import FrameReader, open_source

        self._set_stage(f"opening the video {self.opt.source}")
        reader = FrameReader(
            open_source(self.opt.source),
            connect_s=min(4.0, self.opt.video_timeout_s),  # under FrameReader.close()'s 5 s join
            give_up_s=self.opt.video_give_up_s,
        )
        reader.start()
        self._reader = reader
        frame = reader.next_frame(timeout_s=self.opt.video_timeout_s)
        if frame is None:
            reader.close()
            raise PatrolError(
                f"no video from {self.opt.source} within {self.opt.video_timeout_s:g} s: "
                "check the stream address and that the camera is sending"
            )
        h, w = frame.image.shape[:2]
        self._frame_size = (w, h)

    def _make_pipeline(self) -> Any:
        from detection.pipeline import Pipeline

        cam, alt = self.kw.patrol.camera, self.kw.patrol.altitude_m
        if self._detector is None:
            from detection.detector import Detector

            self._set_stage("loading the person detector")
            # expected person height in this stream's pixels, for the detector's tiling
            person_px = cam.person_height_px(alt) * self._frame_size[1] / cam.image_height_px
            self._detector = Detector(self.opt.model, person_px=person_px, conf=self.opt.conf)
        delay, buffer = self.opt.video_delay_s, self.poses
        return Pipeline(
            self._detector,
            keywater=self.kw,
            camera=cam,
            pose=lambda t: buffer.at(t - delay),
            rules=scaled_rules(self.kw.rules, self.opt.time_scale),
            id_prefix=self.mission_id,
        )

    def _detect(self, pipeline: Any) -> None:
        from detection.incidents import Incident
        from detection.pipeline import Status
        from detection.sources import SourceEvent

        try:
            for event in pipeline.run(self._reader, status_every_s=1.0, on_result=self._seen):
                if isinstance(event, Incident):
                    self._alert(event)
                elif isinstance(event, Status):
                    with self._lock:
                        self._pipe_status = event
                elif isinstance(event, SourceEvent):
                    line = f"video {event.kind}: {event.message}"
                    self._source_events.append(line)
                    self._on_line(line)
        except BaseException as exc:  # reported; the flight loop sends the vehicle home
            self._failure = PatrolError(f"detection failed: {exc}")
            self._on_line(str(self._failure))

    def _seen(self, result: FrameResult) -> None:
        if len(self._detections) < MAX_DETECTIONS_KEPT:
            t = result.frame.t_capture
            self._detections.extend(
                (t, o.ground.lat, o.ground.lon) for o in result.observations if o.ground
            )

    def _alert(self, incident: Incident) -> None:
        evidence = None
        # the evidence frame may be a few frames back: a group confirmed once the camera
        # had passed it
        result = self._pipeline.result_for(incident.evidence_frame) if self._pipeline else None
        if incident.status != "closed" and result is not None:
            evidence = self._evidence(incident, result)
        previous = self._chains.get(incident.id)
        alert = incident_alert(incident, self.ctx, previous, evidence)
        self._outbox.emit(alert)
        self._chains[incident.id] = alert
        _, sent = self._incidents.get(incident.id, (incident, 0))
        self._incidents[incident.id] = (incident, sent + 1)
        with self._lock:
            self._alerts.append(
                AlertRecord(
                    id=alert.id,
                    incident_id=alert.incident_id,
                    type=str(alert.type),
                    severity=str(alert.severity),
                    status=str(alert.status),
                    lat=alert.lat,
                    lon=alert.lon,
                    radius_m=alert.radius_m,
                    people=alert.people,
                    confidence=alert.confidence,
                    emitted_at=time.time(),
                    evidence=alert.evidence.path if alert.evidence else None,
                )
            )
        where = (
            f"{alert.lat:.6f},{alert.lon:.6f} ±{alert.radius_m:.0f} m"
            if alert.lat is not None and alert.radius_m is not None
            else "position unknown"
        )
        self._on_line(
            f"alert {alert.status} {alert.incident_id}: {alert.type} {alert.severity}, "
            f"{alert.people} people, {where}"
        )

    def _evidence(self, incident: Incident, result: FrameResult) -> Evidence | None:
        from detection.evidence import incident_evidence
        from station.model import Evidence

        try:
            name, jpeg = incident_evidence(incident, result.frame.image, result.detections)
            path = Path(self.opt.out_dir) / "evidence" / name
            path.write_bytes(jpeg)
        except (OSError, MissionError, ValueError) as exc:
            self._on_line(f"no evidence image for {incident.id}: {exc}")
            return None
        return Evidence.from_file(path)

    def _stop_video(self, detect: Sequence[threading.Thread]) -> None:
        """Stop the stream; the pipeline then closes what is open (their alerts go out)."""
        if self._reader is not None:
            self._reader.close()
        for t in detect:
            t.join(timeout=30.0)

    def _video_stats(self) -> VideoStats:
        st = self._pipe_status
        reader = self._reader.stats if self._reader is not None else None
        wall = max(1e-9, time.monotonic() - self._t0)
        frames = self._pipeline.frames if self._pipeline is not None else 0
        return VideoStats(
            frames=frames,
            fps=frames / wall,
            dropped=reader.dropped if reader else 0,
            reconnects=reader.reconnects if reader else 0,
            detect_ms=st.detect_ms if st else 0.0,
            frame_size=self._frame_size,
            events=tuple(self._source_events),
        )

    # -- vehicle -------------------------------------------------------------------------

    def _connect(self) -> Connection:
        from mission.link import params
        from mission.link.connection import open_link
        from mission.link.telemetry import DEFAULT_RATES_HZ, rates_for_speedup

        self._set_stage(f"connecting to {self.opt.connect}")
        rates = {**DEFAULT_RATES_HZ, "GLOBAL_POSITION_INT": POSE_RATE_HZ, "ATTITUDE": POSE_RATE_HZ}
        conn = open_link(
            self.opt.connect,
            connect_timeout_s=self.opt.connect_timeout_s,
            ready_timeout_s=self.opt.ready_timeout_s,
            rates_hz=rates_for_speedup(self.opt.time_scale, rates),
        )
        try:
            if self.opt.params:
                params.set_many(conn, self.opt.params)
        except BaseException:
            conn.close()
            raise
        return conn

    def _feed_poses(self, conn: Connection) -> None:
        from detection.pose import apply_mavlink
        from mission.link.errors import LinkLost

        level = self.opt.water_level_m
        try:
            with conn.subscribe(*POSE_MESSAGES) as sub:
                while not self._stop.is_set():
                    try:
                        msg = sub.get(0.2)
                    except LinkLost:
                        self._stop.wait(0.2)  # poses age out; the flight loop handles the link
                        continue
                    if msg is None:
                        continue
                    t = time.time()
                    apply_mavlink(self.poses, msg, t, water_level_m=level)
                    if msg.get_type() == "GLOBAL_POSITION_INT":
                        lat, lon = msg.lat / 1e7, msg.lon / 1e7
                        self._track.append((t, lat, lon, msg.relative_alt / 1e3))
        except Exception as exc:  # without poses nobody can be placed: stop flying blind
            self._failure = PatrolError(f"the camera pose telemetry stopped: {exc}")
            self._on_line(str(self._failure))

    def _fly(self, conn: Connection, job: Any) -> tuple[Outcome, str, list[Any]]:
        from mission.link import flight as fl
        from mission.link.errors import LinkError, LinkLost
        from mission.link.job import fly_job

        n = len(job.sorties)
        reports: list[Any] = []

        def on_stage(index: int, text: str) -> None:
            with self._lock:
                self._sortie = (index, n)
            self._set_stage(f"sortie {index}/{n}: {text}")

        def on_event(index: int, event: Any) -> None:
            if isinstance(event, fl.Progress):
                with self._lock:
                    self._progress = event
                    if self._stage.endswith(("arming", "uploading")):
                        self._stage = f"sortie {index}/{n}: flying"
            elif isinstance(event, fl.ModeChanged | fl.FenceBreach | fl.LinkDown | fl.LinkUp):
                self._on_line(f"sortie {index}: {_event_text(event)}")
            elif isinstance(event, fl.FlightEnded):
                self._on_line(f"sortie {index}: {event.reason}")
            if self._failure is not None:  # no video or no poses: no point flying blind
                raise PatrolError(str(self._failure))

        try:
            reports = fly_job(
                conn,
                job,
                speedup=self.opt.time_scale,
                on_event=on_event,
                on_stage=on_stage,
                before_sortie=self._before_sortie,
            )
        except KeyboardInterrupt:
            # in flight, fly() has already sent the vehicle home and followed it down
            tel = conn.snapshot()
            if tel.armed and tel.mode not in ("RTL", "LAND"):
                self._send_home(conn, job)
            return "interrupted", "stopped by Ctrl-C", reports
        except LinkLost as exc:
            with contextlib.suppress(LinkError):
                fl.abort(conn)
            return "link_lost", str(exc), reports
        except Exception as exc:
            flying = self._send_home(conn, job)
            home = f"; the vehicle was sent home ({flying})" if flying else ""
            return "error", f"{exc}{home}", reports
        if len(reports) < n or not all(r.completed for r in reports):
            last = reports[-1].reason if reports else "no sortie flown"
            return "ended_early", last, reports
        return "completed", f"{n} sortie(s) flown and landed", reports

    def _send_home(self, conn: Connection, job: Any) -> str:
        """RTL (LAND if refused) and follow the vehicle down, as ``fly`` does on Ctrl-C.

        Returns the mode it was sent home in; empty when it was not flying.
        """
        from mission.link import flight as fl
        from mission.link.errors import LinkError

        if not conn.snapshot().armed:
            return ""
        try:
            flying = fl.abort(conn)
        except LinkError as exc:
            return f"not confirmed: {exc}"
        self._set_stage(f"returning home ({flying})")
        items = job.sorties[0].items
        with contextlib.suppress(LinkError):
            for event in fl.follow(conn, items, timeout_s=ABORT_FOLLOW_S / self.opt.time_scale):
                if isinstance(event, fl.Progress):
                    with self._lock:
                        self._progress = event
        return flying

    # -- the end -------------------------------------------------------------------------

    def _wait_deliveries(self, delivery: Any) -> tuple[AlertRecord, ...]:
        deadline = time.monotonic() + self.opt.delivery_timeout_s
        out = []
        with self._lock:
            alerts = list(self._alerts)
        for rec in alerts:
            entry = delivery.wait(rec.id, max(0.0, deadline - time.monotonic()))
            done = [d.done_at for d in entry.deliveries if d.done_at is not None]
            out.append(
                dataclasses.replace(
                    rec,
                    delivery=entry.state,
                    delivered_at=max(done) if done and entry.state == "delivered" else None,
                )
            )
        return tuple(out)

    def _incident_records(self) -> tuple[IncidentRecord, ...]:
        out = []
        for inc_id, (inc, sent) in self._incidents.items():
            alert = self._chains[inc_id]
            out.append(
                IncidentRecord(
                    id=alert.incident_id,
                    type=inc.type,
                    severity=inc.severity,
                    lat=inc.lat,
                    lon=inc.lon,
                    uncertainty_m=inc.uncertainty_m,
                    people=inc.people,
                    confidence=inc.confidence,
                    first_seen=inc.first_seen,
                    last_seen=inc.last_seen,
                    alerts=sent,
                    reason=inc.reason,
                )
            )
        return tuple(sorted(out, key=lambda r: r.first_seen))


def _event_text(event: Any) -> str:
    from mission.link import flight as fl

    if isinstance(event, fl.ModeChanged):
        return f"mode {event.old} -> {event.new}"
    if isinstance(event, fl.FenceBreach):
        return f"FENCE BREACH (count {event.count})"
    if isinstance(event, fl.LinkDown):
        return f"LINK LOST: {event.reason}"
    if isinstance(event, fl.LinkUp):
        return f"link back after {event.down_s:.1f} s"
    return str(event)


def first_alerts(alerts: Sequence[AlertRecord]) -> dict[str, AlertRecord]:
    """Each incident's open alert, by incident id."""
    out: dict[str, AlertRecord] = {}
    for a in alerts:
        if a.status == "open":
            out.setdefault(a.incident_id, a)
    return out
