"""``waterpatrol demo``: the whole patrol on the bundled sample lake, every part real.

With no arguments it:

1. loads ``geofences/samples/gqc-lake.yaml`` and flies it with the shoreline pattern
   (a loop just inside every bank, low and slow enough that the detector finds people
   at its speed on this machine; the report says exactly what was flown and why), with
   the file's own detection rules;
2. places people around the flown loop (``sitl.camera.build_scene``, seeded): swimmers,
   one of them waving, a group on the shore, walkers on land;
3. starts the station receiver on a free loopback port with a fresh ``whsec_`` secret
   (in this process's environment only);
4. starts a vehicle at the launch point: ArduPilot SITL when one is found, else the
   built-in simulated vehicle;
5. loads the person detector, times it on a rendered frame and picks the speed-up from
   that rate: a swimmer must stay in view for ``in_water_frames + 2`` processed frames,
   the whole shore group for 4; while flying, ``SpeedGovernor`` keeps the speed-up
   matched to the rate the pipeline achieves (SIM_SPEEDUP over the link);
6. streams the synthetic camera, following the vehicle's telemetry, as H.264 MPEG-TS
   over UDP on loopback, and measures the stream's delay (lit frame out -> in);
7. runs the patrol (``mission.patrol``): upload, fly, detect, alert, deliver;
8. matches the station's alerts with the placed people (position error, time from
   entering the camera's view to the alert stored at the station, false alerts) and
   writes the report.

``run_demo`` is what the end-to-end tests run, with a smaller water.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer

from sitl.errors import SitlError

LAKE = Path(__file__).resolve().parent.parent / "geofences" / "samples" / "gqc-lake.yaml"
SECRET_ENV = "WATERPATROL_DEMO_WEBHOOK_SECRET"
MATCH_M = 25.0  # an alert this close to a placed person is about that person
GROUP_MATCH_M = 30.0
POSITION_OK_M = 10.0
EXIT_CHECKS_FAILED = 3
# The synthetic people on grass are found reliably once about this tall in the model's
# input (measured on rendered frames); the detector's default, 78 px, is for real photos.
DEMO_RELIABLE_PX = 100.0
LOAD_SHARE = 0.8  # the stream, the vehicle and the link take a share of the cores
SPEEDUP_RANGE = (1.0, 8.0)
# frames beyond in_water_frames a swimmer must stay in view: the track's confirmation and a
# miss or two (with 2, swimmers passed in 4-5 processed frames and went unalerted)
FRAMES_MARGIN = 4
# Processed frames with the whole group in view, on one pass: the gathering rule confirms a
# passed group found in gathering_min_frames (3 by default) of them.
GROUP_FRAMES = 4
GOVERN_STEP = 0.15  # the speed-up follows the pipeline's rate in steps of at least this
# Shares of the camera's across-track footprint where people are placed: swimmers near the
# middle (a corner turns the footprint), the group anywhere but the edge, walkers beyond it.
SWIMMER_SWATH = 0.6
GROUP_SWATH = 0.9
WALKER_SWATH = 2.5


@dataclass(frozen=True)
class DemoSettings:
    water: Path = LAKE
    out_dir: Path = Path("out/demo")
    seed: int = 0
    speedup: float | None = None  # None: from the detector's measured rate
    vehicle: str = "auto"  # auto, sim, ardupilot
    pattern: str = "shoreline"
    altitude_m: float = 25.0
    # The loop this far inside the bank, at this speed: the camera sees the first metres of
    # land and the open water, and the copter stops short of no-fly zones at sharp corners
    # (at 10 m/s it overshot a short leg by 11 m into the planner's 5 m keep-out).
    shore_inset_m: float = 8.0
    speed_m_s: float = 6.0
    swimmers: int = 3
    group_size: int = 7  # the gathering rule needs 5 of them found in one frame
    walkers: int = 3
    frame_size: tuple[int, int] = (1280, 720)
    stream_fps: float = 10.0
    boot_speedup: float = 10.0  # while the vehicle becomes ready (GPS, EKF: ~40 s simulated)


@dataclass(frozen=True)
class PersonOutcome:
    """One placed person and what the station was told about them."""

    id: str
    kind: str
    lat: float
    lon: float
    in_water: bool
    seen_at: float | None  # UNIX s the camera first had them in view
    incidents: tuple[str, ...]  # incidents whose open alert lies near them
    alert_type: str | None
    severity: str | None
    error_m: float | None  # open alert position to the truth
    stored_at: float | None  # UNIX s the open alert was stored at the station
    time_to_alert_s: float | None  # seen_at -> stored_at

    @property
    def alerted(self) -> bool:
        return bool(self.incidents)


@dataclass(frozen=True)
class DemoScore:
    people: tuple[PersonOutcome, ...]
    gathering_incidents: tuple[str, ...]
    gathering_error_m: float | None
    gathering_time_to_alert_s: float | None
    false_alerts: tuple[str, ...]  # "incident: type at lat,lon (why)"
    land_person_in_water: tuple[str, ...]  # person_in_water alerts next to people on land
    alerts_emitted: int
    alerts_stored: int
    duplicates_stored: int  # alerts stored more than once, or stored but never emitted
    receipts_over_one: int  # alerts the station got more than once (retries, deduplicated)
    all_before_end: bool  # every swimmer's alert was stored before the flight ended
    fence_ok: bool

    def failures(self) -> list[str]:
        """What the issue's checks find wrong; empty when the demo passed."""
        out = []
        for p in self.people:
            if not p.in_water:
                continue
            if not p.alerted:
                out.append(f"{p.id} was never alerted")
            elif p.error_m is not None and p.error_m > POSITION_OK_M:
                out.append(f"{p.id} alerted {p.error_m:.1f} m off (limit {POSITION_OK_M:g} m)")
        if not self.all_before_end:
            out.append("not every swimmer's alert reached the station before the flight ended")
        if len(self.gathering_incidents) != 1:
            out.append(f"the gathering was alerted {len(self.gathering_incidents)} times, not once")
        if self.land_person_in_water:
            out.append(
                f"person_in_water for people on land: {', '.join(self.land_person_in_water)}"
            )
        if self.alerts_stored != self.alerts_emitted or self.duplicates_stored:
            out.append(
                f"{self.alerts_emitted} alerts emitted, {self.alerts_stored} stored at the "
                f"station, {self.duplicates_stored} duplicates"
            )
        if not self.fence_ok:
            out.append("the flown track left the fence")
        return out


@dataclass(frozen=True)
class DemoResult:
    settings: DemoSettings
    vehicle: str
    speedup: float  # at the start
    speedups: tuple[float, ...]  # every value the governor set, the start first
    speed_m_s: float
    gathering_hold_s: float  # the key-water file's
    group_in_view_s: tuple[float, ...]  # vehicle seconds the whole group was in view, per pass
    detector_fps: float
    video_delay_s: float
    patrol: Any  # mission.patrol.PatrolResult
    score: DemoScore
    report: dict[str, str]  # kind -> path
    wall_s: float


# -- settings that follow from the detector and the camera ------------------------------


def pick_speedup(
    fps: float,
    footprint_along_m: float,
    speed_m_s: float,
    frames_needed: int,
    group_span_m: float = 0.0,
) -> float:
    """The speed-up at which a person stays in view for ``frames_needed`` processed frames,
    and a whole group ``group_span_m`` long for ``GROUP_FRAMES``."""
    lo, hi = SPEEDUP_RANGE
    if fps <= 0 or speed_m_s <= 0:
        return lo
    view_m = footprint_along_m / frames_needed
    if group_span_m > 0:
        view_m = min(view_m, max(0.0, footprint_along_m - group_span_m) / GROUP_FRAMES)
    return max(lo, min(hi, fps * view_m / speed_m_s))


def demo_keywater(kw: Any, settings: DemoSettings) -> Any:
    """The key water as the demo flies it: pattern, altitude, inset and speed; the file's
    detection rules unchanged."""
    patrol = dataclasses.replace(
        kw.patrol,
        pattern=settings.pattern,
        altitude_m=settings.altitude_m,
        shore_inset_m=settings.shore_inset_m,
        speed_m_s=settings.speed_m_s,
    )
    return dataclasses.replace(kw, patrol=patrol)


def group_in_view_s(
    truth_log: Path, group_ids: set[str], speedups: Sequence[tuple[float, float]], fps: float
) -> tuple[float, ...]:
    """Vehicle seconds the whole group was in view, one figure per pass, from the synthetic
    camera's truth log (``speedups``: (UNIX s, speed-up) as set; ``fps``: the stream's)."""
    import json

    from sitl.camera.stream import IN_VIEW_FRACTION

    if not group_ids:
        return ()
    passes: list[tuple[float, float]] = []
    start = last = None
    try:
        lines = truth_log.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SitlError(f"cannot read the truth log {truth_log}: {exc.strerror}") from None
    for line in lines:
        frame = json.loads(line)
        seen = {p["id"] for p in frame["people"] if p["visible_fraction"] >= IN_VIEW_FRACTION}
        if group_ids <= seen:
            start = frame["t"] if start is None else start
            last = frame["t"]
        elif start is not None and last is not None:
            passes.append((start, last))
            start = last = None
    if start is not None and last is not None:
        passes.append((start, last))

    def speedup_at(t: float) -> float:
        return next((v for at, v in reversed(speedups) if at <= t), speedups[0][1])

    return tuple(round((b - a + 1.0 / fps) * speedup_at(a), 2) for a, b in passes)


def detector_rate(detector: Any, image: Any, runs: int = 3) -> float:
    """Frames per second of ``detector.detect`` on ``image`` (after one warm-up)."""
    detector.detect(image)
    t0 = time.perf_counter()
    for _ in range(runs):
        detector.detect(image)
    return runs / (time.perf_counter() - t0)


def place_people(kw: Any, plan: Any, settings: DemoSettings) -> Any:
    """The scene, placed where the camera will look: swimmers in the middle of the flown
    swath (in view for several frames), the shore group on the land it sweeps, walkers on
    land a little further out (in view or just beyond it)."""
    import shapely

    from sitl.camera import build_scene, coverage_of

    across = kw.patrol.camera.footprint_m(kw.patrol.altitude_m)[0]
    path = [ll for s in plan.sorties for ll in s.path_lonlat]
    centre = coverage_of(path, SWIMMER_SWATH * across)
    land = coverage_of(path, GROUP_SWATH * across).difference(kw.water)
    near = build_scene(
        kw,
        settings.seed,
        swimmers=settings.swimmers,
        group_size=settings.group_size,
        walkers=0,
        seen=shapely.union(centre, land),
    )
    if not settings.walkers:
        return near
    wide = build_scene(
        kw,
        settings.seed + 1,
        swimmers=1,
        group_size=0,
        walkers=settings.walkers,
        seen=coverage_of(path, WALKER_SWATH * across),
    )
    walkers = tuple(p for p in wide.people if p.kind == "land_walker")
    return dataclasses.replace(near, people=near.people + walkers)


def next_speedup(
    current: float,
    fps: float,
    speed_for: Callable[[float], float],
    bounds: tuple[float, float],
) -> float | None:
    """The speed-up to switch to for a pipeline at ``fps``, or None to keep ``current``.

    Down at once, up by one ``GOVERN_STEP`` at a time: a rate that spikes for a moment
    (another process pausing) once took x2.5 to x4 and a swimmer passed in 3 frames.
    """
    if fps <= 0:
        return None
    target = max(bounds[0], min(bounds[1], speed_for(fps)))
    if abs(target - current) <= GOVERN_STEP * current:
        return None
    return min(target, current * (1.0 + GOVERN_STEP))


class SpeedGovernor:
    """Keeps a simulated vehicle's speed-up matched to the rate the pipeline achieves.

    Every ``every_s`` while the patrol flies, the speed-up for the pipeline's recent frame
    rate (``speed_for(fps)``) is set through the link's SIM_SPEEDUP parameter when it differs
    by more than ``GOVERN_STEP`` from the current one, within half to twice the starting
    value (the flight's time-out and the rules' timers assume the starting value).
    """

    def __init__(
        self,
        patrol: Any,
        speed_for: Callable[[float], float],
        start: float,
        every_s: float = 3.0,
    ) -> None:
        self.patrol = patrol
        self.speed_for = speed_for
        self.current = start
        self.bounds = (max(SPEEDUP_RANGE[0], start / 2.0), min(SPEEDUP_RANGE[1], start * 2.0))
        self.every_s = every_s
        self.history: list[tuple[float, float]] = [(time.time(), start)]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="speed-governor", daemon=True)

    def start(self) -> SpeedGovernor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        from mission.errors import MissionError

        while not self._stop.wait(self.every_s):
            st = self.patrol.status()
            if "flying" not in st.stage:
                continue
            target = next_speedup(self.current, st.fps, self.speed_for, self.bounds)
            if target is None:
                continue
            try:
                self.patrol.set_params({"SIM_SPEEDUP": round(target, 2)})
            except MissionError:
                continue  # not connected any more, or the vehicle refused: keep going
            self.current = target
            self.history.append((time.time(), target))


@dataclass(frozen=True)
class _Flown:
    patrol: Any  # PatrolResult
    first_seen: dict[str, float]
    stored: list[Any]  # the receiver's inbox rows
    vehicle: str
    video_delay_s: float
    speedups: tuple[tuple[float, float], ...]  # (UNIX s, speed-up) as the governor set them


# -- the stream's delay -----------------------------------------------------------------


class CameraGate:
    """The synthetic camera's pose callback, with a switch to send dark frames.

    Dark frames (no pose) and lit ones are told apart at the receiving end, which is how
    ``measure_video_delay`` times the stream; ``fallback`` gives a pose while there is
    no telemetry yet (the vehicle on its launch point).
    """

    def __init__(self, poses: Callable[[float], Any], fallback: Any = None) -> None:
        self.poses = poses
        self.fallback = fallback
        self.dark = False
        self.first_lit: float | None = None

    def __call__(self, t: float) -> Any:
        if self.dark:
            return None
        pose = self.poses(t)
        if pose is None and self.fallback is not None:
            pose = dataclasses.replace(self.fallback, t=t)
        if pose is not None and self.first_lit is None:
            self.first_lit = t
        return pose


def _lit(image: Any) -> bool:
    return float(image.std()) > 4.0  # a dark frame is one flat grey


def measure_video_delay(
    url: str, gate: CameraGate, rounds: int = 3, timeout_s: float = 15.0
) -> float:
    """Median seconds from a lit frame's capture to its arrival through the stream at ``url``."""
    from detection.sources import FrameReader, open_source

    delays = []
    deadline = time.monotonic() + timeout_s * rounds
    with FrameReader(open_source(url), connect_s=10.0, give_up_s=timeout_s) as reader:
        for _ in range(rounds):
            gate.dark = True
            dark_since = None
            while dark_since is None or time.monotonic() - dark_since < 0.5:
                frame = _next(reader, deadline)
                if not _lit(frame.image):
                    dark_since = dark_since or time.monotonic()
            gate.first_lit = None
            gate.dark = False
            while True:
                frame = _next(reader, deadline)
                if _lit(frame.image) and gate.first_lit is not None:
                    delays.append(frame.t_capture - gate.first_lit)
                    break
    gate.dark = False
    return statistics.median(delays)


def _next(reader: Any, deadline: float) -> Any:
    while time.monotonic() < deadline:
        frame = reader.next_frame(timeout_s=0.5)
        if frame is not None:
            return frame
    raise SitlError("the camera stream sent no frames while its delay was measured")


# -- matching alerts with the placed people ----------------------------------------------


def score(
    scene: Any,
    patrol: Any,
    first_seen: dict[str, float],
    stored: Sequence[Any],
) -> DemoScore:
    """Compare the alerts with the ground truth. ``stored``: the receiver's inbox rows."""
    from geofences.projection import LocalProjection
    from mission.patrol import first_alerts

    c = scene.water.centroid
    proj = LocalProjection.around(c.y, c.x)

    def dist(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
        x1, y1 = proj.to_xy(lon1, lat1)
        x2, y2 = proj.to_xy(lon2, lat2)
        return float(((x1 - x2) ** 2 + (y1 - y2) ** 2) ** 0.5)

    stored_at: dict[str, float] = {}
    copies = Counter(r.alert_id for r in stored)
    for r in stored:
        stored_at.setdefault(r.alert_id, r.received_at)
    emitted = {a.id for a in patrol.alerts}
    opens = first_alerts(patrol.alerts)
    swimmers = [p for p in scene.people if p.in_water]
    land = [p for p in scene.people if not p.in_water]
    group = [p for p in scene.people if p.kind == "shore_group"]

    by_person: dict[str, list[Any]] = {p.id: [] for p in swimmers}
    false_alerts: list[str] = []
    land_piw: list[str] = []
    gatherings: list[Any] = []
    for inc_id, a in opens.items():
        where = f"{a.lat:.6f},{a.lon:.6f}" if a.lat is not None else "unknown position"
        if a.type == "gathering":
            gc = _centroid(group)
            if gc is not None and a.lat is not None and dist(a.lat, a.lon, *gc) <= GROUP_MATCH_M:
                gatherings.append(a)
            else:
                false_alerts.append(f"{inc_id}: gathering at {where} (no group there)")
            continue
        if a.lat is None:
            false_alerts.append(f"{inc_id}: {a.type} at an unknown position")
            continue
        near = min(swimmers, key=lambda p: dist(a.lat, a.lon, p.lat, p.lon), default=None)
        if near is not None and dist(a.lat, a.lon, near.lat, near.lon) <= MATCH_M:
            by_person[near.id].append(a)
            continue
        on_land = min(land, key=lambda p: dist(a.lat, a.lon, p.lat, p.lon), default=None)
        if on_land is not None and dist(a.lat, a.lon, on_land.lat, on_land.lon) <= MATCH_M:
            land_piw.append(f"{inc_id} near {on_land.id}")
            false_alerts.append(f"{inc_id}: {a.type} at {where} (next to {on_land.id} on land)")
        else:
            false_alerts.append(f"{inc_id}: {a.type} at {where} (nobody there)")

    people = []
    before_end = True
    end = patrol.flight_ended_at
    for p in scene.people:
        alerts = sorted(by_person.get(p.id, []), key=lambda a: a.emitted_at)
        first = alerts[0] if alerts else None
        seen = first_seen.get(p.id)
        at = stored_at.get(first.id) if first else None
        if p.in_water and (at is None or (end is not None and at > end)):
            before_end = False
        people.append(
            PersonOutcome(
                id=p.id,
                kind=p.kind,
                lat=p.lat,
                lon=p.lon,
                in_water=p.in_water,
                seen_at=seen,
                incidents=tuple(a.incident_id for a in alerts),
                alert_type=first.type if first else None,
                severity=first.severity if first else None,
                error_m=dist(first.lat, first.lon, p.lat, p.lon) if first else None,
                stored_at=at,
                time_to_alert_s=(at - seen) if at is not None and seen is not None else None,
            )
        )
    g_err = g_tta = None
    if gatherings:
        g = min(gatherings, key=lambda a: a.emitted_at)
        gc = _centroid(group)
        g_err = dist(g.lat, g.lon, *gc) if gc else None
        seen = min((first_seen[p.id] for p in group if p.id in first_seen), default=None)
        at = stored_at.get(g.id)
        g_tta = at - seen if at is not None and seen is not None else None
    return DemoScore(
        people=tuple(people),
        gathering_incidents=tuple(a.incident_id for a in gatherings),
        gathering_error_m=g_err,
        gathering_time_to_alert_s=g_tta,
        false_alerts=tuple(false_alerts),
        land_person_in_water=tuple(land_piw),
        alerts_emitted=len(emitted),
        alerts_stored=len(set(copies) & emitted),
        duplicates_stored=len(set(copies) - emitted),
        receipts_over_one=sum(1 for r in stored if r.receipts > 1),
        all_before_end=before_end,
        fence_ok=patrol.fence_ok,
    )


def _centroid(people: Sequence[Any]) -> tuple[float, float] | None:
    if not people:
        return None
    return (
        sum(p.lat for p in people) / len(people),
        sum(p.lon for p in people) / len(people),
    )


# -- the run ------------------------------------------------------------------------------


def run_demo(
    settings: DemoSettings = DemoSettings(),
    *,
    keywater: Any = None,
    on_line: Callable[[str], None] | None = None,
    on_patrol: Callable[[Any], None] | None = None,
) -> DemoResult:
    """Run the demo; ``keywater`` replaces ``settings.water`` (tests fly a smaller water).

    ``on_line`` gets the progress lines; ``on_patrol`` the ``Patrol`` just before it flies
    (for a live status view).
    """
    import geofences
    from detection.detector import Detector
    from detection.pose import Pose
    from mission.patrol import new_mission_id
    from mission.patrol_report import write_report
    from mission.planner import plan as make_plan
    from sitl.camera import render
    from sitl.camera.scene import GROUP_SPAN_M
    from station.receiver import Receiver
    from station.signing import generate_secret, parse_secret

    say = on_line or (lambda _text: None)
    t_start = time.monotonic()
    original = keywater or geofences.load(settings.water)
    kw = demo_keywater(original, settings)
    cam = kw.patrol.camera
    plan = make_plan(kw)
    mission_id = new_mission_id(kw.id)
    run_dir = Path(settings.out_dir) / mission_id
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SitlError(f"cannot create {run_dir}: {exc.strerror}") from None
    along = cam.footprint_m(kw.patrol.altitude_m)[1]
    scene = place_people(kw, plan, settings)
    say(
        f"{kw.name}: {plan.pattern} loop {settings.shore_inset_m:g} m inside the banks at "
        f"{kw.patrol.altitude_m:g} m, {plan.summary.path_km:.2f} km; {len(scene.people)} "
        f"people placed (seed {settings.seed})"
    )

    width, height = settings.frame_size
    person_px = cam.person_height_px(kw.patrol.altitude_m) * height / cam.image_height_px
    say("loading the person detector ...")
    detector = Detector(person_px=person_px, reliable_px=DEMO_RELIABLE_PX)
    try:
        swimmer = next(p for p in scene.people if p.in_water)
        probe = render(
            scene,
            cam,
            Pose(t=0.0, lat=swimmer.lat, lon=swimmer.lon, alt_m=kw.patrol.altitude_m),
            size=settings.frame_size,
        )
        fps = detector_rate(detector, probe.image) * LOAD_SHARE
        frames_needed = kw.rules.in_water_frames + FRAMES_MARGIN

        def speed_for(rate: float) -> float:
            if settings.speedup:  # asked for: fixed
                return settings.speedup
            return pick_speedup(rate, along, kw.patrol.speed_m_s, frames_needed, GROUP_SPAN_M)

        speedup = speed_for(fps)
        est = plan.summary.est_flight_s / speedup
        say(
            f"detector: {fps:.1f} frames/s expected ({len(detector.plan(width, height).tiles)} "
            f"tiles); speed-up x{speedup:.1f} keeps a person in view for {frames_needed} frames;"
            f" the flight should take about {est / 60:.1f} min"
        )
        secret = generate_secret()
        os.environ[SECRET_ENV] = secret  # this process only: the delivery worker reads it
        receiver = Receiver(run_dir / "station.sqlite", [parse_secret(secret, SECRET_ENV)])
        receiver.start()
        try:
            result = _fly_with_camera(
                kw,
                plan,
                scene,
                settings,
                speedup,
                detector,
                receiver,
                run_dir,
                mission_id,
                say,
                on_patrol,
                speed_for,
            )
        finally:
            receiver.close()
    finally:
        detector.close()

    patrol, vehicle, delay = result.patrol, result.vehicle, result.video_delay_s
    sc = score(scene, patrol, result.first_seen, result.stored)
    speedups = [v for _, v in result.speedups]
    truth = [(p.lat, p.lon, p.id, p.kind) for p in scene.people]
    group_ids = {p.id for p in scene.people if p.kind == "shore_group"}
    in_view = group_in_view_s(
        run_dir / "truth.jsonl", group_ids, result.speedups, settings.stream_fps
    )
    flown = flown_markdown(original, kw, settings, speedups, fps, delay, vehicle, in_view)
    sections = [
        ("What the demo flew", flown),
        ("Ground truth: what the station was told", truth_markdown(sc)),
    ]
    extra = {
        "demo": {
            "vehicle": vehicle,
            "speedup": speedup,
            "speedups": result.speedups,
            "detector_fps": fps,
            "video_delay_s": delay,
            "gathering_hold_s": kw.rules.gathering_hold_s,
            "group_in_view_s": in_view,
            "seed": settings.seed,
            "scene": scene.to_json(),
            "score": dataclasses.asdict(sc),
            "failures": sc.failures(),
        }
    }
    files = write_report(patrol, kw, plan, run_dir, truth=truth, sections=sections, extra=extra)
    return DemoResult(
        settings=settings,
        vehicle=vehicle,
        speedup=speedup,
        speedups=tuple(speedups),
        speed_m_s=kw.patrol.speed_m_s,
        gathering_hold_s=kw.rules.gathering_hold_s,
        group_in_view_s=in_view,
        detector_fps=fps,
        video_delay_s=delay,
        patrol=patrol,
        score=sc,
        report={k: str(v) for k, v in files.items()},
        wall_s=time.monotonic() - t_start,
    )


def _fly_with_camera(
    kw: Any,
    plan: Any,
    scene: Any,
    settings: DemoSettings,
    speedup: float,
    detector: Any,
    receiver: Any,
    run_dir: Path,
    mission_id: str,
    say: Callable[[str], None],
    on_patrol: Callable[[Any], None] | None,
    speed_for: Callable[[float], float],
) -> _Flown:
    from detection.pose import Pose, PoseBuffer
    from mission.patrol import Patrol, PatrolOptions
    from sitl import endpoints
    from sitl.battery import PackSwap
    from sitl.camera import SyntheticCamera, UdpCameraStream
    from sitl.run import choose_vehicle
    from station.config import Endpoint

    kind = choose_vehicle(settings.vehicle)
    home = (kw.launch.lat, kw.launch.lon, kw.launch.alt_amsl_m)
    start = endpoints.simulated if kind == "sim" else endpoints.ardupilot
    say(f"starting the {'simulated vehicle' if kind == 'sim' else 'ArduPilot SITL'} ...")
    poses = PoseBuffer()
    launch = Pose(t=0.0, lat=kw.launch.lat, lon=kw.launch.lon, alt_m=1.0)
    gate = CameraGate(poses.at, fallback=launch)
    with start(home=home, speedup=settings.boot_speedup) as ep:
        camera = SyntheticCamera(
            scene,
            kw.patrol.camera,
            gate,
            size=settings.frame_size,
            truth_log=run_dir / "truth.jsonl",
        )
        stream = UdpCameraStream(camera, endpoints.free_port(), fps=settings.stream_fps)
        stream.start()
        try:
            delay = measure_video_delay(stream.url, gate)
            gate.fallback = None  # from now on the camera follows the telemetry only
            say(f"camera streaming {stream.url}; stream delay {delay * 1000:.0f} ms")

            options = PatrolOptions(
                connect=ep.url,
                source=stream.url,
                endpoints=(Endpoint(receiver.url, secret_env=SECRET_ENV),),
                out_dir=run_dir,
                mission_id=mission_id,
                vehicle_id=f"{kind}-1",
                video_delay_s=delay,
                time_scale=speedup,
                params={"SIM_SPEEDUP": speedup},
            )
            runner = Patrol(
                kw,
                options,
                plan=plan,
                detector=detector,
                poses=poses,
                before_sortie=PackSwap(kw.vehicle),
                on_line=say,
            )
            if on_patrol is not None:
                on_patrol(runner)
            governor = SpeedGovernor(runner, speed_for, speedup).start()
            try:
                patrol = runner.run()
            finally:
                governor.stop()
            stream.check()
        finally:
            stream.stop()
            camera.close()
    stored = receiver.inbox.rows(limit=100_000)
    return _Flown(patrol, dict(camera.first_seen), stored, kind, delay, tuple(governor.history))


# -- text -----------------------------------------------------------------------------------


def _seconds_or_never(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.1f} s" for v in values) or "never"


def flown_markdown(
    original: Any,
    kw: Any,
    settings: DemoSettings,
    speedups: Sequence[float],
    fps: float,
    delay: float,
    vehicle: str,
    group_in_view: Sequence[float] = (),
) -> str:
    """How the demo's flight differs from the key-water file, and why; ``group_in_view``:
    vehicle seconds the whole shore group was in view, per pass."""
    from sitl.camera.scene import GROUP_SPAN_M

    p0, p = original.patrol, kw.patrol
    across, along = p.camera.footprint_m(p.altitude_m)
    group_view_s = max(0.0, along - GROUP_SPAN_M) / p.speed_m_s  # expected, per pass
    scale = settings.frame_size[1] / p.camera.image_height_px
    person_px = p.camera.person_height_px(p.altitude_m) * scale
    what = "ArduPilot SITL" if vehicle == "ardupilot" else "the built-in simulated vehicle"
    return "\n".join(
        [
            f"- Vehicle: {what}, at x{speedups[0]:.1f} (vehicle seconds per wall second)"
            + (
                f", then x{min(speedups):.1f} to x{max(speedups):.1f} as the pipeline's rate "
                "changed"
                if len(speedups) > 1
                else ""
            )
            + f". The detector ran at {fps:.1f} frames/s on a rendered frame of this machine "
            f"(after a {1 - LOAD_SHARE:.0%} allowance for the stream and the vehicle): the "
            f"speed-up keeps a swimmer in view for {kw.rules.in_water_frames + FRAMES_MARGIN} "
            f"processed frames and the whole shore group for {GROUP_FRAMES}.",
            f"- Pattern: {p.pattern} (file: {p0.pattern}), a loop {settings.shore_inset_m:g} m "
            f"inside every bank, islands included, so the camera ({across:.0f} x {along:.0f} m "
            f"on the ground) sees the first metres of land and the open water.",
            f"- Altitude {p.altitude_m:g} m (file: {p0.altitude_m:g} m) and speed "
            f"{p.speed_m_s:g} m/s (file: {p0.speed_m_s:g} m/s): people are "
            f"{person_px:.0f} px "
            f"tall in the {settings.frame_size[0]}x{settings.frame_size[1]} stream.",
            f"- Rules: the file's, unchanged. The gathering hold is "
            f"{kw.rules.gathering_hold_s:g} s; a pass at {p.speed_m_s:g} m/s has the whole "
            f"group in view for about {group_view_s:.1f} s (measured: "
            + _seconds_or_never(group_in_view)
            + "): "
            + (
                "shorter than the hold, so the rule confirms the group as held for as long as "
                f"the camera could watch it (found in at least {kw.rules.gathering_min_frames} "
                "frames of the pass)."
                if group_view_s < kw.rules.gathering_hold_s
                else "long enough for the hold."
            ),
            f"- Stream: H.264 MPEG-TS over UDP at {settings.stream_fps:g} frames/s; its delay, "
            f"{delay * 1000:.0f} ms (measured before the flight), is taken off each frame's "
            "arrival time when its pose is looked up.",
        ]
    )


def truth_markdown(sc: DemoScore) -> str:
    """The ground-truth table of the report, in Markdown."""

    def num(v: float | None, fmt: str = ".1f", unit: str = "") -> str:
        return "-" if v is None else f"{v:{fmt}}{unit}"

    lines = [
        "| person | kind | alerted as | position error | time to alert |",
        "|---|---|---|---|---|",
    ]
    for p in sc.people:
        if not p.in_water and not p.alerted:
            continue
        what = f"{p.alert_type} ({p.severity})" if p.alerted else "**not alerted**"
        if len(p.incidents) > 1:
            what += f", {len(p.incidents)} incidents"
        lines.append(
            f"| {p.id} | {p.kind} | {what} | {num(p.error_m, '.1f', ' m')} | "
            f"{num(p.time_to_alert_s, '.1f', ' s')} |"
        )
    n = len(sc.gathering_incidents)
    lines += [
        "",
        f"- Gathering (the shore group): alerted {n} time(s)"
        + (
            f", {num(sc.gathering_error_m, '.1f', ' m')} from the group's centre, "
            f"{num(sc.gathering_time_to_alert_s, '.1f', ' s')} after it came into view"
            if n
            else ""
        ),
        f"- People on land raising person_in_water: {len(sc.land_person_in_water)}",
        f"- False alerts: {len(sc.false_alerts)}" + "".join(f"\n  - {f}" for f in sc.false_alerts),
        f"- Alerts emitted {sc.alerts_emitted}, stored at the station {sc.alerts_stored}, "
        f"duplicates {sc.duplicates_stored} (deliveries retried and collapsed: "
        f"{sc.receipts_over_one})",
        f"- Every swimmer alerted before the flight ended: {'yes' if sc.all_before_end else 'no'}",
        f"- Flown track inside the fence: {'yes' if sc.fence_ok else 'no'}",
    ]
    failures = sc.failures()
    lines.append(
        "\n**PASS**: every check of the issue holds."
        if not failures
        else "\n**FAIL**:" + "".join(f"\n- {f}" for f in failures)
    )
    return "\n".join(lines)


def _summary_lines(r: DemoResult) -> list[str]:
    p, sc = r.patrol, r.score
    lines = [
        f"{p.key_water_name}: {p.pattern} patrol at {p.altitude_m:g} m, {p.speed_m_s:g} m/s, "
        f"on the {r.vehicle} vehicle at x{r.speedup:.1f}"
        + (
            f" (x{min(r.speedups):.1f}-x{max(r.speedups):.1f})"
            if min(r.speedups) != max(r.speedups)
            else ""
        )
        + f"; {p.outcome} ({p.reason})",
        f"video: {p.video.frames} frames at {p.video.fps:.1f} fps, stream delay "
        f"{r.video_delay_s * 1000:.0f} ms; {len(p.alerts)} alerts, "
        f"{sum(a.delivery == 'delivered' for a in p.alerts)} delivered",
    ]
    for person in sc.people:
        if not person.in_water:
            continue
        if person.alerted:
            lines.append(
                f"  {person.id:<11} {person.alert_type} {person.severity}: "
                f"{person.error_m:.1f} m off, stored "
                + (
                    f"{person.time_to_alert_s:.1f} s after it came into view"
                    if person.time_to_alert_s is not None
                    else "(never fully in view)"
                )
            )
        else:
            lines.append(f"  {person.id:<11} NOT ALERTED")
    g = len(sc.gathering_incidents)
    lines.append(
        f"  gathering   alerted {g} time(s)"
        + (f", {sc.gathering_error_m:.1f} m from the group" if sc.gathering_error_m else "")
        + (
            f", stored {sc.gathering_time_to_alert_s:.1f} s after it came into view"
            if sc.gathering_time_to_alert_s is not None
            else ""
        )
        + f"; hold {r.gathering_hold_s:g} s (the file's), whole group in view "
        + _seconds_or_never(r.group_in_view_s)
        + " (vehicle time)"
    )
    lines.append(
        f"  false alerts {len(sc.false_alerts)}; person_in_water on land "
        f"{len(sc.land_person_in_water)}"
    )
    failures = sc.failures()
    lines.append("PASS" if not failures else "FAIL: " + "; ".join(failures))
    lines.append(f"report: {r.report['markdown']} (map {r.report['map']}) in {r.wall_s:.0f} s")
    return lines


def demo(
    out: Path = typer.Option(Path("out/demo"), "--out", help="Folder for the run's report."),
    speedup: float | None = typer.Option(
        None,
        "--speedup",
        help="Simulation speed-up; default: from the detector's measured rate on this machine.",
    ),
    seed: int = typer.Option(0, "--seed", help="Places the people: the same seed, the same scene."),
    vehicle: str = typer.Option(
        "auto",
        "--vehicle",
        help="auto (ArduPilot SITL when found, else simulated), sim, ardupilot.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as one JSON document."),
) -> None:
    """Run the whole patrol on the bundled sample lake: vehicle, camera, detector, station.

    Prints each placed swimmer and the shore gathering as the station was told (position
    error, time to alert), false alerts, and where the report is. Exit code 3 when one
    of the checks fails (a swimmer not alerted within 10 m, the gathering not alerted
    exactly once, person_in_water on land, an alert lost or duplicated, the fence left).
    """
    from mission.cli import emit_json
    from mission.patrol_cli import StatusView

    if speedup is not None and not SPEEDUP_RANGE[0] <= speedup <= 50.0:
        raise SitlError(f"--speedup {speedup}: give 1 to 50")
    settings = DemoSettings(out_dir=out, seed=seed, speedup=speedup, vehicle=vehicle)
    view = StatusView(json_out)
    try:
        result = run_demo(settings, on_line=view.line, on_patrol=view.start)
    finally:
        view.stop()
    if json_out:
        from mission.patrol_report import report_dict

        emit_json(
            {
                **report_dict(result.patrol),
                "demo": {
                    "vehicle": result.vehicle,
                    "speedup": result.speedup,
                    "speedups": result.speedups,
                    "detector_fps": result.detector_fps,
                    "video_delay_s": result.video_delay_s,
                    "gathering_hold_s": result.gathering_hold_s,
                    "group_in_view_s": result.group_in_view_s,
                    "score": dataclasses.asdict(result.score),
                    "failures": result.score.failures(),
                    "report": result.report,
                    "wall_s": result.wall_s,
                },
            }
        )
    else:
        for line in _summary_lines(result):
            typer.echo(line)
    if result.score.failures():
        raise typer.Exit(EXIT_CHECKS_FAILED)
