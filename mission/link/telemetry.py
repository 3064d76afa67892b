"""A small vehicle-state object fed by MAVLink messages. Pure: no I/O, no pymavlink import.

``Telemetry.update(msg, now)`` takes any object with pymavlink's message
interface (``get_type()`` and the message's fields) and a monotonic time.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Any

# ArduCopter custom_mode numbers (ArduCopter/mode.h).
COPTER_MODES: dict[str, int] = {
    "STABILIZE": 0,
    "ACRO": 1,
    "ALT_HOLD": 2,
    "AUTO": 3,
    "GUIDED": 4,
    "LOITER": 5,
    "RTL": 6,
    "CIRCLE": 7,
    "LAND": 9,
    "DRIFT": 11,
    "SPORT": 13,
    "FLIP": 14,
    "AUTOTUNE": 15,
    "POSHOLD": 16,
    "BRAKE": 17,
    "THROW": 18,
    "SMART_RTL": 21,
    "FOLLOW": 23,
    "ZIGZAG": 24,
    "AUTO_RTL": 27,
}
COPTER_MODE_NAMES: dict[int, str] = {v: k for k, v in COPTER_MODES.items()}

MAV_MODE_FLAG_SAFETY_ARMED = 128
GPS_FIX_3D = 3
EKF_POS_HORIZ_ABS = 16
EKF_CONST_POS_MODE = 128
MISSION_STATE_ACTIVE = 3
MISSION_STATE_COMPLETE = 5
LANDED_STATE_ON_GROUND = 1


@dataclass(frozen=True)
class StatusText:
    time: float  # monotonic seconds when received
    severity: int  # MAV_SEVERITY: 0 emergency ... 3 error, 4 warning, 6 info
    text: str


@dataclass
class Telemetry:
    """Latest known vehicle state; ``None`` until the message that carries it arrives."""

    last_heartbeat: float | None = None
    custom_mode: int | None = None
    armed: bool = False
    system_status: int | None = None
    lat: float | None = None
    lon: float | None = None
    alt_rel_m: float | None = None
    alt_amsl_m: float | None = None
    heading_deg: float | None = None
    groundspeed_m_s: float | None = None
    position_time: float | None = None
    roll_rad: float | None = None
    pitch_rad: float | None = None
    yaw_rad: float | None = None
    battery_pct: float | None = None
    battery_voltage_v: float | None = None
    battery_consumed_mah: float | None = None
    gps_fix: int = 0
    satellites: int | None = None
    ekf_flags: int | None = None
    home: tuple[float, float, float] | None = None  # lat, lon, alt_amsl_m
    mission_seq: int | None = None
    mission_total: int | None = None
    mission_state: int | None = None
    reached: list[int] = field(default_factory=list)  # MISSION_ITEM_REACHED seqs, in order
    fence_breached: bool = False
    fence_breach_count: int = 0
    fence_breach_type: int = 0
    landed_state: int | None = None
    statustexts: deque[StatusText] = field(default_factory=lambda: deque(maxlen=100))

    @property
    def mode(self) -> str:
        if self.custom_mode is None:
            return "UNKNOWN"
        return COPTER_MODE_NAMES.get(self.custom_mode, f"MODE({self.custom_mode})")

    @property
    def gps_ok(self) -> bool:
        return self.gps_fix >= GPS_FIX_3D

    @property
    def ekf_ok(self) -> bool:
        f = self.ekf_flags
        return f is not None and bool(f & EKF_POS_HORIZ_ABS) and not f & EKF_CONST_POS_MODE

    def missing_for_flight(self) -> list[str]:
        """What still keeps the vehicle from being ready to fly a mission, in plain words."""
        missing = []
        if self.last_heartbeat is None:
            missing.append("heartbeat")
        if not self.gps_ok:
            missing.append(f"GPS 3D fix (fix type {self.gps_fix})")
        if not self.ekf_ok:
            what = (
                "no EKF_STATUS_REPORT yet"
                if self.ekf_flags is None
                else f"flags {self.ekf_flags:#x}"
            )
            missing.append(f"EKF absolute position ({what})")
        if self.home is None:
            missing.append("home position")
        return missing

    def statustexts_since(self, t0: float) -> list[StatusText]:
        return [s for s in self.statustexts if s.time >= t0]

    def snapshot(self) -> Telemetry:
        return copy.deepcopy(self)

    def update(self, msg: Any, now: float) -> None:
        handler = _HANDLERS.get(msg.get_type())
        if handler is not None:
            handler(self, msg, now)


def _heartbeat(t: Telemetry, m: Any, now: float) -> None:
    t.last_heartbeat = now
    t.custom_mode = int(m.custom_mode)
    t.armed = bool(m.base_mode & MAV_MODE_FLAG_SAFETY_ARMED)
    t.system_status = int(m.system_status)


def _global_position_int(t: Telemetry, m: Any, now: float) -> None:
    t.lat, t.lon = m.lat / 1e7, m.lon / 1e7
    t.alt_rel_m, t.alt_amsl_m = m.relative_alt / 1000.0, m.alt / 1000.0
    t.groundspeed_m_s = (m.vx**2 + m.vy**2) ** 0.5 / 100.0
    t.heading_deg = None if m.hdg == 65535 else m.hdg / 100.0
    t.position_time = now


def _attitude(t: Telemetry, m: Any, now: float) -> None:
    t.roll_rad, t.pitch_rad, t.yaw_rad = m.roll, m.pitch, m.yaw


def _sys_status(t: Telemetry, m: Any, now: float) -> None:
    if m.battery_remaining >= 0:
        t.battery_pct = float(m.battery_remaining)
    if m.voltage_battery not in (0, 65535):
        t.battery_voltage_v = m.voltage_battery / 1000.0


def _battery_status(t: Telemetry, m: Any, now: float) -> None:
    if m.id != 0:
        return
    if m.battery_remaining >= 0:
        t.battery_pct = float(m.battery_remaining)
    if m.current_consumed >= 0:
        t.battery_consumed_mah = float(m.current_consumed)


def _gps_raw_int(t: Telemetry, m: Any, now: float) -> None:
    t.gps_fix = int(m.fix_type)
    t.satellites = None if m.satellites_visible == 255 else int(m.satellites_visible)


def _ekf_status_report(t: Telemetry, m: Any, now: float) -> None:
    t.ekf_flags = int(m.flags)


def _home_position(t: Telemetry, m: Any, now: float) -> None:
    t.home = (m.latitude / 1e7, m.longitude / 1e7, m.altitude / 1000.0)


def _mission_current(t: Telemetry, m: Any, now: float) -> None:
    t.mission_seq = int(m.seq)
    t.mission_total = getattr(m, "total", None)
    t.mission_state = getattr(m, "mission_state", None)


def _mission_item_reached(t: Telemetry, m: Any, now: float) -> None:
    t.reached.append(int(m.seq))


def _fence_status(t: Telemetry, m: Any, now: float) -> None:
    t.fence_breached = bool(m.breach_status)
    t.fence_breach_count = int(m.breach_count)
    t.fence_breach_type = int(m.breach_type)


def _extended_sys_state(t: Telemetry, m: Any, now: float) -> None:
    t.landed_state = int(m.landed_state)


def _statustext(t: Telemetry, m: Any, now: float) -> None:
    text = m.text if isinstance(m.text, str) else bytes(m.text).decode("utf-8", "replace")
    t.statustexts.append(StatusText(now, int(m.severity), text.rstrip("\x00")))


_HANDLERS = {
    "HEARTBEAT": _heartbeat,
    "GLOBAL_POSITION_INT": _global_position_int,
    "ATTITUDE": _attitude,
    "SYS_STATUS": _sys_status,
    "BATTERY_STATUS": _battery_status,
    "GPS_RAW_INT": _gps_raw_int,
    "EKF_STATUS_REPORT": _ekf_status_report,
    "HOME_POSITION": _home_position,
    "MISSION_CURRENT": _mission_current,
    "MISSION_ITEM_REACHED": _mission_item_reached,
    "FENCE_STATUS": _fence_status,
    "EXTENDED_SYS_STATE": _extended_sys_state,
    "STATUSTEXT": _statustext,
}

# Telemetry the link asks for with SET_MESSAGE_INTERVAL (rates in the vehicle's clock).
DEFAULT_RATES_HZ: dict[str, float] = {
    "GLOBAL_POSITION_INT": 4.0,
    "ATTITUDE": 2.0,
    "SYS_STATUS": 1.0,
    "BATTERY_STATUS": 1.0,
    "GPS_RAW_INT": 1.0,
    "EKF_STATUS_REPORT": 1.0,
    "MISSION_CURRENT": 2.0,
    "FENCE_STATUS": 1.0,
    "EXTENDED_SYS_STATE": 1.0,
    "HOME_POSITION": 0.5,
}


def rates_for_speedup(speedup: float, rates_hz: dict[str, float] | None = None) -> dict[str, float]:
    """Telemetry rates for a simulator running ``speedup`` times faster than real time.

    Rates are in the vehicle's clock, so a fast simulation multiplies the
    traffic; above x10 they are scaled down to keep about the wall-clock
    rates of x10.
    """
    factor = min(1.0, 10.0 / speedup) if speedup > 0 else 1.0
    return {name: hz * factor for name, hz in (rates_hz or DEFAULT_RATES_HZ).items()}
