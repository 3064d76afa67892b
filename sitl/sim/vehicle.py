"""The simulated vehicle: state, the main loop, MAVLink I/O, parameters and fault injection.

``SimVehicle`` runs in a thread (``start``/``stop``, or as a context manager)
for tests, or in the foreground (``run_forever``) for ``waterpatrol sitl sim``.
One loop does everything, as a flight controller does: read the transport,
advance the simulated clock (wall time x speedup, at most ``max_wall_step_s``
per iteration so a starved process slows the simulation down, as SITL's
lockstep does), step the autopilot, answer messages, stream telemetry.

Fault injection for link tests (safe to call from another thread):
``reject_mission_item``, ``drop_link``/``restore_link``, ``disconnect_client``,
``refuse_arming``, ``ignore_next``, ``set_battery_remaining``.
"""

from __future__ import annotations

import heapq
import itertools
import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace

from pymavlink.dialects.v20 import ardupilotmega as mavlink2

from mission.items import MissionItem, MissionType
from sitl.errors import SimConfigError, SitlTimeoutError
from sitl.sim import messages
from sitl.sim import telemetry as tm
from sitl.sim.autopilot import FORCE_MAGIC, Autopilot, Mode, Readiness, Result
from sitl.sim.mission_server import (
    FENCE_STORAGE_BYTES,
    MISSION_CAPACITY,
    RALLY_CAPACITY,
    MissionServer,
    Out,
)
from sitl.sim.params import READ_ONLY, ParamTable
from sitl.sim.storage import Result as MissionResult
from sitl.sim.transport import TcpServer, UdpClient

_ONE_SHOT = (
    frozenset({tm.AUTOPILOT_VERSION, tm.HOME_POSITION, tm.GPS_GLOBAL_ORIGIN}) | tm.STREAMABLE
)
_PARAMS_PER_TICK = 40
BOOT_CONSOLE = b"Init ArduCopter V4.7.0-dev\r\n\r\nFree RAM: 131072\r\n"
BOOT_SIM_S = 2.5  # start-up never outlasts this much simulated time (readiness starts at 10 s)


@dataclass(frozen=True)
class SimConfig:
    """Settings of one simulated vehicle.

    ``port``: TCP port to listen on (0 = any free port), or with ``udp`` the
    port the GCS listens on. ``boot_s``: start-up in wall seconds (uploads get
    NO_SPACE and arming "System not initialised" until then), but at most
    2.5 simulated seconds; readiness milestones are simulated time.
    ``item_pace_s``: simulated seconds before each MISSION_REQUEST of an upload
    (two 400 Hz loop cycles, ~5.6 ms at x1 as measured on SITL).
    """

    home: tuple[float, float, float]
    port: int = 0
    udp: bool = False
    speedup: float = 1.0
    sysid: int = 1
    boot_s: float = 0.5
    readiness: Readiness = field(default_factory=Readiness)
    params: dict[str, float] = field(default_factory=dict)
    signing_key: bytes | None = None
    item_pace_s: float = 0.0056
    physics_dt: float = 0.05
    max_wall_step_s: float = 0.05

    def __post_init__(self) -> None:
        if len(self.home) != 3:
            raise SimConfigError(f"home must be (lat, lon, alt_amsl_m), got {self.home!r}")
        lat, lon, alt = self.home
        if not (-90.0 <= lat <= 90.0) or not (-180.0 <= lon <= 180.0) or not math.isfinite(alt):
            raise SimConfigError(
                f"home {lat},{lon},{alt} is not a WGS84 position; give LAT,LON[,ALT]"
            )
        if not (0.0 < self.speedup <= 1000.0):
            raise SimConfigError(f"speedup {self.speedup} must be in (0, 1000]")
        if not (0 <= self.port < 65536) or (self.udp and self.port == 0):
            raise SimConfigError(f"port {self.port} is not usable; give 1..65535 (TCP may use 0)")
        if not (1 <= self.sysid <= 255):
            raise SimConfigError(f"sysid {self.sysid} must be 1..255")
        bad = [k for k in self.params if k not in ParamTable.defaults().values]
        if bad:
            raise SimConfigError(f"unknown parameter(s) {', '.join(bad)} for the simulated vehicle")


@dataclass(frozen=True)
class VehicleSnapshot:
    """A consistent copy of the vehicle's state for tests and reports."""

    t_sim: float
    mode: str
    armed: bool
    landed: bool
    lat: float
    lon: float
    alt_m: float
    ground_speed: float
    home: tuple[float, float, float] | None
    battery_pct: float
    consumed_mah: float
    voltage_v: float
    fence_breaches: int
    fence_breach_count: int
    mission_state: int
    current_seq: int
    mission: tuple[MissionItem, ...]
    fence: tuple[MissionItem, ...]
    rally: tuple[MissionItem, ...]
    connected: bool
    max_alt_m: float
    distance_flown_m: float
    params: dict[str, float]


def _i(value: float) -> int:
    """A command parameter as an int; NaN and infinities count as 0 (as a C cast would not)."""
    return int(value) if math.isfinite(value) else 0


class _Writer:
    def __init__(self, send) -> None:
        self.write = send


class SimVehicle:
    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.speedup = config.speedup
        self.params = ParamTable.defaults(
            {"SIM_SPEEDUP": config.speedup, "MAV_SYSID": config.sysid, **config.params}
        )
        mission_kb = int(self.params["BRD_SD_MISSION"])  # storage files are set up at boot
        fence_kb = int(self.params["BRD_SD_FENCE"])
        self.server = MissionServer(
            home=self._home,
            mission_capacity=mission_kb * 1024 // 15 - 1 if mission_kb > 0 else MISSION_CAPACITY,
            fence_storage_bytes=fence_kb * 1024 if fence_kb > 0 else FENCE_STORAGE_BYTES,
            rally_capacity=RALLY_CAPACITY,
        )
        self.ap = Autopilot(self.params, self.server, config.home, config.readiness)
        self.transport: TcpServer | UdpClient = (
            UdpClient(config.port) if config.udp else TcpServer(config.port)
        )
        self.mav = mavlink2.MAVLink(_Writer(self._write), srcSystem=config.sysid, srcComponent=1)
        self.mav.robust_parsing = True
        if config.signing_key is not None:
            self._setup_signing(config.signing_key)
        self.scheduler = tm.Scheduler()
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._clock_wall: float | None = None
        self._sim_pending = 0.0
        self._next_heartbeat = 0.0
        self._heartbeat_state: tuple[int, bool] | None = None
        self._deferred: list[tuple[float, int, Out]] = []
        self._seq = itertools.count()
        self._param_queue: deque[int] = deque()
        self._drop_until: float | None = None
        self._ignore: dict[str, int] = {}
        self.error: BaseException | None = None
        self.handler_errors: list[str] = []
        self.received: dict[str, int] = {}

    # --- identity ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """A pymavlink connection string for this vehicle."""
        return self.transport.url

    @property
    def port(self) -> int:
        return self.transport.port

    @property
    def home(self) -> tuple[float, float, float]:
        return self.config.home

    def _home(self) -> tuple[float, float, float]:
        return self.ap.home or self.config.home

    def _setup_signing(self, key: bytes) -> None:
        if len(key) != 32:
            raise SimConfigError("the MAVLink signing key must be 32 bytes")
        s = self.mav.signing
        s.secret_key = key
        s.sign_outgoing = True
        s.allow_unsigned_callback = lambda _mav, _msg_id: False
        s.link_id = 0
        s.timestamp = int((max(time.time(), 1420070400) - 1420070400) * 100_000)

    # --- life cycle ----------------------------------------------------------------------
    def start(self) -> SimVehicle:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(
            target=self._run, name=f"sim-vehicle:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop; a background thread is joined and the socket closed."""
        self._stop.set()
        if self._thread is None:
            return  # run_forever() in another thread closes the socket as it returns
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise SitlTimeoutError(
                f"the simulated vehicle on port {self.port} did not stop in {timeout} s"
            )
        self._thread = None
        self.transport.close()

    def __enter__(self) -> SimVehicle:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def run_forever(self) -> None:
        """Run in the calling thread until ``stop()`` (or KeyboardInterrupt)."""
        try:
            self._run()
        finally:
            self.transport.close()

    def _run(self) -> None:
        last = time.monotonic()
        try:
            while not self._stop.is_set():
                data = self.transport.read(self._timeout())
                now = time.monotonic()
                with self._lock:
                    self._tick(data, now - last, now)
                last = now
        except BaseException as exc:  # keep the cause for the test that started us
            self.error = exc
            raise

    def _timeout(self) -> float:
        if self._clock_wall is None:
            return 0.05
        if self._deferred or self._param_queue:
            return 0.001
        return 0.01

    # --- the loop ------------------------------------------------------------------------
    def _tick(self, data: bytes, wall_dt: float, now: float) -> None:
        if self._clock_wall is None:
            if not self.transport.ever_connected:
                return
            self._clock_wall = now
            if isinstance(self.transport, TcpServer):
                self.transport.send(BOOT_CONSOLE)  # SITL's SERIAL0 prints this before MAVLink
            self.ap.start_clock()
        if not self.ap.booted and (
            now - self._clock_wall >= self.config.boot_s or self.ap.t >= BOOT_SIM_S
        ):
            self.ap.booted = self.server.ready = True
        if self._drop_until is not None and now >= self._drop_until:
            self._drop_until = None
        dropped = self._drop_until is not None
        self._sim_pending += min(max(wall_dt, 0.0), self.config.max_wall_step_s) * self.speedup
        dt = self.config.physics_dt
        while self._sim_pending >= dt:  # telemetry and timeouts at their simulated times
            self.ap.step(dt)
            self._sim_pending -= dt
            self._periodic()
        if data and not dropped:
            for msg in self.mav.parse_buffer(data) or ():
                self._handle(msg)
        self._periodic()
        for _ in range(min(_PARAMS_PER_TICK, len(self._param_queue))):
            self._send_param(self._param_queue.popleft())

    def _periodic(self) -> None:
        t = self.ap.t
        self.server.mission_running = self.ap.run.state in (3, 4) and self.ap.mode == Mode.AUTO
        for out in self.server.update(t):
            self._emit(out)
        self._sync_counts()
        self._flush_events()
        # SITL sends a HEARTBEAT at once on a mode change or (dis)arming, besides the 1 Hz one
        # (measured: AUTO seen 0.1 s after the arm, the disarm 0.2 s after the last item).
        changed = (self.ap.mode, self.ap.armed) != self._heartbeat_state
        if t >= self._next_heartbeat or changed:
            if not changed:
                self._next_heartbeat = t + 1.0
            self._heartbeat_state = (self.ap.mode, self.ap.armed)
            self._emit(messages.heartbeat(self.ap))
        for msg_id in self.scheduler.due(t):
            self._send_msg_id(msg_id)
        while self._deferred and self._deferred[0][0] <= self._sim_now():
            _, _, out = heapq.heappop(self._deferred)
            self._emit(out)

    def _write(self, buf: bytes) -> None:
        if self._drop_until is None:
            self.transport.send(bytes(buf))

    def _emit(self, out: Out) -> None:
        name, fields = out
        if name == "send":
            self._send_msg_id(fields["msg_id"], event=True)
            return
        if name == "statustext":
            fields = {"severity": fields["severity"], "text": fields["text"][:50].encode()}
        self.mav.send(getattr(self.mav, f"{name}_encode")(**fields))

    def _send_msg_id(self, msg_id: int, event: bool = False) -> None:
        if event and msg_id == tm.MISSION_CURRENT:
            return  # SITL streams it at its rate only: no push when the item changes
        out = messages.build(msg_id, self.ap)
        if out is not None:
            self._emit(out)

    def _flush_events(self) -> None:
        events, self.ap.events = self.ap.events, []
        for out in events:
            self._emit(out)

    def _sim_now(self) -> float:
        """The simulated clock between physics steps (the autopilot steps in physics_dt)."""
        return self.ap.t + self._sim_pending

    def _defer(self, delay_s: float, out: Out) -> None:
        heapq.heappush(self._deferred, (self._sim_now() + delay_s, next(self._seq), out))

    def _sync_counts(self) -> None:
        for mission_type in self.server.changed:
            name = {
                MissionType.MISSION: "MIS_TOTAL",
                MissionType.FENCE: "FENCE_TOTAL",
                MissionType.RALLY: "RALLY_TOTAL",
            }[mission_type]
            self.params.values[name] = float(self.server.count(mission_type))
        self.server.changed.clear()

    # --- incoming ------------------------------------------------------------------------
    def _for_me(self, msg) -> bool:
        ts = getattr(msg, "target_system", 0)
        tc = getattr(msg, "target_component", 0)
        return ts in (0, self.config.sysid) and tc in (0, 1)

    def _handle(self, msg) -> None:
        kind = msg.get_type()
        if kind == "BAD_DATA":
            return
        self.received[kind] = self.received.get(kind, 0) + 1
        if self._ignore.get(kind, 0) > 0:
            self._ignore[kind] -= 1
            return
        if not self._for_me(msg):
            return
        handler = getattr(self, f"_on_{kind.lower()}", None)
        if handler is None:
            return
        try:
            handler(msg, (msg.get_srcSystem(), msg.get_srcComponent()))
        except (ValueError, OverflowError, TypeError, KeyError, IndexError) as exc:
            # a message the simulation cannot digest must not stop the vehicle; tests check this
            self.handler_errors.append(f"{kind}: {exc!r}")

    def _on_param_request_list(self, msg, src) -> None:
        self._param_queue = deque(range(len(self.params.names)))

    def _send_param(self, index: int) -> None:
        name = self.params.names[index]
        self._emit(
            (
                "param_value",
                {
                    "param_id": name.encode(),
                    "param_value": self.params[name],
                    "param_type": self.params.types[name],
                    "param_count": len(self.params.names),
                    "param_index": index,
                },
            )
        )

    def _on_param_request_read(self, msg, src) -> None:
        if msg.param_index >= 0:
            if msg.param_index >= len(self.params.names):
                self._text(4, f"Unknown parameter index {msg.param_index}")
                return
            self._send_param(msg.param_index)
            return
        name = msg.param_id
        if name not in self.params:
            self._text(4, f"Unknown parameter {name}")
            return
        self._send_param(self.params.index(name))

    def _on_param_set(self, msg, src) -> None:
        name = msg.param_id
        if name not in self.params:
            return  # ArduPilot ignores unknown names
        if name in READ_ONLY:
            self._text(4, f"Param write denied ({name})")
        elif self.params.set(name, msg.param_value) is None:
            return
        self._param_changed(name)
        self._send_param(self.params.index(name))

    def _param_changed(self, name: str) -> None:
        if name == "SIM_SPEEDUP" and self.params[name] > 0:
            self.speedup = self.params[name]
        elif name == "BATT_CAPACITY" and self.params[name] > 0:
            self.ap.battery = replace(self.ap.battery, capacity_mah=self.params[name])

    def _text(self, severity: int, text: str) -> None:
        self._emit(("statustext", {"severity": severity, "text": text}))

    # mission protocol
    def _mission_type(self, msg) -> int:
        return int(getattr(msg, "mission_type", 0))

    def _on_mission_count(self, msg, src) -> None:
        for out in self.server.on_count(src, msg.count, self._mission_type(msg), self.ap.t):
            self._emit_mission(out)

    def _emit_mission(self, out: Out) -> None:
        if out[0] == "mission_request" and self.config.item_pace_s > 0:
            self._defer(self.config.item_pace_s, out)
        else:
            self._emit(out)

    def _on_mission_item_int(self, msg, src) -> None:
        self._on_item(msg, src, msg.x, msg.y)

    def _on_mission_item(self, msg, src) -> None:
        x, y = msg.x, msg.y
        if msg.command not in (202, 203):  # DIGICAM: x/y are not a position
            x, y = int(float(x) * 1e7), int(float(y) * 1e7)
        self._on_item(msg, src, int(x), int(y))

    def _on_item(self, msg, src, x: int, y: int) -> None:
        item = MissionItem(
            command=msg.command,
            frame=msg.frame,
            param1=msg.param1,
            param2=msg.param2,
            param3=msg.param3,
            param4=msg.param4,
            x=x,
            y=y,
            z=msg.z,
            autocontinue=msg.autocontinue,
            mission_type=self._mission_type(msg),
        )
        for out in self.server.on_item(src, item, msg.seq, self.ap.t):
            self._emit_mission(out)

    def _on_mission_request_list(self, msg, src) -> None:
        for out in self.server.on_request_list(src, self._mission_type(msg)):
            self._emit(out)

    def _on_mission_request_int(self, msg, src) -> None:
        for out in self.server.on_request(src, msg.seq, self._mission_type(msg), as_int=True):
            self._emit(out)

    def _on_mission_request(self, msg, src) -> None:
        for out in self.server.on_request(src, msg.seq, self._mission_type(msg), as_int=False):
            self._emit(out)

    def _on_mission_clear_all(self, msg, src) -> None:
        for out in self.server.on_clear_all(src, self._mission_type(msg)):
            self._emit(out)

    def _on_mission_set_current(self, msg, src) -> None:
        self.ap.set_current(msg.seq)
        self._send_msg_id(tm.MISSION_CURRENT)

    # commands
    def _on_set_mode(self, msg, src) -> None:
        ok, reason = self.ap.set_mode(msg.custom_mode)
        if reason:
            self._text(4, reason)
        self._ack(11, Result.ACCEPTED if ok else Result.FAILED, src)

    def _ack(self, command: int, result: int, src) -> None:
        self._emit(
            (
                "command_ack",
                {
                    "command": command,
                    "result": int(result),
                    "progress": 0,
                    "result_param2": 0,
                    "target_system": src[0],
                    "target_component": src[1],
                },
            )
        )

    def _on_command_long(self, msg, src) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4)
        lat, lon = msg.param5, msg.param6
        self._command(msg.command, params, lat, lon, msg.param7, src)

    def _on_command_int(self, msg, src) -> None:
        params = (msg.param1, msg.param2, msg.param3, msg.param4)
        self._command(msg.command, params, msg.x / 1e7, msg.y / 1e7, msg.z, src)

    def _command(
        self,
        command: int,
        p: tuple[float, float, float, float],
        lat: float,
        lon: float,
        alt: float,
        src,
    ) -> None:
        ap = self.ap
        after: list[int] = []
        match command:
            case 400:  # COMPONENT_ARM_DISARM
                force = _i(p[1]) == FORCE_MAGIC
                result = ap.arm(force) if p[0] >= 0.5 else ap.disarm(force)
            case 176:  # DO_SET_MODE
                ok, reason = ap.set_mode(_i(p[1]))
                if reason:
                    self._text(4, reason)
                result = Result.ACCEPTED if ok else Result.FAILED
            case 300:  # MISSION_START
                result = ap.mission_start(p[0], p[1])
            case 22:  # NAV_TAKEOFF
                result = ap.guided_takeoff(alt)
            case 20:  # NAV_RETURN_TO_LAUNCH
                result = Result.ACCEPTED if ap.set_mode(Mode.RTL)[0] else Result.FAILED
            case 21:  # NAV_LAND
                result = Result.ACCEPTED if ap.set_mode(Mode.LAND)[0] else Result.FAILED
            case 178:  # DO_CHANGE_SPEED
                result = ap.change_speed(_i(p[0]), p[1])
            case 192:  # DO_REPOSITION
                if ap.mode != Mode.GUIDED and (not _i(p[1]) & 1 or not ap.set_mode(Mode.GUIDED)[0]):
                    self._ack(command, Result.DENIED, src)
                    return
                result = ap.guided_goto(lat, lon, alt)
            case 207:  # DO_FENCE_ENABLE
                self.params.set("FENCE_ENABLE", 1.0 if p[0] >= 0.5 else 0.0)
                result = Result.ACCEPTED
            case 179:  # DO_SET_HOME
                result = ap.set_home(None if p[0] >= 0.5 else (lat, lon, alt))
            case 224:  # DO_SET_MISSION_CURRENT
                result = Result.ACCEPTED if ap.set_current(_i(p[0])) else Result.FAILED
                after.append(tm.MISSION_CURRENT)
            case 511:  # SET_MESSAGE_INTERVAL
                interval = None if p[1] <= 0 else p[1] / 1e6
                ok = self.scheduler.set_interval(_i(p[0]), interval, ap.t)
                result = Result.ACCEPTED if ok else Result.FAILED
            case 510:  # GET_MESSAGE_INTERVAL
                msg_id = _i(p[0])
                interval = self.scheduler.interval_s.get(msg_id)
                result = Result.ACCEPTED
                self._ack(command, result, src)
                self._emit(
                    (
                        "message_interval",
                        {
                            "message_id": msg_id,
                            "interval_us": int(interval * 1e6) if interval else -1,
                        },
                    )
                )
                return
            case 512:  # REQUEST_MESSAGE
                msg_id = _i(p[0])
                ok = msg_id in _ONE_SHOT and messages.build(msg_id, ap) is not None
                result = Result.ACCEPTED if ok else Result.FAILED
                if ok:
                    after.append(msg_id)
            case 520:  # REQUEST_AUTOPILOT_CAPABILITIES
                result = Result.ACCEPTED
                after.append(tm.AUTOPILOT_VERSION)
            case 42651:  # BATTERY_RESET: param1 monitor bitmask, param2 remaining %
                ap.set_battery_remaining(p[1])
                result = Result.ACCEPTED
            case 410:  # GET_HOME_POSITION
                result = Result.ACCEPTED if ap.home is not None else Result.FAILED
                if ap.home is not None:
                    after.append(tm.HOME_POSITION)
            case _:
                result = Result.UNSUPPORTED
        self._ack(command, result, src)
        for msg_id in after:
            self._send_msg_id(msg_id)

    def _on_request_data_stream(self, msg, src) -> None:
        self.scheduler.request_stream(
            msg.req_stream_id, msg.req_message_rate, bool(msg.start_stop), self.ap.t
        )

    def _on_set_position_target_global_int(self, msg, src) -> None:
        if msg.type_mask & 0b111 == 0b111:
            return  # position ignored: velocity or yaw targets are not simulated
        alt = msg.alt - (self._home()[2] if msg.coordinate_frame in (0, 5) else 0.0)
        self.ap.guided_goto(msg.lat_int / 1e7, msg.lon_int / 1e7, alt)

    def _on_timesync(self, msg, src) -> None:
        if msg.tc1 == 0:
            self._emit(("timesync", {"tc1": int(time.monotonic() * 1e9), "ts1": msg.ts1}))

    # --- fault injection and inspection (any thread) ------------------------------------
    def reject_mission_item(
        self, seq: int, result: int = MissionResult.ERROR, mission_type: int = MissionType.MISSION
    ) -> None:
        """NACK item ``seq`` of the next ``mission_type`` upload with this MAV_MISSION_RESULT."""
        with self._lock:
            self.server.rejects[(int(mission_type), seq)] = MissionResult(result)

    def drop_link(self, seconds: float | None = None) -> None:
        """Stop sending and receiving for ``seconds`` (wall; None: until ``restore_link``)."""
        with self._lock:
            self._drop_until = math.inf if seconds is None else time.monotonic() + seconds

    def restore_link(self) -> None:
        with self._lock:
            self._drop_until = None

    @property
    def link_dropped(self) -> bool:
        return self._drop_until is not None

    def disconnect_client(self) -> None:
        """Close the TCP client's connection (it may reconnect); SITL keeps running."""
        with self._lock:
            self.transport.disconnect()

    def refuse_arming(self, reason: str | None) -> None:
        """Refuse every arm with "Arm: <reason>" (None: arm normally again)."""
        with self._lock:
            self.ap.refuse_arming = reason

    def ignore_next(self, msg_type: str, count: int = 1) -> None:
        """Silently drop the next ``count`` ``msg_type`` messages received (e.g. "MISSION_ITEM")."""
        with self._lock:
            self._ignore[msg_type.upper()] = self._ignore.get(msg_type.upper(), 0) + count

    def set_battery_remaining(self, pct: float) -> None:
        with self._lock:
            self.ap.set_battery_remaining(pct)

    def snapshot(self) -> VehicleSnapshot:
        with self._lock:
            ap = self.ap
            return VehicleSnapshot(
                t_sim=ap.t,
                mode=ap.mode.name,
                armed=ap.armed,
                landed=ap.landed,
                lat=ap.pose.lat,
                lon=ap.pose.lon,
                alt_m=ap.pose.alt_m,
                ground_speed=ap.pose.ground_speed,
                home=ap.home,
                battery_pct=ap.battery.remaining_pct,
                consumed_mah=ap.battery.consumed_mah,
                voltage_v=ap.battery.voltage_v,
                fence_breaches=ap.fence.breaches,
                fence_breach_count=ap.fence.count,
                mission_state=int(ap.mission_state()),
                current_seq=ap.current_seq(),
                mission=tuple(self.server.mission_items()),
                fence=tuple(self.server.stores.fence),
                rally=tuple(self.server.stores.rally),
                connected=self.transport.connected,
                max_alt_m=ap.max_alt_m,
                distance_flown_m=ap.distance_flown_m,
                params=dict(self.params.values),
            )

    def wait_for(self, predicate, timeout_s: float, what: str) -> VehicleSnapshot:
        """Poll ``predicate(snapshot)``; SitlTimeoutError naming ``what`` after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            if self.error is not None:
                raise SitlTimeoutError(
                    f"the simulated vehicle failed while waiting for {what}: {self.error!r}"
                )
            if time.monotonic() >= deadline:
                raise SitlTimeoutError(
                    f"timed out after {timeout_s} s waiting for {what} (mode {snap.mode}, "
                    f"armed {snap.armed}, alt {snap.alt_m:.1f} m, sim t {snap.t_sim:.1f} s)"
                )
            time.sleep(0.01)
