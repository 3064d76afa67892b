"""How far two recordings of the same mission agree: the simulated vehicle against ArduPilot SITL.

Pure computation on ``flight_record.Recording``s (no I/O). Each flight is
taken from its arming to its disarming, on the vehicle's own clock. Tracks
are compared by path distance (both resampled every metre of horizontal path
flown, each point matched to the other track near the same path distance), so
a vehicle that is a few seconds late is not counted off track;
duration and speeds are compared directly.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

from mission.items import Cmd, MissionItem
from sitl.sim.flight_record import Fix, Recording

_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON = 111_320.0
STRAIGHT_MIN_M = 60.0  # legs at least this long have a cruise part to measure
STRAIGHT_MARGIN_M = 25.0  # ... measured this far from both ends
DEV_WINDOW_M = 60  # path-distance window in which to look for the other track


@dataclass(frozen=True)
class Corner:
    seq: int
    offset_m: float  # closest approach to the waypoint
    speed_m_s: float  # ground speed there


@dataclass(frozen=True)
class FlightSummary:
    duration_s: float  # armed to disarmed
    mah_used: float
    events: list[tuple[str, int]]  # mission events in order (see ``mission_events``)
    reached_at: dict[int, float]  # MISSION_ITEM_REACHED seq -> seconds after arming
    straight_speed_m_s: float  # mean ground speed on the straight parts of long legs
    corners: list[Corner]
    path: list[tuple[float, float]]  # east, north metres from the first fix, every metre flown


@dataclass(frozen=True)
class Agreement:
    sim: FlightSummary
    sitl: FlightSummary
    duration_pct: float  # (sim - sitl) / sitl
    mean_dev_m: float  # track deviation at equal path distance
    max_dev_m: float
    straight_speed_diff_m_s: float
    corner_offset_diff_m: float  # worst |sim - sitl| closest approach over the corners
    corner_speed_diff_m_s: float  # worst |sim - sitl| speed through a corner
    reached_lag_s: float  # worst |sim - sitl| time of an item reached, after arming
    same_events: bool
    mah_pct: float  # (sim - sitl) / sitl


def _xy(origin: Fix, lat: float, lon: float) -> tuple[float, float]:
    return (
        (lon - origin.lon) * _M_PER_DEG_LON * math.cos(math.radians(origin.lat)),
        (lat - origin.lat) * _M_PER_DEG_LAT,
    )


def flight_window(rec: Recording) -> tuple[float, float]:
    """Vehicle-clock seconds of the first arming and the last disarming."""
    armed = [e.t_s for e in rec.events if e.kind == "armed"]
    disarmed = [e.t_s for e in rec.events if e.kind == "disarmed" and armed and e.t_s >= armed[0]]
    if not armed or not disarmed:
        raise ValueError("the recording has no complete flight (arm ... disarm)")
    return armed[0], disarmed[-1]


def mission_events(rec: Recording) -> list[tuple[str, int]]:
    """Mission events in order: MISSION_CURRENT seq changes (seq > 0 while flying),
    MISSION_ITEM_REACHED, mode changes and disarm, each once.

    MISSION_CURRENT is streamed (2 Hz) so it can trail an item reached by half a
    second: the comparison takes each kind's own order and where the RTL ends.
    """
    _, t1 = flight_window(rec)
    first_arm = next(i for i, e in enumerate(rec.events) if e.kind == "armed")
    out: list[tuple[str, int]] = []
    for e in rec.events[first_arm + 1 :]:
        if e.t_s > t1 or e.kind == "armed":
            continue
        if e.kind == "current" and e.value == 0:
            continue
        item = (e.kind, e.value)
        if item not in out:
            out.append(item)
    return out


def _path(fixes: list[Fix], origin: Fix) -> list[tuple[float, float]]:
    """Horizontal positions every metre of path flown (linear between fixes)."""
    pts = [_xy(origin, f.lat, f.lon) for f in fixes]
    out = [pts[0]] if pts else []
    carry = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(pts):
        seg = math.hypot(x1 - x0, y1 - y0)
        s = 1.0 - carry
        while s <= seg:
            out.append((x0 + (x1 - x0) * s / seg, y0 + (y1 - y0) * s / seg))
            s += 1.0
        carry = (carry + seg) % 1.0 if seg > 0 else carry
    return out


def _waypoints(items: list[MissionItem], origin: Fix) -> dict[int, tuple[float, float]]:
    return {
        seq: _xy(origin, it.lat, it.lon)
        for seq, it in enumerate(items)
        if seq > 0 and it.command == Cmd.NAV_WAYPOINT
    }


def summarize(rec: Recording, items: list[MissionItem], origin: Fix) -> FlightSummary:
    t0, t1 = flight_window(rec)
    flight = rec.between(t0, t1)
    fixes = flight.fixes
    xy = [_xy(origin, f.lat, f.lon) for f in fixes]
    speed = [math.hypot(f.vn, f.ve) for f in fixes]
    wps = _waypoints(items, origin)
    reached = {e.value: e.t_s - t0 for e in flight.events if e.kind == "reached"}

    corners = []
    seqs = sorted(wps)
    for a, b, c in zip(seqs, seqs[1:], seqs[2:], strict=False):
        if math.dist(wps[a], wps[b]) < 1.0 or math.dist(wps[b], wps[c]) < 1.0:
            continue  # a repeated point is no corner
        if b not in reached:
            continue
        near = [i for i, f in enumerate(fixes) if abs(f.t_s - t0 - reached[b]) <= 8.0]
        if not near:
            continue
        i = min(near, key=lambda j: math.dist(xy[j], wps[b]))
        corners.append(Corner(b, math.dist(xy[i], wps[b]), speed[i]))

    straight = []
    for a, b in itertools.pairwise(seqs):
        length = math.dist(wps[a], wps[b])
        if length < STRAIGHT_MIN_M or a not in reached or b not in reached:
            continue
        for i, f in enumerate(fixes):
            far = min(math.dist(xy[i], wps[a]), math.dist(xy[i], wps[b])) > STRAIGHT_MARGIN_M
            if far and reached[a] < f.t_s - t0 < reached[b]:
                straight.append(speed[i])
    mah = [b[2] for b in flight.battery]
    return FlightSummary(
        duration_s=t1 - t0,
        mah_used=(max(mah) - min(mah)) if mah else 0.0,
        events=mission_events(rec),
        reached_at=reached,
        straight_speed_m_s=sum(straight) / len(straight) if straight else 0.0,
        corners=corners,
        path=_path(fixes, origin),
    )


def _same_events(a: list[tuple[str, int]], b: list[tuple[str, int]]) -> bool:
    """Same order of items reached, modes and disarm, the same last events (RTL item reached,
    disarm), and MISSION_CURRENT rising through the same items on both, bar a value the 2 Hz
    stream missed on one of them (a zero-length leg passes in well under half a second)."""
    for kind in ("reached", "mode", "disarmed"):
        if [e for e in a if e[0] == kind] != [e for e in b if e[0] == kind]:
            return False
    cur_a, cur_b = ([v for k, v in ev if k == "current"] for ev in (a, b))
    for cur in (cur_a, cur_b):
        if cur != sorted(cur):
            return False
    if (cur_a[-1:] != cur_b[-1:]) or len(set(cur_a) ^ set(cur_b)) > 2:
        return False
    tail = [e for e in a if e[0] != "current"][-2:]
    return tail == [e for e in b if e[0] != "current"][-2:]


def track_deviation(
    a: list[tuple[float, float]], b: list[tuple[float, float]], window_m: int = DEV_WINDOW_M
) -> list[float]:
    """For each metre of path ``a``, the distance to path ``b`` within ``window_m`` metres of
    path distance: a corner cut shortens one path a little, and the window keeps that from
    adding up along the flight while still never matching another leg far along the mission."""
    out = []
    for i, p in enumerate(a):
        lo, hi = max(0, i - window_m), min(len(b), i + window_m + 1)
        out.append(min((math.dist(p, q) for q in b[lo:hi]), default=math.inf))
    return out


def compare(sim: Recording, sitl: Recording, items: list[MissionItem]) -> Agreement:
    """How the simulated vehicle's flight of ``items`` agrees with SITL's."""
    origin = sitl.fixes[0]
    s, r = summarize(sim, items, origin), summarize(sitl, items, origin)
    devs = track_deviation(s.path, r.path)
    by_seq = {c.seq: c for c in r.corners}
    pairs = [(c, by_seq[c.seq]) for c in s.corners if c.seq in by_seq]
    common = set(s.reached_at) & set(r.reached_at)
    return Agreement(
        sim=s,
        sitl=r,
        duration_pct=100.0 * (s.duration_s - r.duration_s) / r.duration_s,
        mean_dev_m=sum(devs) / len(devs) if devs else math.inf,
        max_dev_m=max(devs, default=math.inf),
        straight_speed_diff_m_s=s.straight_speed_m_s - r.straight_speed_m_s,
        corner_offset_diff_m=max((abs(a.offset_m - b.offset_m) for a, b in pairs), default=0.0),
        corner_speed_diff_m_s=max((abs(a.speed_m_s - b.speed_m_s) for a, b in pairs), default=0.0),
        reached_lag_s=max((abs(s.reached_at[q] - r.reached_at[q]) for q in common), default=0.0),
        same_events=_same_events(s.events, r.events),
        mah_pct=100.0 * (s.mah_used - r.mah_used) / r.mah_used if r.mah_used else math.inf,
    )
