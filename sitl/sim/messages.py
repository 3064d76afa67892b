"""Telemetry message fields from the autopilot state: what each MAVLink message says. Pure."""

from __future__ import annotations

import math
import time

from mission.items import MissionType
from sitl.sim import telemetry as tm
from sitl.sim.autopilot import Autopilot, MissionState, Mode
from sitl.sim.flight import distance_bearing
from sitl.sim.mission_server import Out

# MAV_SYS_STATUS_SENSOR bits
_GYRO, _ACCEL, _MAG, _PRESS, _GPS = 1, 2, 4, 8, 32
_MOTORS, _GEOFENCE, _AHRS, _BATTERY, _PREARM = 0x8000, 0x100000, 0x200000, 0x2000000, 0x10000000
_BASE_SENSORS = _GYRO | _ACCEL | _MAG | _PRESS | _GPS | _MOTORS | _AHRS | _BATTERY | _PREARM
# AUTOPILOT_VERSION capabilities: MISSION_FLOAT, PARAM_FLOAT, MISSION_INT, COMMAND_INT,
# SET_POSITION_TARGET_GLOBAL_INT, MAVLINK2, MISSION_FENCE, MISSION_RALLY
CAPABILITIES = 1 | 2 | 4 | 8 | 256 | 8192 | 16384 | 32768
FLIGHT_SW_VERSION = (4 << 24) | (7 << 16) | (0 << 8) | 0  # 4.7.0, FIRMWARE_VERSION_TYPE_DEV
_POSITION_MODES = {Mode.AUTO, Mode.GUIDED, Mode.RTL, Mode.LAND, Mode.LOITER}


def heartbeat(ap: Autopilot) -> Out:
    base = 1 | 16 | 64  # CUSTOM_MODE_ENABLED | STABILIZE_ENABLED | MANUAL_INPUT_ENABLED
    if ap.mode in _POSITION_MODES and ap.armed:
        base |= 8  # GUIDED_ENABLED: the position controller is active
    if ap.armed:
        base |= 128
    if not ap.booted:
        status = 1  # BOOT
    elif ap.batt_failsafe:
        status = 5  # CRITICAL
    else:
        status = 4 if ap.armed else 3  # ACTIVE / STANDBY
    return (
        "heartbeat",
        {
            "type": 2,
            "autopilot": 3,
            "base_mode": base,
            "custom_mode": int(ap.mode),
            "system_status": status,
            "mavlink_version": 3,
        },
    )


def _boot_ms(ap: Autopilot) -> int:
    return int(ap.t * 1000) & 0xFFFFFFFF


def _alt_amsl(ap: Autopilot) -> float:
    return (ap.home or ap.launch)[2] + ap.pose.alt_m


def build(msg_id: int, ap: Autopilot) -> Out | None:
    """Fields of message ``msg_id`` now, or None when the vehicle has nothing to say yet."""
    p, pose, b = ap.params, ap.pose, ap.battery
    located = ap.home is not None
    lat_e7 = round(pose.lat * 1e7) if located else 0
    lon_e7 = round(pose.lon * 1e7) if located else 0
    match msg_id:
        case tm.SYS_STATUS:
            present = _BASE_SENSORS | (_GEOFENCE if p["FENCE_TYPE"] else 0)
            enabled = _BASE_SENSORS | (_GEOFENCE if p["FENCE_ENABLE"] else 0)
            health = _GYRO | _ACCEL | _MAG | _PRESS | _MOTORS | _BATTERY
            health |= (_GPS if ap.gps_fix else 0) | (_AHRS if ap.ekf_ok else 0)
            health |= _GEOFENCE if not ap.fence.breaches else 0
            health |= _PREARM if ap.armed or ap.arm_failure() is None else 0
            return (
                "sys_status",
                {
                    "onboard_control_sensors_present": present,
                    "onboard_control_sensors_enabled": enabled,
                    "onboard_control_sensors_health": health,
                    "load": 100,
                    "voltage_battery": int(b.voltage_v * 1000),
                    "current_battery": int(b.current_a * 100),
                    "battery_remaining": int(b.remaining_pct),
                    "drop_rate_comm": 0,
                    "errors_comm": 0,
                    "errors_count1": 0,
                    "errors_count2": 0,
                    "errors_count3": 0,
                    "errors_count4": 0,
                    "onboard_control_sensors_present_extended": 0,
                    "onboard_control_sensors_enabled_extended": 0,
                    "onboard_control_sensors_health_extended": 0,
                },
            )
        case tm.SYSTEM_TIME:
            return (
                "system_time",
                {"time_unix_usec": int(time.time() * 1e6), "time_boot_ms": _boot_ms(ap)},
            )
        case tm.GPS_RAW_INT:
            fix = ap.gps_fix
            return (
                "gps_raw_int",
                {
                    "time_usec": int(ap.t * 1e6),
                    "fix_type": 6 if fix else 1,
                    "lat": round(pose.lat * 1e7) if fix else 0,
                    "lon": round(pose.lon * 1e7) if fix else 0,
                    "alt": int(_alt_amsl(ap) * 1000) if fix else 0,
                    "eph": 121 if fix else 9999,
                    "epv": 200 if fix else 9999,
                    "vel": int(pose.ground_speed * 100),
                    "cog": int((pose.yaw_deg % 360) * 100),
                    "satellites_visible": 10 if fix else 0,
                    "alt_ellipsoid": 0,
                    "h_acc": 300 if fix else 0,
                    "v_acc": 500 if fix else 0,
                    "vel_acc": 40 if fix else 0,
                    "hdg_acc": 0,
                    "yaw": 0,
                },
            )
        case tm.ATTITUDE:
            yaw = math.radians(((pose.yaw_deg + 180.0) % 360.0) - 180.0)
            return (
                "attitude",
                {
                    "time_boot_ms": _boot_ms(ap),
                    "roll": 0.0,
                    "pitch": 0.0,
                    "yaw": yaw,
                    "rollspeed": 0.0,
                    "pitchspeed": 0.0,
                    "yawspeed": 0.0,
                },
            )
        case tm.LOCAL_POSITION_NED:
            if not located:
                return None
            dist, brg = distance_bearing(ap.home_xy[0], ap.home_xy[1], pose.lat, pose.lon)
            return (
                "local_position_ned",
                {
                    "time_boot_ms": _boot_ms(ap),
                    "x": dist * math.cos(math.radians(brg)),
                    "y": dist * math.sin(math.radians(brg)),
                    "z": -pose.alt_m,
                    "vx": pose.vn,
                    "vy": pose.ve,
                    "vz": -pose.vu,
                },
            )
        case tm.GLOBAL_POSITION_INT:
            return (
                "global_position_int",
                {
                    "time_boot_ms": _boot_ms(ap),
                    "lat": lat_e7,
                    "lon": lon_e7,
                    "alt": int(_alt_amsl(ap) * 1000),
                    "relative_alt": int(pose.alt_m * 1000),
                    "vx": int(pose.vn * 100),
                    "vy": int(pose.ve * 100),
                    "vz": int(-pose.vu * 100),
                    "hdg": int((pose.yaw_deg % 360) * 100),
                },
            )
        case tm.MISSION_CURRENT:
            count = ap.server.count(MissionType.MISSION)
            state = ap.mission_state()
            running = state in (MissionState.ACTIVE, MissionState.PAUSED)
            return (
                "mission_current",
                {
                    "seq": ap.current_seq(),
                    "total": max(count - 1, 0) if count > 1 else 0xFFFF,
                    "mission_state": int(state),
                    "mission_mode": 1 if ap.mode == Mode.AUTO else (2 if running else 0),
                },
            )
        case tm.NAV_CONTROLLER_OUTPUT:
            if ap.nav_target is None:
                wp_dist, brg, alt_err = 0, 0.0, 0.0
            else:
                d, brg = distance_bearing(pose.lat, pose.lon, ap.nav_target[0], ap.nav_target[1])
                wp_dist, alt_err = min(int(d), 65535), ap.nav_target[2] - pose.alt_m
            return (
                "nav_controller_output",
                {
                    "nav_roll": 0.0,
                    "nav_pitch": 0.0,
                    "nav_bearing": int(pose.yaw_deg) % 360,
                    "target_bearing": int(brg) % 360,
                    "wp_dist": wp_dist,
                    "alt_error": alt_err,
                    "aspd_error": 0.0,
                    "xtrack_error": 0.0,
                },
            )
        case tm.VFR_HUD:
            throttle = 0 if not ap.armed else (15 if ap.landed else 50)
            return (
                "vfr_hud",
                {
                    "airspeed": pose.ground_speed,
                    "groundspeed": pose.ground_speed,
                    "heading": int(pose.yaw_deg) % 360,
                    "throttle": throttle,
                    "alt": _alt_amsl(ap),
                    "climb": pose.vu,
                },
            )
        case tm.BATTERY_STATUS:
            return (
                "battery_status",
                {
                    "id": 0,
                    "battery_function": 0,
                    "type": 1,
                    "temperature": 32767,
                    "voltages": [int(b.voltage_v * 1000)] + [65535] * 9,
                    "current_battery": int(b.current_a * 100),
                    "current_consumed": int(b.consumed_mah),
                    "energy_consumed": -1,
                    "battery_remaining": int(b.remaining_pct),
                    "time_remaining": 0,
                    "charge_state": 2 if ap.batt_failsafe else 1,
                    "voltages_ext": [0, 0, 0, 0],
                    "mode": 0,
                    "fault_bitmask": 0,
                },
            )
        case tm.FENCE_STATUS:
            return (
                "fence_status",
                {
                    "breach_status": 1 if ap.fence.breaches else 0,
                    "breach_count": ap.fence.count & 0xFFFF,
                    "breach_type": ap.fence.last_type,
                    "breach_time": ap.fence.last_time_ms & 0xFFFFFFFF,
                    "breach_mitigation": 0,
                },
            )
        case tm.EKF_STATUS_REPORT:
            # with GPS: attitude, velocities, positions; before: attitude, vertical, const. pos.
            flags = 1 | 2 | 4 | 8 | 16 | 32 | 256 | 512 if ap.ekf_ok else 1 | 4 | 32 | 128
            return (
                "ekf_status_report",
                {
                    "flags": flags,
                    "velocity_variance": 0.02,
                    "pos_horiz_variance": 0.01,
                    "pos_vert_variance": 0.01,
                    "compass_variance": 0.01,
                    "terrain_alt_variance": 0.0,
                    "airspeed_variance": 0.0,
                },
            )
        case tm.HOME_POSITION:
            if ap.home is None:
                return None
            h = ap.home
            return (
                "home_position",
                {
                    "latitude": round(h[0] * 1e7),
                    "longitude": round(h[1] * 1e7),
                    "altitude": int(h[2] * 1000),
                    "x": 0.0,
                    "y": 0.0,
                    "z": 0.0,
                    "q": [1.0, 0.0, 0.0, 0.0],
                    "approach_x": 0.0,
                    "approach_y": 0.0,
                    "approach_z": 0.0,
                    "time_usec": int(ap.t * 1e6),
                },
            )
        case tm.GPS_GLOBAL_ORIGIN:
            if ap.home is None:
                return None
            return (
                "gps_global_origin",
                {
                    "latitude": round(ap.launch[0] * 1e7),
                    "longitude": round(ap.launch[1] * 1e7),
                    "altitude": int(ap.launch[2] * 1000),
                    "time_usec": int(ap.t * 1e6),
                },
            )
        case tm.EXTENDED_SYS_STATE:
            if ap.landed:
                landed_state = 1
            elif ap.touchdown_at is None and ap.pose.vu < -0.2 and ap.mode in (Mode.LAND, Mode.RTL):
                landed_state = 4
            else:
                landed_state = 2
            return ("extended_sys_state", {"vtol_state": 0, "landed_state": landed_state})
        case tm.AUTOPILOT_VERSION:
            return (
                "autopilot_version",
                {
                    "capabilities": CAPABILITIES,
                    "flight_sw_version": FLIGHT_SW_VERSION,
                    "middleware_sw_version": 0,
                    "os_sw_version": 0,
                    "board_version": 0,
                    "flight_custom_version": [0] * 8,
                    "middleware_custom_version": [0] * 8,
                    "os_custom_version": [0] * 8,
                    "vendor_id": 0,
                    "product_id": 0,
                    "uid": 0,
                    "uid2": [0] * 18,
                },
            )
    return None
