"""Telemetry the simulated vehicle sends, and when (SET_MESSAGE_INTERVAL, REQUEST_DATA_STREAM).

Nothing streams until asked for (ArduPilot SITL defaults its stream rates to
zero on SERIAL0): only HEARTBEAT, STATUSTEXT, one GPS_GLOBAL_ORIGIN and one
HOME_POSITION arrive unrequested. Intervals are simulated seconds. Pure.
"""

from __future__ import annotations

# message ids the vehicle can stream (ardupilotmega numbers)
SYS_STATUS = 1
SYSTEM_TIME = 2
GPS_RAW_INT = 24
ATTITUDE = 30
LOCAL_POSITION_NED = 32
GLOBAL_POSITION_INT = 33
MISSION_CURRENT = 42
GPS_GLOBAL_ORIGIN = 49
NAV_CONTROLLER_OUTPUT = 62
VFR_HUD = 74
BATTERY_STATUS = 147
AUTOPILOT_VERSION = 148
FENCE_STATUS = 162
EKF_STATUS_REPORT = 193
HOME_POSITION = 242
EXTENDED_SYS_STATE = 245

STREAMABLE = frozenset(
    {
        SYS_STATUS,
        SYSTEM_TIME,
        GPS_RAW_INT,
        ATTITUDE,
        LOCAL_POSITION_NED,
        GLOBAL_POSITION_INT,
        MISSION_CURRENT,
        GPS_GLOBAL_ORIGIN,
        NAV_CONTROLLER_OUTPUT,
        VFR_HUD,
        BATTERY_STATUS,
        FENCE_STATUS,
        EKF_STATUS_REPORT,
        HOME_POSITION,
        EXTENDED_SYS_STATE,
    }
)
# what REQUEST_DATA_STREAM ids mean in ArduPilot (GCS_Common ap_message groups)
STREAMS: dict[int, tuple[int, ...]] = {
    1: (),  # RAW_SENSORS
    2: (
        SYS_STATUS,
        MISSION_CURRENT,
        GPS_RAW_INT,
        NAV_CONTROLLER_OUTPUT,
        FENCE_STATUS,
    ),  # EXTENDED_STATUS
    3: (),  # RC_CHANNELS
    4: (),  # RAW_CONTROLLER
    6: (GLOBAL_POSITION_INT, LOCAL_POSITION_NED),  # POSITION
    10: (ATTITUDE,),  # EXTRA1
    11: (VFR_HUD,),  # EXTRA2
    12: (SYSTEM_TIME, BATTERY_STATUS, EKF_STATUS_REPORT, EXTENDED_SYS_STATE),  # EXTRA3
}
STREAMS[0] = tuple(sorted({m for group in STREAMS.values() for m in group}))  # ALL


class Scheduler:
    """Per-message intervals in simulated seconds and when each is next due."""

    def __init__(self) -> None:
        self.interval_s: dict[int, float] = {}
        self._next: dict[int, float] = {}

    def set_interval(self, msg_id: int, interval_s: float | None, now: float) -> bool:
        """Stream ``msg_id`` every ``interval_s`` (None or <= 0: stop); False if it cannot."""
        if msg_id not in STREAMABLE:
            return False
        if interval_s is None or interval_s <= 0:
            self.interval_s.pop(msg_id, None)
            self._next.pop(msg_id, None)
        else:
            self.interval_s[msg_id] = interval_s
            self._next[msg_id] = now
        return True

    def request_stream(self, stream_id: int, rate_hz: float, start: bool, now: float) -> None:
        for msg_id in STREAMS.get(stream_id, ()):
            self.set_interval(msg_id, 1.0 / rate_hz if start and rate_hz > 0 else None, now)

    def streaming(self, msg_id: int) -> bool:
        return msg_id in self.interval_s

    def due(self, now: float) -> list[int]:
        """Messages due now; each is sent at most once per call (the loop's tick caps the rate)."""
        out = []
        for msg_id, at in self._next.items():
            if now >= at:
                out.append(msg_id)
                period = self.interval_s[msg_id]
                nxt = at + period
                self._next[msg_id] = nxt if nxt > now else now + period
        return out
