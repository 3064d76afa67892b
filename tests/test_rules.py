"""Rules and incidents on scripted track sequences over a square test lake.

The lake is 200 m x 200 m with a 40 m island in the middle and a hotspot
(20 m radius) near its south-west corner; positions below are metres from
the lake's south-west corner.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from shapely.geometry import MultiPolygon, Point, Polygon, box

from detection.georef import GroundPoint
from detection.incidents import Incident, IncidentTracker
from detection.rules import (
    GROUP_MISSED_FRAMES,
    SHORE_BAND_M,
    Observation,
    RuleEngine,
    WaterArea,
    arms_raised,
    dbscan,
)
from geofences.model import Hotspot, KeyWater, Launch, RuleSettings
from geofences.projection import LocalProjection

LAT0, LON0 = 29.2330, 115.7780
PROJ = LocalProjection.around(LAT0, LON0)
X0, Y0 = PROJ.to_xy(LON0, LAT0)


def _lonlat(geom):  # metres from the corner -> lon/lat
    return PROJ.geom_to_lonlat(
        __import__("shapely").transform(geom, lambda c: c + np.array([X0, Y0]))
    )


LAKE = Polygon(box(0, 0, 200, 200).exterior.coords, [box(80, 80, 120, 120).exterior.coords])
KW = KeyWater(
    id="test-lake",
    name="Test lake",
    water=MultiPolygon([_lonlat(LAKE)]),
    launch=Launch(LAT0, LON0),
    hotspots=(Hotspot("swimming steps", _lonlat(Point(30, 30)), 20.0),),
)
RULES = RuleSettings(
    in_water_frames=3,
    shore_margin_m=3.0,
    distress_frames=3,
    still_seconds=20.0,
    still_radius_m=2.0,
    gathering_min_people=5,
    gathering_radius_m=10.0,
    gathering_hold_s=5.0,
    incident_close_s=30.0,
)
AREA = WaterArea.from_keywater(KW, PROJ, RULES.shore_margin_m)
DT = 0.2  # 5 processed frames per second


def ground(x: float, y: float, unc: float = 3.0) -> GroundPoint:
    lon, lat = PROJ.to_lonlat(X0 + x, Y0 + y)
    return GroundPoint(lat, lon, X0 + x, Y0 + y, 40.0, unc)


def obs(track: int | None, x: float, y: float, conf: float = 0.8, kp=None) -> Observation:
    return Observation(track, conf, (0, 0, 10, 20), kp, ground(x, y))


def upright_keypoints(arms_up: bool) -> np.ndarray:
    """A standing person, 100 px tall, head at the top of the image."""
    kp = np.zeros((17, 3))
    kp[:, 2] = 0.9
    kp[0] = (50, 10, 0.9)  # nose
    kp[1:5] = [(48, 8, 0.9), (52, 8, 0.9), (45, 10, 0.9), (55, 10, 0.9)]
    kp[5], kp[6] = (40, 25, 0.9), (60, 25, 0.9)  # shoulders
    kp[11], kp[12] = (43, 60, 0.9), (57, 60, 0.9)  # hips
    if arms_up:
        kp[9], kp[10] = (35, 0, 0.9), (65, 0, 0.9)  # wrists above the head
    else:
        kp[9], kp[10] = (38, 58, 0.9), (62, 58, 0.9)  # wrists by the hips
    return kp


class Run:
    """Engine + tracker driven frame by frame, collecting the incident events."""

    def __init__(self, rules: RuleSettings = RULES, area: WaterArea | None = AREA) -> None:
        self.engine = RuleEngine(rules, area)
        self.tracker = IncidentTracker(rules)
        self.t = 1_700_000_000.0
        self.frame = 0
        self.events: list[Incident] = []

    def step(self, observations: list[Observation], footprint=None) -> list[Incident]:
        findings = self.engine.update(self.t, observations, footprint)
        out = self.tracker.update(self.t, self.frame, findings)
        self.events += out
        self.t += DT
        self.frame += 1
        return out

    def kinds(self) -> list[tuple[str, str, str]]:
        return [(e.status, e.type, e.severity) for e in self.events]


# -- person_in_water ----------------------------------------------------------------------


def test_person_in_water_opens_on_the_kth_frame_once() -> None:
    run = Run()
    assert run.step([obs(1, 150, 50)]) == []
    assert run.step([obs(1, 150, 50)]) == []
    opened = run.step([obs(1, 150, 50)])
    assert [(e.status, e.type, e.severity) for e in opened] == [("open", "person_in_water", "high")]
    inc = opened[0]
    assert inc.people == 1 and inc.track_ids == (1,) and inc.evidence_frame == 2
    g = ground(150, 50)
    assert (inc.lat, inc.lon) == pytest.approx((g.lat, g.lon))
    for i in range(150):  # 30 s of the same person drifting 9 m: no other event (no flooding)
        assert run.step([obs(1, 150 + 0.06 * i, 50)]) == []
    assert len(run.events) == 1


def test_island_shore_margin_and_land_never_open() -> None:
    run = Run()
    for _ in range(20):
        run.step(
            [
                obs(1, 100, 100),  # on the island
                obs(2, 150, 1.5),  # in the water but 1.5 m from the bank (< 3 m margin)
                obs(3, 79, 100),  # 1 m off the island's shore
                obs(4, 250, 50),  # on land
            ]
        )
    assert run.events == []


def test_just_beyond_the_margin_opens() -> None:
    run = Run()
    for _ in range(3):
        run.step([obs(1, 150, 3.5), obs(2, 76.5, 100)])
    assert sorted(e.track_ids[0] for e in run.events) == [1, 2]


def test_a_frame_on_land_resets_the_count() -> None:
    run = Run()
    seq = [(150, 50), (150, 50), (250, 50), (150, 50), (150, 50)]
    for x, y in seq:
        run.step([obs(1, x, y)])
    assert run.events == []
    run.step([obs(1, 150, 50)])
    assert [e.status for e in run.events] == ["open"]


def test_missing_frames_do_not_reset_the_count() -> None:
    run = Run()
    for o in ([obs(1, 150, 50)], [], [obs(1, 150, 50)], [], [obs(1, 150, 50)]):
        run.step(o)
    assert [e.status for e in run.events] == ["open"]


def test_near_a_hotspot_is_critical() -> None:
    run = Run()
    for _ in range(3):
        run.step([obs(1, 40, 40)])  # 14 m from the hotspot point, radius 20 m
    assert run.kinds() == [("open", "person_in_water", "critical")]
    assert "swimming steps" in run.events[0].reason


def test_untracked_detections_do_not_open_person_incidents() -> None:
    run = Run()
    for _ in range(10):
        run.step([obs(None, 150, 50)])
    assert run.events == []


def test_no_area_no_person_in_water() -> None:
    run = Run(area=None)
    for _ in range(10):
        run.step([obs(1, 150, 50)])
    assert run.events == []


def test_closes_after_not_seen_for_incident_close_s() -> None:
    run = Run()
    for _ in range(3):
        run.step([obs(1, 150, 50)])
    last_seen = run.frame - 1
    out: list[Incident] = []
    while not out and run.frame < 1000:
        out = run.step([])
    assert [e.status for e in out] == ["closed"]
    assert (run.frame - 1 - last_seen) * DT == pytest.approx(RULES.incident_close_s, abs=DT)
    assert out[0].id == run.events[0].id


def test_moving_person_updates_rate_limited() -> None:
    run = Run()
    x = 60.0
    for _ in range(100):  # 20 s swimming east at 2.5 m/s (0.5 m per frame)
        run.step([obs(1, x, 150)])
        x += 0.5
    statuses = [e.status for e in run.events]
    assert statuses[0] == "open"
    updates = [e for e in run.events if e.status == "update"]
    # moved 48 m: an update after each 10 m, but no more often than every 5 s
    assert 2 <= len(updates) <= 4
    gaps = np.diff([e.evidence_frame for e in updates]) * DT
    assert all(g >= 5.0 - 1e-9 for g in gaps)
    assert updates[-1].lon > run.events[0].lon


def test_track_id_switch_continues_the_same_incident() -> None:
    run = Run()
    for _ in range(3):
        run.step([obs(1, 150, 50)])
    for _ in range(3):
        run.step([])  # lost
    for _ in range(5):
        run.step([obs(7, 152, 51)])  # found again 2 m away under a new id
    assert [e.status for e in run.events] == ["open"]
    assert run.tracker.active[0].track_ids == (1, 7)


def test_two_people_far_apart_are_two_incidents() -> None:
    run = Run()
    for _ in range(3):
        run.step([obs(1, 150, 50), obs(2, 150, 160)])
    assert len({e.id for e in run.events}) == 2


# -- distress ----------------------------------------------------------------------------


def test_arms_raised_reads_keypoints() -> None:
    assert arms_raised(upright_keypoints(True)) is True
    assert arms_raised(upright_keypoints(False)) is False
    assert arms_raised(None) is None
    low = upright_keypoints(True)
    low[9, 2] = 0.1  # a wrist not seen
    assert arms_raised(low) is None


def test_arms_raised_follows_the_body_axis() -> None:
    # the same person lying along the image x axis (head to the right), seen from above
    kp = upright_keypoints(True)
    lying = kp.copy()
    lying[:, 0], lying[:, 1] = 100 - kp[:, 1], kp[:, 0]
    assert arms_raised(lying) is True
    kp_down = upright_keypoints(False)
    lying_down = kp_down.copy()
    lying_down[:, 0], lying_down[:, 1] = 100 - kp_down[:, 1], kp_down[:, 0]
    assert arms_raised(lying_down) is False


def test_arms_raised_for_k_frames_is_critical_distress() -> None:
    run = Run()
    run.step([obs(1, 250, 50, kp=upright_keypoints(True))])  # on land, waving
    run.step([obs(1, 250, 50, kp=upright_keypoints(True))])
    assert run.events == []
    run.step([obs(1, 250, 50, kp=upright_keypoints(True))])
    assert run.kinds() == [("open", "distress", "critical")]


def test_arms_down_resets_and_unreadable_keeps_the_count() -> None:
    run = Run()
    up, down = upright_keypoints(True), upright_keypoints(False)
    for kp in (up, up, down, up, up):
        run.step([obs(1, 250, 50, kp=kp)])
    assert run.events == []
    run.step([obs(1, 250, 50, kp=None)])  # unreadable: neither counts nor resets
    assert run.events == []
    run.step([obs(1, 250, 50, kp=up)])
    assert run.kinds() == [("open", "distress", "critical")]


def test_person_in_water_escalates_to_distress_in_the_same_incident() -> None:
    run = Run()
    for _ in range(3):
        run.step([obs(1, 150, 50, kp=upright_keypoints(False))])
    for _ in range(3):
        run.step([obs(1, 150, 50, kp=upright_keypoints(True))])
    assert run.kinds() == [
        ("open", "person_in_water", "high"),
        ("update", "distress", "critical"),
    ]
    assert run.events[0].id == run.events[1].id
    for _ in range(5):  # arms down again: stays distress, no new event
        run.step([obs(1, 150, 50, kp=upright_keypoints(False))])
    assert len(run.events) == 2
    assert run.tracker.active[0].type == "distress"


def test_still_in_water_for_t_seconds_is_distress() -> None:
    run = Run()
    rng = np.random.default_rng(0)
    frames = int(RULES.still_seconds / DT) + 2
    for _ in range(frames):  # bobbing within 0.5 m
        dx, dy = rng.uniform(-0.5, 0.5, 2)
        run.step([obs(1, 150 + dx, 50 + dy)])
    assert run.kinds() == [("open", "person_in_water", "high"), ("update", "distress", "critical")]
    assert "still" in run.events[1].reason
    escalated_at = run.events[1].evidence_frame * DT
    assert escalated_at == pytest.approx(RULES.still_seconds + 2 * DT, abs=2 * DT)


def test_swimming_person_is_not_still() -> None:
    run = Run()
    for i in range(int(30 / DT)):
        run.step([obs(1, 60 + 0.2 * i, 160)])  # 1 m/s
    assert all(e.type == "person_in_water" for e in run.events)


# -- gathering ---------------------------------------------------------------------------


def crowd(
    x: float, y: float, n: int, spread: float = 3.0, first_id: int = 100
) -> list[Observation]:
    pts = [
        (x + spread * np.cos(a), y + spread * np.sin(a))
        for a in np.linspace(0, 6.28, n, endpoint=False)
    ]
    return [obs(first_id + i, px, py) for i, (px, py) in enumerate(pts)]


def test_dbscan_matches_a_brute_force_definition() -> None:
    rng = np.random.default_rng(1)
    pts = np.vstack(
        [rng.normal((0, 0), 2, (6, 2)), rng.normal((50, 50), 2, (5, 2)), [(200, 0), (0, 200)]]
    )
    labels = dbscan(pts, eps=8.0, min_samples=4)
    assert labels[-1] == labels[-2] == -1
    assert len(set(labels[:6])) == 1 and len(set(labels[6:11])) == 1
    assert labels[0] != labels[6] and labels[0] >= 0
    d = np.linalg.norm(pts[:, None] - pts[None], axis=2)
    for i, lab in enumerate(labels):  # every clustered point is within eps of a core point
        if lab >= 0:
            core = (d <= 8.0).sum(1) >= 4
            assert any(core[j] and d[i, j] <= 8.0 and labels[j] == lab for j in range(len(pts)))


def test_dbscan_chains_through_core_points_and_handles_empty() -> None:
    line = np.array([(i * 5.0, 0.0) for i in range(10)])  # each within 5 m of the next
    assert set(dbscan(line, eps=5.0, min_samples=3).tolist()) == {0}
    assert dbscan(np.zeros((0, 2)), 5.0, 3).tolist() == []


def test_gathering_opens_after_hold_time() -> None:
    run = Run()
    out: list[Incident] = []
    while not out and run.frame < 1000:
        out = run.step(crowd(250, 100, 5))  # on land, far from the water
    assert (run.frame - 1) * DT == pytest.approx(RULES.gathering_hold_s, abs=1e-6)
    assert [(e.status, e.type, e.severity, e.people) for e in out] == [
        ("open", "gathering", "low", 5)
    ]
    assert out[0].uncertainty_m is not None and out[0].uncertainty_m >= 3.0


def test_four_people_or_a_spread_group_is_no_gathering() -> None:
    run = Run()
    for _ in range(60):
        run.step(crowd(250, 100, 4))
    wide = Run()
    for _ in range(60):
        wide.step([obs(100 + i, 250 + 12 * i, 100) for i in range(5)])  # 12 m apart
    assert run.events == [] and wide.events == []


def test_gathering_interrupted_restarts_the_hold() -> None:
    run = Run()
    for _ in range(15):
        run.step(crowd(250, 100, 5))
    for _ in range(20):  # 4 s apart: beyond the grace
        run.step(crowd(250, 100, 3))
    for _ in range(15):
        run.step(crowd(250, 100, 5))
    assert run.events == []


@pytest.mark.parametrize(
    ("x", "y", "severity"),
    [
        (250, 100, "low"),  # 50 m inland
        (200 + SHORE_BAND_M - 6, 100, "medium"),  # on the bank, group edge 6 m from it
        (190, 100, "high"),  # some of them standing in the water
    ],
)
def test_gathering_severity_by_place(x: float, y: float, severity: str) -> None:
    run = Run()
    for _ in range(30):
        run.step(crowd(x, y, 6))
    assert [(e.type, e.severity) for e in run.events if e.type == "gathering"] == [
        ("gathering", severity)
    ]


def test_gathering_head_count_change_is_an_update_not_a_new_incident() -> None:
    run = Run()
    for _ in range(30):
        run.step(crowd(250, 100, 5))
    for _ in range(50):
        run.step(crowd(250, 100, 7))
    gatherings = [e for e in run.events if e.type == "gathering"]
    assert [(e.status, e.people) for e in gatherings] == [("open", 5), ("update", 7)]
    assert len({e.id for e in gatherings}) == 1


def test_two_groups_are_two_incidents() -> None:
    run = Run()
    for _ in range(30):
        run.step(crowd(250, 100, 5) + crowd(250, 180, 5, first_id=200))
    assert len({e.id for e in run.events if e.status == "open"}) == 2


def test_incident_ids_are_unique_and_sequential() -> None:
    run = Run()
    for i in itertools.count():
        if i >= 3:
            break
        run.step([obs(1, 150, 50), obs(2, 150, 160), obs(3, 60, 160)])
    assert [e.id for e in run.events] == ["inc-0001", "inc-0002", "inc-0003"]


# -- gathering seen from a moving drone ------------------------------------------------------
#
# The camera's footprint, 24 m along the track by 60 m across, flies east over a group of
# five standing 3 m around (250, 100). Each frame "finds" the people inside the footprint.


def footprint_at(x: float, along: float = 24.0, across: float = 60.0):
    return box(X0 + x - along / 2, Y0 + 100 - across / 2, X0 + x + along / 2, Y0 + 100 + across / 2)


def fly_over(run: Run, xs, people=lambda k: crowd(250, 100, 5), footprints: bool = True) -> list:
    """One frame per footprint position in ``xs``; returns each frame's incident events."""
    out = []
    for k, x in enumerate(xs):
        fp = footprint_at(x)
        found = [o for o in people(k) if fp.contains(Point(o.ground.x_m, o.ground.y_m))]
        out.append(run.step(found, fp if footprints else None))
    return out


PASS_XS = [220 + 3.2 * k for k in range(30)]  # 16 m/s at 5 frames/s: 1.6 s with the centre in view


def in_view(xs, x: float = 250.0, y: float = 100.0) -> list[int]:
    fp = [footprint_at(p) for p in xs]
    return [k for k, f in enumerate(fp) if f.contains(Point(X0 + x, Y0 + y))]


def test_a_pass_shorter_than_the_hold_confirms_the_group_once_when_it_leaves_the_view() -> None:
    view = in_view(PASS_XS)
    assert (len(view) + 1) * DT < RULES.gathering_hold_s / 2  # ~1.5 s of a 5 s hold
    run = Run()
    per_frame = fly_over(run, PASS_XS)
    opened = [(k, e) for k, evs in enumerate(per_frame) for e in evs if e.status == "open"]
    assert len(opened) == 1
    k, inc = opened[0]
    assert k == view[-1] + 1  # the first frame whose footprint no longer holds its centre
    assert (inc.type, inc.severity, inc.people) == ("gathering", "low", 5)
    # the evidence is the last frame that found all five, not the frame that confirmed it
    last_found = max(j for j, x in enumerate(PASS_XS) if x - 12 <= 247.5 and x + 12 >= 253.0)
    assert inc.evidence_frame == last_found < k
    assert inc.evidence_t == pytest.approx(1_700_000_000.0 + last_found * DT)
    assert all(e.type == "gathering" for e in run.events)
    # without the footprint the rules cannot tell the view ended: only the hold counts
    blind = Run()
    fly_over(blind, PASS_XS, footprints=False)
    assert blind.events == []


def test_a_group_found_in_only_two_frames_is_not_confirmed() -> None:
    xs = [220.0, 236.0, 244.0, 252.0, 268.0, 284.0, 300.0]  # all five found at 244 and 252
    run = Run()
    fly_over(run, xs)
    for _ in range(20):
        run.step([], footprint_at(400))
    assert run.events == []
    # the same two frames and one more are enough
    slower = Run()
    fly_over(slower, [220.0, 236.0, 244.0, 248.0, 252.0, 268.0])
    assert [(e.status, e.type) for e in slower.events] == [("open", "gathering")]


def test_a_group_that_dispersed_during_the_pass_is_not_confirmed() -> None:
    xs = [220 + 2.0 * k for k in range(40)]  # 10 m/s: 12 frames with its centre in view

    def people(k: int) -> list[Observation]:
        tight = crowd(250, 100, 5)
        if k < 15:  # together for the first half of the view
            return tight
        return [obs(100 + i, 250, 76 + 12 * i) for i in range(5)]  # 12 m apart, in view

    found = [k for k in range(40) if k < 15 and 241 <= xs[k] <= 259.5]
    assert len(found) >= RULES.gathering_min_frames  # enough frames, had it stayed together
    run = Run()
    fly_over(run, xs, people)
    assert run.events == []


def test_a_hovering_camera_still_needs_the_full_hold() -> None:
    run = Run()
    fp = footprint_at(250)
    out: list[Incident] = []
    while not out and run.frame < 1000:
        out = run.step(crowd(250, 100, 5), fp)
    assert (run.frame - 1) * DT == pytest.approx(RULES.gathering_hold_s, abs=1e-6)
    assert [(e.status, e.type) for e in out] == [("open", "gathering")]
    # a group that broke up under a hovering camera is no gathering, whenever it leaves
    broke = Run()
    for _ in range(10):
        broke.step(crowd(250, 100, 5), fp)
    for _ in range(5):
        broke.step([obs(100 + i, 250, 76 + 12 * i) for i in range(5)], fp)
    broke.step([], footprint_at(400))
    assert broke.events == []


@pytest.mark.parametrize("missed", list(range(1, GROUP_MISSED_FRAMES + 1)))
def test_a_group_missed_in_a_frame_or_two_of_the_pass_is_still_confirmed(missed: int) -> None:
    xs = [220 + 2.0 * k for k in range(40)]

    def people(k: int) -> list[Observation]:
        group = crowd(250, 100, 5)
        return group[:3] if 12 <= k < 12 + missed else group  # the detector finds only three

    assert all(241 <= xs[k] <= 259.5 for k in range(12, 12 + missed))  # all of it in view
    run = Run()
    fly_over(run, xs, people)
    assert [(e.status, e.type, e.people) for e in run.events] == [("open", "gathering", 5)]


def test_frames_with_the_group_half_out_of_the_view_are_not_misses() -> None:
    """A group 10 m wide leaves a 24 m footprint over several frames; frames that hold its
    centre but not all of it find fewer than five, which is no sign that it dispersed."""
    xs = [220 + 1.6 * k for k in range(50)]  # 8 m/s: 3 s with its centre in view
    group = crowd(250, 100, 5, spread=5.0)
    half_out = [
        x
        for x in xs
        if footprint_at(x).contains(Point(X0 + 250, Y0 + 100))
        and not all(footprint_at(x).contains(Point(o.ground.x_m, o.ground.y_m)) for o in group)
        and x > 250
    ]
    assert len(half_out) > GROUP_MISSED_FRAMES
    run = Run()
    fly_over(run, xs, people=lambda k: group)
    assert [(e.status, e.type) for e in run.events] == [("open", "gathering")]


def test_the_next_pass_over_a_confirmed_group_continues_its_incident() -> None:
    run = Run()
    fly_over(run, PASS_XS)
    for _ in range(25):  # 5 s away, then back the other way
        run.step([], footprint_at(400))
    fly_over(run, PASS_XS[::-1], people=lambda k: crowd(250.5, 100, 5, first_id=300))
    opened = [e for e in run.events if e.status == "open"]
    assert len(opened) == 1
    assert {e.id for e in run.events} == {opened[0].id}
