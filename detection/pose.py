"""Vehicle pose at a frame's capture time: samples, an interpolating buffer, and two feeds.

A ``Pose`` is where the camera is and where it points. The ``PoseBuffer`` keeps
position, attitude and gimbal samples as three time series (MAVLink sends them
as separate messages at different rates) and interpolates each at a frame
timestamp. It is fed either by a sidecar telemetry file recorded with the video
(``read_sidecar``) or live by the vehicle link (``MavlinkPoseFeed``).

Sidecar telemetry format: JSON Lines (``.jsonl``: one object per line) or CSV
(``.csv``: a header row, then one sample per row); ``#`` starts a comment line.
Fields:

    t            UNIX seconds of the sample                  } exactly one of
    t_video_s    seconds from the start of the video          } the two
    lat, lon     WGS84 degrees of the camera
    alt_m        camera height above the water surface (metres)
    roll_deg, pitch_deg, yaw_deg                 vehicle attitude (default 0)
    gimbal_pitch_deg (default -90: straight down), gimbal_yaw_deg (relative to
    the heading, default 0), gimbal_roll_deg (default 0)

Angles follow the aerospace convention: yaw clockwise from true north, pitch
nose up, roll right wing down. A gimbal is ``stabilised`` by default: its pitch
and roll are earth-referenced, so the vehicle's roll and pitch do not move the
camera; a camera bolted to the frame is ``stabilised=False``.
"""

from __future__ import annotations

import bisect
import csv
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from detection.errors import DetectionError

PoseProvider = Callable[[float], "Pose | None"]


@dataclass(frozen=True)
class Pose:
    """Camera position and orientation at time ``t``."""

    t: float  # UNIX seconds
    lat: float
    lon: float
    alt_m: float  # camera height above the water surface
    roll_deg: float = 0.0
    pitch_deg: float = 0.0
    yaw_deg: float = 0.0  # vehicle heading, clockwise from true north
    gimbal_pitch_deg: float = -90.0  # -90 looks straight down, 0 at the horizon
    gimbal_yaw_deg: float = 0.0  # relative to the vehicle heading
    gimbal_roll_deg: float = 0.0
    stabilised: bool = True  # gimbal pitch/roll earth-referenced; False: fixed to the body


def static_pose(pose: Pose) -> PoseProvider:
    """A provider for a camera that does not move (a mast camera, or a single telemetry fix)."""
    return lambda t: replace(pose, t=t)


def _wrap_deg(a: float) -> float:
    return (a + 180.0) % 360.0 - 180.0


def _lerp_angle(a: float, b: float, f: float) -> float:
    return _wrap_deg(a + _wrap_deg(b - a) * f)


class _Series:
    """One time series of tuples of floats, interpolated linearly (angles along the short way)."""

    def __init__(self, angle_mask: tuple[bool, ...], horizon_s: float) -> None:
        self._t: list[float] = []
        self._v: list[tuple[float, ...]] = []
        self._angle = angle_mask
        self._horizon_s = horizon_s

    def add(self, t: float, values: tuple[float, ...]) -> None:
        i = bisect.bisect_right(self._t, t)
        self._t.insert(i, t)
        self._v.insert(i, values)
        cut = bisect.bisect_left(self._t, self._t[-1] - self._horizon_s)
        if cut:
            del self._t[:cut], self._v[:cut]

    def at(self, t: float, max_gap_s: float) -> tuple[float, ...] | None:
        """The value at ``t``; held (not extrapolated) up to ``max_gap_s`` beyond the ends."""
        if not self._t:
            return None
        i = bisect.bisect_left(self._t, t)
        if i == 0:
            return self._v[0] if self._t[0] - t <= max_gap_s else None
        if i == len(self._t):
            return self._v[-1] if t - self._t[-1] <= max_gap_s else None
        t0, t1 = self._t[i - 1], self._t[i]
        if t1 - t0 > 2 * max_gap_s:  # a hole in the telemetry: only hold near its edges
            nearest = i - 1 if t - t0 <= t1 - t else i
            return self._v[nearest] if abs(t - self._t[nearest]) <= max_gap_s else None
        f = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
        a, b = self._v[i - 1], self._v[i]
        return tuple(
            _lerp_angle(x, y, f) if ang else x + (y - x) * f
            for x, y, ang in zip(a, b, self._angle, strict=True)
        )

    def __len__(self) -> int:
        return len(self._t)


class PoseBuffer:
    """Position, attitude and gimbal samples; ``at(t)`` interpolates a Pose for a frame.

    Thread-safe: a telemetry thread adds, the detection pipeline reads. Without
    any gimbal sample the camera is assumed to look as ``default_gimbal`` says.
    """

    def __init__(
        self,
        *,
        max_gap_s: float = 1.0,
        horizon_s: float = 120.0,
        stabilised: bool = True,
        default_gimbal: tuple[float, float, float] = (-90.0, 0.0, 0.0),
    ) -> None:
        self.max_gap_s = max_gap_s
        self.stabilised = stabilised
        self.default_gimbal = default_gimbal  # pitch, yaw (relative), roll
        self._lock = threading.Lock()
        self._position = _Series((False, False, False), horizon_s)  # lat, lon, alt_m
        self._attitude = _Series((True, True, True), horizon_s)  # roll, pitch, yaw
        # pitch, yaw, roll, yaw_is_earth (0/1, a flag carried along)
        self._gimbal = _Series((True, True, True, False), horizon_s)

    def add_position(self, t: float, lat: float, lon: float, alt_m: float) -> None:
        with self._lock:
            self._position.add(t, (lat, lon, alt_m))

    def add_attitude(self, t: float, roll_deg: float, pitch_deg: float, yaw_deg: float) -> None:
        with self._lock:
            self._attitude.add(t, (roll_deg, pitch_deg, yaw_deg))

    def add_gimbal(
        self,
        t: float,
        pitch_deg: float,
        yaw_deg: float,
        roll_deg: float = 0.0,
        *,
        yaw_in_earth_frame: bool = False,
    ) -> None:
        with self._lock:
            self._gimbal.add(t, (pitch_deg, yaw_deg, roll_deg, float(yaw_in_earth_frame)))

    def add(self, pose: Pose) -> None:
        """A complete sample (a sidecar row)."""
        self.add_position(pose.t, pose.lat, pose.lon, pose.alt_m)
        self.add_attitude(pose.t, pose.roll_deg, pose.pitch_deg, pose.yaw_deg)
        self.add_gimbal(pose.t, pose.gimbal_pitch_deg, pose.gimbal_yaw_deg, pose.gimbal_roll_deg)

    def at(self, t: float) -> Pose | None:
        """The pose at ``t``, or None when position or attitude is unknown near that time."""
        with self._lock:
            pos = self._position.at(t, self.max_gap_s)
            att = self._attitude.at(t, self.max_gap_s)
            gim = self._gimbal.at(t, self.max_gap_s)
        if pos is None or att is None:
            return None
        if gim is None:
            g_pitch, g_yaw, g_roll = self.default_gimbal
        else:
            g_pitch, g_yaw, g_roll, earth = gim
            if earth >= 0.5:
                g_yaw = _wrap_deg(g_yaw - att[2])
        return Pose(
            t=t,
            lat=pos[0],
            lon=pos[1],
            alt_m=pos[2],
            roll_deg=att[0],
            pitch_deg=att[1],
            yaw_deg=att[2],
            gimbal_pitch_deg=g_pitch,
            gimbal_yaw_deg=g_yaw,
            gimbal_roll_deg=g_roll,
            stabilised=self.stabilised,
        )

    def __len__(self) -> int:
        with self._lock:
            return len(self._position)


# -- sidecar telemetry file ---------------------------------------------------------------

_OPTIONAL = {
    "roll_deg": 0.0,
    "pitch_deg": 0.0,
    "yaw_deg": 0.0,
    "gimbal_pitch_deg": -90.0,
    "gimbal_yaw_deg": 0.0,
    "gimbal_roll_deg": 0.0,
}


def read_sidecar(
    path: str | Path, *, video_start: float | None = None, stabilised: bool = True
) -> list[Pose]:
    """Read a sidecar telemetry file (format in the module docstring), sorted by time.

    Rows with ``t_video_s`` are placed at ``video_start + t_video_s``; the
    caller passes the video's start time (UNIX seconds).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DetectionError(f"{p}: cannot read the telemetry file ({exc.strerror})") from exc
    lines = [(n, ln) for n, ln in enumerate(text.splitlines(), 1) if ln.strip()]
    lines = [(n, ln) for n, ln in lines if not ln.lstrip().startswith("#")]
    if not lines:
        raise DetectionError(f"{p}: the telemetry file has no samples")
    suffix = p.suffix.lower()
    if suffix in (".jsonl", ".json") or (suffix != ".csv" and lines[0][1].lstrip().startswith("{")):
        rows = []
        for n, ln in lines:
            try:
                obj = json.loads(ln)
            except json.JSONDecodeError as exc:
                raise DetectionError(f"{p}:{n}: not a JSON object ({exc.msg})") from exc
            if not isinstance(obj, dict):
                raise DetectionError(f"{p}:{n}: each line must be a JSON object")
            rows.append((n, obj))
    else:
        reader = csv.DictReader([ln for _, ln in lines], skipinitialspace=True)
        rows = [(lines[i + 1][0], row) for i, row in enumerate(reader)]
        if not rows:
            raise DetectionError(f"{p}: a CSV telemetry file needs a header row and samples")
    poses = [_pose_from_row(p, n, row, video_start, stabilised) for n, row in rows]
    poses.sort(key=lambda q: q.t)
    return poses


def _pose_from_row(
    path: Path, line: int, row: dict[str, Any], video_start: float | None, stabilised: bool
) -> Pose:
    def num(name: str, default: float | None = None) -> float:
        raw = row.get(name)
        if raw is None or raw == "":
            if default is None:
                raise DetectionError(f"{path}:{line}: missing field {name!r}")
            return default
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise DetectionError(f"{path}:{line}: {name}={raw!r} is not a number") from None
        if not math.isfinite(value):
            raise DetectionError(f"{path}:{line}: {name}={raw!r} is not a finite number")
        return value

    has_t, has_rel = row.get("t") not in (None, ""), row.get("t_video_s") not in (None, "")
    if has_t == has_rel:
        raise DetectionError(f"{path}:{line}: give exactly one of 't' (UNIX s) or 't_video_s'")
    if has_t:
        t = num("t")
    else:
        if video_start is None:
            raise DetectionError(
                f"{path}:{line}: 't_video_s' needs the video's start time; "
                "this source has none (use 't' in UNIX seconds)"
            )
        t = video_start + num("t_video_s")
    lat, lon, alt = num("lat"), num("lon"), num("alt_m")
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise DetectionError(f"{path}:{line}: lat/lon {lat}, {lon} out of range (WGS84 degrees)")
    if alt <= 0.0:
        raise DetectionError(f"{path}:{line}: alt_m={alt} must be above the water (> 0)")
    return Pose(
        t=t,
        lat=lat,
        lon=lon,
        alt_m=alt,
        **{k: num(k, d) for k, d in _OPTIONAL.items()},
        stabilised=stabilised,
    )


def sidecar_provider(poses: list[Pose], *, max_gap_s: float = 1.0) -> PoseProvider:
    """A provider over recorded samples; a single sample is a camera that does not move."""
    if len(poses) == 1:
        return static_pose(poses[0])
    buf = PoseBuffer(
        max_gap_s=max_gap_s, horizon_s=math.inf, stabilised=poses[0].stabilised if poses else True
    )
    for pose in poses:
        buf.add(pose)
    return buf.at


# -- live MAVLink feed --------------------------------------------------------------------

_STREAMED = {  # message id -> interval (microseconds) asked of the vehicle
    30: 50_000,  # ATTITUDE 20 Hz
    33: 100_000,  # GLOBAL_POSITION_INT 10 Hz
    285: 100_000,  # GIMBAL_DEVICE_ATTITUDE_STATUS 10 Hz
}
_YAW_IN_EARTH_FRAME = 64  # GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME
_YAW_IN_VEHICLE_FRAME = 32  # GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME
_YAW_LOCK = 16  # GIMBAL_DEVICE_FLAGS_YAW_LOCK


def quaternion_to_euler_deg(w: float, x: float, y: float, z: float) -> tuple[float, float, float]:
    """(roll, pitch, yaw) in degrees of a Z-Y-X rotation quaternion."""
    roll = math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y))
    pitch = math.asin(max(-1.0, min(1.0, 2 * (w * y - z * x))))
    yaw = math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z))
    return math.degrees(roll), math.degrees(pitch), math.degrees(yaw)


def apply_mavlink(buf: PoseBuffer, msg: Any, t: float, *, water_level_m: float = 0.0) -> bool:
    """Add what one MAVLink message says about the pose; False when it says nothing."""
    kind = msg.get_type()
    if kind == "GLOBAL_POSITION_INT":
        alt = msg.relative_alt / 1000.0 - water_level_m
        buf.add_position(t, msg.lat / 1e7, msg.lon / 1e7, alt)
    elif kind == "ATTITUDE":
        buf.add_attitude(t, math.degrees(msg.roll), math.degrees(msg.pitch), math.degrees(msg.yaw))
    elif kind == "GIMBAL_DEVICE_ATTITUDE_STATUS":
        # Roll and pitch are earth-referenced; yaw is in the vehicle frame unless a flag
        # says earth frame (or, for old senders with neither flag, yaw lock is set).
        roll, pitch, yaw = quaternion_to_euler_deg(*msg.q)
        earth = bool(msg.flags & _YAW_IN_EARTH_FRAME) or (
            not msg.flags & (_YAW_IN_EARTH_FRAME | _YAW_IN_VEHICLE_FRAME)
            and bool(msg.flags & _YAW_LOCK)
        )
        buf.add_gimbal(t, pitch, yaw, roll, yaw_in_earth_frame=earth)
    elif kind == "MOUNT_STATUS":
        # ArduPilot: pointing_a pitch, pointing_b roll, pointing_c yaw (body frame), centidegrees
        buf.add_gimbal(t, msg.pointing_a / 100.0, msg.pointing_c / 100.0, msg.pointing_b / 100.0)
    else:
        return False
    return True


class MavlinkPoseFeed:
    """Feeds a PoseBuffer from a MAVLink link (``--telemetry udpin:127.0.0.1:14551``...).

    Samples are stamped with the local receive time (``time.time()``), the
    same clock the frame sources use; on a local or radio link the delay is
    tens of milliseconds. ``water_level_m`` is the water surface's height
    above the vehicle's home (0 when it took off at the water's edge).
    """

    def __init__(
        self,
        url: str,
        buffer: PoseBuffer,
        *,
        water_level_m: float = 0.0,
        heartbeat_timeout_s: float = 10.0,
    ) -> None:
        self.url = url
        self.buffer = buffer
        self.water_level_m = water_level_m
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.messages = 0
        self._conn: Any = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> MavlinkPoseFeed:
        from pymavlink import mavutil

        try:
            conn = mavutil.mavlink_connection(self.url, source_system=254, source_component=191)
        except Exception as exc:  # pymavlink raises bare OSError/ValueError for bad URLs
            raise DetectionError(
                f"cannot open telemetry link {self.url!r} ({exc}); use e.g. "
                "udpin:127.0.0.1:14551 or tcp:127.0.0.1:5762"
            ) from exc
        hb = conn.wait_heartbeat(blocking=True, timeout=self.heartbeat_timeout_s)
        if hb is None:
            conn.close()
            raise DetectionError(
                f"no MAVLink heartbeat on {self.url} within {self.heartbeat_timeout_s:g} s: "
                "check the vehicle is sending telemetry there"
            )
        for msg_id, interval in _STREAMED.items():
            conn.mav.command_long_send(
                conn.target_system, conn.target_component, 511, 0, msg_id, interval, 0, 0, 0, 0, 0
            )
        self._conn = conn
        self._thread = threading.Thread(target=self._run, name="mavlink-pose", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        types = ["GLOBAL_POSITION_INT", "ATTITUDE", "GIMBAL_DEVICE_ATTITUDE_STATUS", "MOUNT_STATUS"]
        while not self._stop.is_set():
            try:
                msg = self._conn.recv_match(type=types, blocking=True, timeout=0.2)
            except OSError:  # the link went away; stop quietly, poses just age out
                return
            if msg is not None and apply_mavlink(
                self.buffer, msg, time.time(), water_level_m=self.water_level_m
            ):
                self.messages += 1

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        if self._conn is not None:
            self._conn.close()
