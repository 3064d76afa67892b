"""ArduCopter's behaviour in the simulated vehicle: readiness, arming, modes, AUTO, RTL, LAND.

No I/O and no clock of its own: the vehicle loop calls ``step(dt)`` with
simulated seconds and sends what is queued in ``events`` as ``(name, fields)``
pairs (``("send", {"msg_id": n})`` asks the vehicle to send message ``n``
now). It follows ARDUPILOT_NOTES.md and ArduCopter's code for:

- readiness in simulated time: GPS 3D fix 10 s, home (and EKF origin) 20 s,
  pre-arm ok 24 s, EKF using GPS 42 s;
- arming: refusals are COMMAND_ACK FAILED plus a STATUSTEXT "Arm: <reason>";
  modes that need a position (GUIDED, AUTO, RTL) can be entered while
  disarmed but not armed in before the EKF has a position;
- GUIDED -> arm -> AUTO -> MISSION_START: AUTO on the ground announces
  "Mission: 1 Takeoff" but waits for MISSION_START (or disarms after
  DISARM_DELAY); MISSION_START while disarmed is accepted and does nothing;
- AUTO: NAV_TAKEOFF, NAV_WAYPOINT (hold time param1), NAV_LAND,
  NAV_RETURN_TO_LAUNCH (mode stays AUTO, item reached only after touchdown),
  do-commands run as their leg starts (DO_CHANGE_SPEED ...);
  MISSION_ITEM_REACHED, "Reached command #N", MISSION_CURRENT with
  mission_state; mission complete -> disarm once landed;
- RTL: climb to RTL_ALT (capped below FENCE_ALT_MAX), return to home or the
  nearest rally point (within RALLY_LIMIT_KM and closer than home), loiter
  RTL_LOIT_TIME, land (LAND_SPEED_HIGH/WPNAV_SPEED_DN, LAND_SPEED below
  LAND_ALT_LOW), disarm one second after touchdown;
- fence breach -> FENCE_ACTION (RTL, else LAND); low battery -> BATT_FS_LOW_ACT.

Simplifications: no wind or terrain, STABILIZE in the air holds position,
LOITER_TURNS and other loiters are flown as "go there and hold", DO_JUMP is
not executed, BRAKE/SmartRTL actions fall back to LAND/RTL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from enum import IntEnum

from mission.items import Cmd, Frame, MissionItem, MissionType
from sitl.sim import battery as batt
from sitl.sim import fence
from sitl.sim.flight import (
    Limits,
    Pose,
    distance_bearing,
    settle_on_ground,
    step_towards,
    turn_exit_speed,
)
from sitl.sim.mission_server import MissionServer, Out
from sitl.sim.params import ParamTable
from sitl.sim.telemetry import GPS_GLOBAL_ORIGIN, HOME_POSITION, MISSION_CURRENT


class Mode(IntEnum):
    STABILIZE = 0
    ACRO = 1
    ALT_HOLD = 2
    AUTO = 3
    GUIDED = 4
    LOITER = 5
    RTL = 6
    CIRCLE = 7
    LAND = 9
    POSHOLD = 16
    BRAKE = 17
    SMART_RTL = 21


SUPPORTED_MODES = frozenset({Mode.STABILIZE, Mode.GUIDED, Mode.AUTO, Mode.RTL, Mode.LAND})
_NEEDS_POSITION = frozenset(
    {
        Mode.AUTO,
        Mode.GUIDED,
        Mode.RTL,
        Mode.LOITER,
        Mode.CIRCLE,
        Mode.POSHOLD,
        Mode.BRAKE,
        Mode.SMART_RTL,
    }
)


class MissionState(IntEnum):
    UNKNOWN = 0
    NO_MISSION = 1
    NOT_STARTED = 2
    ACTIVE = 3
    PAUSED = 4
    COMPLETE = 5


class Result(IntEnum):
    """MAV_RESULT."""

    ACCEPTED = 0
    TEMPORARILY_REJECTED = 1
    DENIED = 2
    UNSUPPORTED = 3
    FAILED = 4


SEV_CRITICAL, SEV_WARNING, SEV_NOTICE, SEV_INFO = 2, 4, 5, 6
# Measured on SITL (4.7.0-dev): MISSION_ITEM_REACHED for the RTL item 1.9-2.0 s after
# touchdown; the climb starts ~3.2 s after MISSION_START (motors spool up from 0 A);
# RTL pauses ~2 s before it returns when no climb is needed.
LAND_DETECT_S = 2.0
TAKEOFF_SPOOL_S = 3.0
RTL_START_S = 2.0
FORCE_MAGIC = 21196

# AP_Mission verifies these itself: no MISSION_ITEM_REACHED for them.
_SILENT_DO = frozenset({183, 181, 184, 182, 202, 203, 206, 208, 211, 215})
_CMD_NAMES = {
    16: "WP",
    17: "LoitUnlim",
    18: "LoitTurns",
    19: "LoitTime",
    20: "RTL",
    21: "Land",
    22: "Takeoff",
    93: "NavDelay",
    112: "CondDelay",
    177: "Jump",
    178: "ChangeSpeed",
    195: "SetROI",
    197: "SetROI",
    201: "SetROI",
    205: "MountControl",
    206: "CamTrigDistance",
    207: "FenceEnable",
    1000: "GimbalPitchYaw",
}


def is_nav(command: int) -> bool:
    return command <= 95 or command == 213


@dataclass(frozen=True)
class Readiness:
    """Start-up milestones in simulated seconds after the clock starts (ARDUPILOT_NOTES.md)."""

    gps_fix_s: float = 10.0
    home_s: float = 20.0
    prearm_s: float = 24.0
    ekf_s: float = 42.0


@dataclass
class _Rtl:
    phase: str  # climb, return, loiter, land
    dest: tuple[float, float]
    alt_m: float
    loiter_until: float = 0.0
    started: float = 0.0  # simulated time the RTL began


@dataclass
class _MissionRun:
    state: MissionState = MissionState.NOT_STARTED
    nav_seq: int | None = None
    reached_at: float | None = None  # waypoint reached, holding
    rtl: _Rtl | None = None
    land_phase: str = ""  # "", "approach", "descend"


@dataclass
class FenceStatus:
    breaches: int = 0
    count: int = 0
    last_type: int = 0  # FENCE_BREACH enum: 1 min alt, 2 max alt, 3 boundary
    last_time_ms: int = 0


@dataclass
class Autopilot:
    params: ParamTable
    server: MissionServer
    launch: tuple[float, float, float]  # lat, lon, alt_amsl_m
    readiness: Readiness = field(default_factory=Readiness)
    t: float = 0.0
    booted: bool = False

    def __post_init__(self) -> None:
        self.pose = Pose(self.launch[0], self.launch[1], 0.0)
        self.home: tuple[float, float, float] | None = None
        self.mode = Mode.STABILIZE
        self.armed = False
        self.landed = True
        self.auto_armed = False
        self.battery = batt.Battery(
            capacity_mah=self.params["BATT_CAPACITY"], full_v=self.params["SIM_BATT_VOLTAGE"]
        )
        self.events: list[Out] = []
        self.refuse_arming: str | None = None
        self.run = _MissionRun()
        self.hold: tuple[float, float, float] | None = None
        self.guided_target: tuple[float, float, float] | None = None
        self.mode_rtl: _Rtl | None = None
        self.touchdown_at: float | None = None
        self.landed_since: float | None = 0.0
        self.speed_xy: float | None = None
        self.speed_up: float | None = None
        self.speed_down: float | None = None
        self.fence = FenceStatus()
        self.batt_failsafe = False
        self.nav_target: tuple[float, float, float] | None = None
        self.roi: tuple[float, float, float] | None = None
        self.gimbal_pitch_deg: float = 0.0
        self._last_current: tuple[int, int] = (-1, -1)
        self._leg_in_cache: tuple[object, float] = (None, 0.0)
        self._milestones: set[str] = set()
        self.max_alt_m = 0.0
        self.distance_flown_m = 0.0

    # --- readiness ---------------------------------------------------------------------------
    @property
    def gps_fix(self) -> bool:
        return self.t >= self.readiness.gps_fix_s

    @property
    def ekf_ok(self) -> bool:
        return self.t >= self.readiness.ekf_s

    @property
    def prearm_ok(self) -> bool:
        return self.t >= self.readiness.prearm_s

    def _text(self, severity: int, text: str) -> None:
        self.events.append(("statustext", {"severity": severity, "text": text}))

    def start_clock(self) -> None:
        self._text(SEV_INFO, "ArduCopter V4.7.0-dev (waterpatrol simulated vehicle)")
        self._text(SEV_INFO, "Frame: QUAD/PLUS")

    def _milestone(self, name: str, due: bool) -> bool:
        if due and name not in self._milestones:
            self._milestones.add(name)
            return True
        return False

    def _update_readiness(self) -> None:
        r = self.readiness
        if self._milestone("gps", self.t >= r.gps_fix_s):
            self._text(SEV_INFO, "GPS 1: detected u-blox at 230400 baud")
        if self._milestone("home", self.t >= r.home_s):
            self.home = (self.pose.lat, self.pose.lon, self.launch[2])
            self._text(SEV_INFO, "EKF3 IMU0 origin set")
            self._text(SEV_INFO, "EKF3 IMU1 origin set")
            self.events.append(("send", {"msg_id": GPS_GLOBAL_ORIGIN}))
            self.events.append(("send", {"msg_id": HOME_POSITION}))
            if self.mode == Mode.AUTO:
                self._mission_start_or_resume()
        if self._milestone("ekf", self.t >= r.ekf_s):
            self._text(SEV_INFO, "EKF3 IMU0 is using GPS")
            self._text(SEV_INFO, "EKF3 IMU1 is using GPS")

    # --- helpers -----------------------------------------------------------------------------
    @property
    def home_xy(self) -> tuple[float, float]:
        h = self.home or self.launch
        return h[0], h[1]

    def _limits(self, speed_xy: float | None = None) -> Limits:
        p = self.params
        return Limits(
            speed_xy=speed_xy or self.speed_xy or p["WPNAV_SPEED"] / 100.0,
            speed_up=self.speed_up or p["WPNAV_SPEED_UP"] / 100.0,
            speed_down=self.speed_down or p["WPNAV_SPEED_DN"] / 100.0,
            accel_xy=max(0.5, p["WPNAV_ACCEL"] / 100.0),
            accel_z=max(0.5, p["WPNAV_ACCEL_Z"] / 100.0),
        )

    def _move(
        self,
        lat: float,
        lon: float,
        alt: float,
        dt: float,
        *,
        exit_speed: float = 0.0,
        limits: Limits | None = None,
    ) -> None:
        before = self.pose
        self.nav_target = (lat, lon, alt)
        self.pose = step_towards(self.pose, lat, lon, alt, limits or self._limits(), dt, exit_speed)
        if self.pose.alt_m > 0.1:
            self.landed = False
            self.landed_since = None
            self.touchdown_at = None
        self.distance_flown_m += distance_bearing(
            before.lat, before.lon, self.pose.lat, self.pose.lon
        )[0]
        self.max_alt_m = max(self.max_alt_m, self.pose.alt_m)

    def _hold_here(self) -> None:
        self.hold = (self.pose.lat, self.pose.lon, self.pose.alt_m)

    def _hold(self, dt: float) -> None:
        if self.landed:
            return
        if self.hold is None:
            self._hold_here()
        assert self.hold is not None
        self._move(*self.hold, dt)

    def _item_alt(self, item: MissionItem) -> float:
        """Altitude above home of a mission item's position (0 = keep the current altitude)."""
        if item.z == 0.0:
            return self.pose.alt_m
        if item.frame == Frame.GLOBAL:
            return item.z - (self.home or self.launch)[2]
        return item.z

    def _item_xy(self, item: MissionItem) -> tuple[float, float]:
        if item.x == 0 and item.y == 0:
            return self.pose.lat, self.pose.lon
        return item.x / 1e7, item.y / 1e7

    # --- arming ------------------------------------------------------------------------------
    def arm_failure(self) -> str | None:
        """The reason ArduPilot would refuse to arm now, or None."""
        if self.refuse_arming:
            return self.refuse_arming
        if not self.booted:
            return "System not initialised"
        if not self.gps_fix:
            return "Gyros inconsistent"
        if self.mode in (Mode.RTL, Mode.LAND):
            return f"{self.mode.name} mode not armable"
        if self.mode == Mode.AUTO:
            if not int(self.params["AUTO_OPTIONS"]) & 1:
                return "AUTO mode not armable"
            if self.server.count(MissionType.MISSION) <= 1:
                return "Mode requires mission"
        fence_on = self.params["FENCE_ENABLE"] != 0
        if (self.mode in _NEEDS_POSITION or fence_on) and not self.ekf_ok:
            return "Need Position Estimate"
        if not self.prearm_ok:
            return "AHRS: waiting for home"
        if fence_on:
            mask = self._fence_breaches()
            if mask:
                return f"Vehicle breaching {fence.fence_names(mask)}"
        arm_volt = self.params["BATT_ARM_VOLT"]
        if arm_volt > 0 and self.battery.voltage_v < arm_volt:
            return "Battery 1 below minimum arming voltage"
        return None

    def arm(self, force: bool = False) -> Result:
        if self.armed:
            return Result.ACCEPTED
        reason = self.refuse_arming if force else self.arm_failure()
        if reason:
            self._text(SEV_CRITICAL, f"Arm: {reason}")
            return Result.FAILED
        self.armed = True
        self.auto_armed = False
        self.landed_since = self.t
        if self.home is not None:
            self.home = (self.pose.lat, self.pose.lon, self.home[2])  # home is reset on arming
        return Result.ACCEPTED

    def disarm(self, force: bool = False) -> Result:
        if not self.armed:
            return Result.ACCEPTED
        if not self.landed and not force:
            self._text(SEV_CRITICAL, "Disarm: vehicle is flying")
            return Result.FAILED
        self._disarm()
        return Result.ACCEPTED

    def _disarm(self) -> None:
        self.armed = False
        self.auto_armed = False
        if not self.landed:  # forced disarm in the air: it falls
            self.pose = settle_on_ground(self.pose)
            self.landed = True
        self.touchdown_at = None
        self.landed_since = self.t

    # --- modes -------------------------------------------------------------------------------
    def set_mode(self, mode: int) -> tuple[bool, str | None]:
        try:
            new = Mode(mode)
        except ValueError:
            return False, f"Mode change failed: unknown mode {mode}"
        if new not in SUPPORTED_MODES:
            return False, f"Mode change failed: {new.name} not simulated"
        if new == self.mode:
            return True, None
        if self.armed and new in _NEEDS_POSITION and not self.ekf_ok:
            return False, f"Mode change failed: {new.name} requires position"
        if new == Mode.AUTO and self.armed and self.landed and not self._starts_with_takeoff():
            return False, "Auto: Missing Takeoff Cmd"
        self._enter(new)
        return True, None

    def _enter(self, new: Mode) -> None:
        old = self.mode
        self.mode = new
        if old == Mode.AUTO and self.run.state == MissionState.ACTIVE:
            self.run.state = MissionState.PAUSED
        self.hold = None
        self.mode_rtl = None
        self.guided_target = None
        self.speed_xy = self.speed_up = self.speed_down = None
        self.nav_target = None
        if new == Mode.AUTO:
            if not self.landed:
                self.auto_armed = True
            if self.home is not None:
                self._mission_start_or_resume()
        elif new == Mode.RTL:
            self.mode_rtl = self._rtl_start()
        self._note_current()

    def _starts_with_takeoff(self) -> bool:
        items = self.server.mission_items()
        for item in items[1:]:
            if is_nav(item.command):
                return item.command == Cmd.NAV_TAKEOFF
        return False

    # --- commands ----------------------------------------------------------------------------
    def mission_start(self, first: float = 0.0, last: float = 0.0) -> Result:
        if first or last:
            return Result.DENIED
        if not self.armed:
            return Result.ACCEPTED  # as SITL: accepted, nothing happens
        ok, reason = self.set_mode(Mode.AUTO)
        if not ok:
            if reason:
                self._text(SEV_WARNING, reason)
            return Result.FAILED
        self.auto_armed = True
        if self.run.state != MissionState.ACTIVE:
            self._mission_start_or_resume()
        return Result.ACCEPTED

    def guided_takeoff(self, alt_m: float) -> Result:
        if self.mode != Mode.GUIDED or not self.armed or not self.landed or alt_m <= 0:
            return Result.FAILED
        self.auto_armed = True
        self.guided_target = (self.pose.lat, self.pose.lon, alt_m)
        self.landed_since = None
        return Result.ACCEPTED

    def guided_goto(self, lat: float, lon: float, alt_m: float) -> Result:
        if self.mode != Mode.GUIDED or not self.armed or self.landed:
            return Result.FAILED
        self.guided_target = (lat, lon, alt_m)
        return Result.ACCEPTED

    def change_speed(self, speed_type: int, speed_m_s: float) -> Result:
        if speed_m_s <= 0:
            return Result.ACCEPTED  # -1: no change
        if speed_type == 2:
            self.speed_up = speed_m_s
        elif speed_type == 3:
            self.speed_down = speed_m_s
        else:
            self.speed_xy = speed_m_s
        return Result.ACCEPTED

    def set_battery_remaining(self, pct: float) -> None:
        self.battery = batt.with_remaining(self.battery, pct)
        self.batt_failsafe = False

    # --- mission -----------------------------------------------------------------------------
    def mission_state(self) -> MissionState:
        if self.server.count(MissionType.MISSION) <= 1:
            return MissionState.NO_MISSION
        return self.run.state

    def current_seq(self) -> int:
        return self.run.nav_seq if self.run.nav_seq is not None else 0

    def _note_current(self) -> None:
        now = (self.current_seq(), int(self.mission_state()))
        if now != self._last_current:
            self._last_current = now
            self.events.append(("send", {"msg_id": MISSION_CURRENT}))

    def set_current(self, seq: int) -> bool:
        """MISSION_SET_CURRENT: jump to ``seq`` now if running, else start there on resume."""
        items = self.server.mission_items()
        if len(items) <= 1 or not 0 <= seq < len(items):
            return False
        seq = max(seq, 1)
        if self.run.state == MissionState.ACTIVE:
            self.run.nav_seq = seq - 1 if seq > 1 else None
            self._advance()
            return True
        while seq < len(items) and not is_nav(items[seq].command):
            seq += 1
        if seq >= len(items):
            return False
        self.run.nav_seq = seq
        if self.run.state == MissionState.COMPLETE:
            self.run.state = MissionState.PAUSED
        self._note_current()
        return True

    def set_home(self, location: tuple[float, float, float] | None) -> Result:
        """DO_SET_HOME: the current position (None) or a given lat, lon, alt_amsl."""
        if self.home is None:
            return Result.FAILED
        self.home = location or (self.pose.lat, self.pose.lon, self.home[2])
        return Result.ACCEPTED

    def _mission_start_or_resume(self) -> None:
        run = self.run
        restart = self.params["MIS_RESTART"] == 1
        if restart or run.state == MissionState.COMPLETE or run.nav_seq is None:
            self._mission_start()
            return
        run.state = MissionState.ACTIVE  # resume: restart the current nav command
        run.reached_at = None
        run.rtl = None
        run.land_phase = ""
        self._start_nav(run.nav_seq, self.server.mission_items())
        self._note_current()

    def _mission_start(self) -> None:
        self.run = _MissionRun(state=MissionState.ACTIVE)
        if self.server.count(MissionType.MISSION) <= 1:
            self.run.state = MissionState.COMPLETE
        else:
            self._advance()
        self._note_current()

    def _advance(self) -> None:
        items = self.server.mission_items()
        run = self.run
        i = 1 if run.nav_seq is None else run.nav_seq + 1
        dos: list[int] = []
        while i < len(items) and not is_nav(items[i].command):
            dos.append(i)
            i += 1
        if i >= len(items):
            self._mission_complete()
            return
        for seq in dos:
            self._run_do(seq, items[seq])
        run.nav_seq = i
        run.reached_at = None
        run.rtl = None
        run.land_phase = ""
        self._start_nav(i, items)
        self._note_current()

    def _start_nav(self, seq: int, items: list[MissionItem]) -> None:
        item = items[seq]
        self._text(SEV_INFO, f"Mission: {seq} {_CMD_NAMES.get(item.command, 'Cmd')}")
        if item.command == Cmd.NAV_RETURN_TO_LAUNCH:
            self.run.rtl = self._rtl_start()

    def _run_do(self, seq: int, item: MissionItem) -> None:
        self._text(SEV_INFO, f"Mission: {seq} {_CMD_NAMES.get(item.command, 'Cmd')}")
        match item.command:
            case Cmd.DO_CHANGE_SPEED:
                self.change_speed(int(item.param1), item.param2)
            case 207:  # DO_FENCE_ENABLE
                self.params.set("FENCE_ENABLE", 1.0 if item.param1 >= 1 else 0.0)
            case Cmd.DO_SET_ROI_LOCATION | 201:
                self.roi = (item.lat, item.lon, self._item_alt(item))
            case 197:
                self.roi = None
            case Cmd.DO_MOUNT_CONTROL | Cmd.DO_GIMBAL_MANAGER_PITCHYAW:
                self.gimbal_pitch_deg = item.param1
        if item.command not in _SILENT_DO:
            self.events.append(("mission_item_reached", {"seq": seq}))

    def _nav_complete(self, seq: int, item: MissionItem) -> None:
        if item.command == Cmd.NAV_WAYPOINT:
            self._text(SEV_INFO, f"Reached command #{seq}")
        # ArduCopter 4.7 (the SITL in ../shared/sitl) moves on from a completed
        # NAV_TAKEOFF without a MISSION_ITEM_REACHED for it.
        if item.command != Cmd.NAV_TAKEOFF:
            self.events.append(("mission_item_reached", {"seq": seq}))
        self._advance()

    def _mission_complete(self) -> None:
        self.run.state = MissionState.COMPLETE
        self.run.nav_seq = None
        self._note_current()
        if self.armed and self.landed:
            self._disarm()
        else:
            self._hold_here()

    def _fly_mission(self, dt: float) -> None:
        run = self.run
        if run.state != MissionState.ACTIVE or run.nav_seq is None:
            self._hold(dt)
            return
        items = self.server.mission_items()
        if run.nav_seq >= len(items):  # mission shortened under us
            self._mission_complete()
            return
        seq, item = run.nav_seq, items[run.nav_seq]
        if self.landed and not self.auto_armed:
            return  # waits for MISSION_START on the ground
        if item.command == Cmd.NAV_TAKEOFF:
            target = max(self._item_alt(item), 1.0) if item.z else max(self.pose.alt_m, 1.0)
            if run.reached_at is None:
                run.reached_at = self.t  # here: when the take-off began
            if self.pose.alt_m >= target - 0.05:
                self._nav_complete(seq, item)
            elif self.landed and self.t - run.reached_at < TAKEOFF_SPOOL_S:
                pass  # spooling up on the ground
            else:
                self._move(self.pose.lat, self.pose.lon, target, dt)
        elif item.command == Cmd.NAV_RETURN_TO_LAUNCH:
            if run.rtl is None:
                run.rtl = self._rtl_start()
            if self._fly_rtl(run.rtl, dt):
                self._nav_complete(seq, item)
        elif item.command == Cmd.NAV_LAND:
            if self._fly_land_at(item, dt):
                self._nav_complete(seq, item)
        elif item.command in (Cmd.NAV_WAYPOINT, 17, 18, 19, 82, 31, 30):
            self._fly_waypoint(seq, item, items, dt)
        elif item.command == 93:  # NAV_DELAY
            run.reached_at = run.reached_at if run.reached_at is not None else self.t
            self._hold(dt)
            if self.t - run.reached_at >= item.param1:
                self._nav_complete(seq, item)
        else:
            self._nav_complete(seq, item)

    def _leg_in_m(self, seq: int, items: list[MissionItem]) -> float:
        """Length of the leg that ends at item ``seq``: from the previous waypoint (or home)."""
        prev = next(
            (it for it in reversed(items[1:seq]) if it.command == Cmd.NAV_WAYPOINT),
            None,
        )
        key = (seq, items[seq], prev)
        if self._leg_in_cache[0] != key:  # once per waypoint, not every step
            lat, lon = self._item_xy(items[seq])
            start = (self.home or self.launch)[:2]
            plat, plon = self._item_xy(prev) if prev is not None else start
            self._leg_in_cache = (key, distance_bearing(plat, plon, lat, lon)[0])
        return self._leg_in_cache[1]

    def _fly_waypoint(
        self, seq: int, item: MissionItem, items: list[MissionItem], dt: float
    ) -> None:
        run = self.run
        lat, lon = self._item_xy(item)
        alt = self._item_alt(item)
        if run.reached_at is None:
            dist, bearing_in = distance_bearing(self.pose.lat, self.pose.lon, lat, lon)
            exit_speed = 0.0
            nxt = next((it for it in items[seq + 1 :] if is_nav(it.command)), None)
            delay = item.param1 if item.command in (Cmd.NAV_WAYPOINT, 19) else 0.0
            if nxt is not None and nxt.command == Cmd.NAV_WAYPOINT and delay == 0 and dist > 1.0:
                nlat, nlon = self._item_xy(nxt)
                leg_out, bearing_out = distance_bearing(lat, lon, nlat, nlon)
                exit_speed = turn_exit_speed(
                    self._limits().speed_xy,
                    bearing_in,
                    bearing_out,
                    min(self._leg_in_m(seq, items), leg_out),
                )
            self._move(lat, lon, alt, dt, exit_speed=exit_speed)
            dist, _ = distance_bearing(self.pose.lat, self.pose.lon, lat, lon)
            radius = max(self.params["WPNAV_RADIUS"] / 100.0, 0.05)
            if dist <= radius and abs(self.pose.alt_m - alt) <= 1.0:
                run.reached_at = self.t
        if run.reached_at is not None:
            if item.command in (17, 18):  # loiter unlimited / turns: stay there
                self._move(lat, lon, alt, dt)
                return
            hold_s = item.param1 if item.command in (Cmd.NAV_WAYPOINT, 19) else 0.0
            if self.t - run.reached_at >= hold_s:
                self._nav_complete(seq, item)
            else:
                self._move(lat, lon, alt, dt)

    # --- RTL and LAND ------------------------------------------------------------------------
    def _rtl_destination(self) -> tuple[float, float]:
        home = self.home_xy
        d_home = distance_bearing(self.pose.lat, self.pose.lon, *home)[0]
        best, best_d = None, math.inf
        for r in self.server.stores.rally:
            d = distance_bearing(self.pose.lat, self.pose.lon, r.lat, r.lon)[0]
            if d < best_d:
                best, best_d = (r.lat, r.lon), d
        limit_m = self.params["RALLY_LIMIT_KM"] * 1000.0
        if best is None or (limit_m > 0 and best_d > limit_m):
            return home
        if self.params["RALLY_INCL_HOME"] == 0 or best_d < d_home:
            return best
        return home

    def _rtl_start(self) -> _Rtl:
        alt = max(self.pose.alt_m, self.params["RTL_ALT"] / 100.0)
        if self.params["FENCE_ENABLE"] and int(self.params["FENCE_TYPE"]) & fence.ALT_MAX:
            alt = min(alt, self.params["FENCE_ALT_MAX"] - self.params["FENCE_MARGIN"])
        phase = "land" if self.landed else "climb"
        return _Rtl(
            phase=phase,
            dest=self._rtl_destination(),
            alt_m=max(alt, self.pose.alt_m if phase == "land" else 1.0),
            started=self.t,
        )

    def _fly_rtl(self, rtl: _Rtl, dt: float) -> bool:
        """Advance an RTL; True once landed and the land detector has fired."""
        if rtl.phase == "climb":
            if self.pose.alt_m >= rtl.alt_m - 0.1 and self.t - rtl.started >= RTL_START_S:
                rtl.phase = "return"
            else:
                self._move(self.pose.lat, self.pose.lon, rtl.alt_m, dt)
                return False
        if rtl.phase == "return":
            rtl_speed = self.params["RTL_SPEED"] / 100.0
            limits = self._limits(rtl_speed if rtl_speed > 0 else None)
            self._move(rtl.dest[0], rtl.dest[1], rtl.alt_m, dt, limits=limits)
            if (
                distance_bearing(self.pose.lat, self.pose.lon, *rtl.dest)[0] <= 0.5
                and self.pose.ground_speed < 0.5
            ):
                rtl.phase = "loiter"
                rtl.loiter_until = self.t + self.params["RTL_LOIT_TIME"] / 1000.0
            return False
        if rtl.phase == "loiter":
            self._move(rtl.dest[0], rtl.dest[1], rtl.alt_m, dt)
            if self.t >= rtl.loiter_until:
                final = self.params["RTL_ALT_FINAL"] / 100.0
                rtl.phase = "final" if final > 0 else "land"
            return False
        if rtl.phase == "final":
            self._move(rtl.dest[0], rtl.dest[1], self.params["RTL_ALT_FINAL"] / 100.0, dt)
            return False
        return self._descend(rtl.dest, dt)

    def _land_speed(self) -> float:
        p = self.params
        if self.pose.alt_m > p["LAND_ALT_LOW"] / 100.0:
            high = p["LAND_SPEED_HIGH"] / 100.0
            return self.speed_down or (high if high > 0 else p["WPNAV_SPEED_DN"] / 100.0)
        return max(0.1, p["LAND_SPEED"] / 100.0)

    def _descend(self, xy: tuple[float, float], dt: float) -> bool:
        """Descend over ``xy``; True once the land detector fires after touchdown."""
        if self.touchdown_at is None:
            lim = replace(self._limits(), speed_down=self._land_speed())
            self._move(xy[0], xy[1], -5.0, dt, limits=lim)
            if self.pose.alt_m <= 0.0:
                self.pose = settle_on_ground(self.pose)
                self.landed = True
                self.touchdown_at = self.t
            return False
        return self.t - self.touchdown_at >= LAND_DETECT_S

    def _fly_land_at(self, item: MissionItem, dt: float) -> bool:
        run = self.run
        target = self._item_xy(item)
        if run.land_phase == "":
            run.land_phase = "approach" if (item.x or item.y) else "descend"
        if run.land_phase == "approach":
            self._move(target[0], target[1], self.pose.alt_m, dt)
            if (
                distance_bearing(self.pose.lat, self.pose.lon, *target)[0] <= 0.5
                and self.pose.ground_speed < 0.5
            ):
                run.land_phase = "descend"
            return False
        return self._descend(target if (item.x or item.y) else (self.pose.lat, self.pose.lon), dt)

    # --- the step ----------------------------------------------------------------------------
    def step(self, dt: float) -> None:
        self.t += dt
        self._update_readiness()
        if self.armed:
            self._fly(dt)
        else:
            self.nav_target = None
        flying = self.armed and not self.landed
        current = batt.draw_a(self.armed, flying, self.pose.ground_speed, self.pose.vu)
        self.battery = batt.drain(self.battery, current, dt)
        self._check_fence()
        self._check_battery()
        self._auto_disarm()
        self._note_current()

    def _fly(self, dt: float) -> None:
        match self.mode:
            case Mode.AUTO:
                self._fly_mission(dt)
            case Mode.GUIDED:
                if self.guided_target is not None:
                    self._move(*self.guided_target, dt)
                else:
                    self._hold(dt)
            case Mode.RTL:
                if self.mode_rtl is None:
                    self.mode_rtl = self._rtl_start()
                if self._fly_rtl(self.mode_rtl, dt):
                    self._disarm()
            case Mode.LAND:
                if self.landed and self.touchdown_at is None:
                    self.touchdown_at = self.t
                if self._descend((self.pose.lat, self.pose.lon), dt):
                    self._disarm()
            case _:
                self._hold(dt)

    def _auto_disarm(self) -> None:
        if not self.armed or not self.landed:
            return
        if self.landed_since is None:
            self.landed_since = self.t
        delay = self.params["DISARM_DELAY"]
        waiting = self.mode == Mode.STABILIZE or not self.auto_armed
        if delay > 0 and waiting and self.t - self.landed_since >= delay:
            self._disarm()

    def _fence_breaches(self) -> int:
        if self.home is None:
            return 0
        p = self.params
        return fence.breaches(
            self.server.stores.fence_zones,
            int(p["FENCE_TYPE"]),
            p["FENCE_ALT_MAX"],
            p["FENCE_RADIUS"],
            self.home_xy,
            self.pose.lat,
            self.pose.lon,
            self.pose.alt_m,
        )

    def _check_fence(self) -> None:
        if self.params["FENCE_ENABLE"] == 0:
            self.fence.breaches = 0
            return
        mask = self._fence_breaches()
        new = mask & ~self.fence.breaches
        self.fence.breaches = mask
        if not new:
            return
        self.fence.count += 1
        self.fence.last_type = 2 if new & fence.ALT_MAX else 3
        self.fence.last_time_ms = int(self.t * 1000)
        if not self.armed:
            return
        self._text(SEV_NOTICE, f"{fence.fence_names(new)} breached")
        action = int(self.params["FENCE_ACTION"])
        if action == 0:
            return
        if self.landed:
            self._disarm()
        elif action in (1, 3) and self.mode not in (Mode.RTL, Mode.LAND):
            if not self.set_mode(Mode.RTL)[0]:
                self.set_mode(Mode.LAND)
        elif action not in (1, 3) and self.mode != Mode.LAND:
            self.set_mode(Mode.LAND)

    def _check_battery(self) -> None:
        if self.batt_failsafe or not self.armed:
            return
        p, b = self.params, self.battery
        remaining_mah = b.capacity_mah - b.consumed_mah
        low = (p["BATT_LOW_VOLT"] > 0 and b.voltage_v < p["BATT_LOW_VOLT"]) or (
            p["BATT_LOW_MAH"] > 0 and remaining_mah < p["BATT_LOW_MAH"]
        )
        if not low:
            return
        self.batt_failsafe = True
        self._text(
            SEV_CRITICAL, f"Battery 1 is low {b.voltage_v:.2f}V used {b.consumed_mah:.0f} mAh"
        )
        action = int(p["BATT_FS_LOW_ACT"])
        if self.landed or action == 0:
            return
        if action == 1 or not self.set_mode(Mode.RTL)[0]:
            self.set_mode(Mode.LAND)
