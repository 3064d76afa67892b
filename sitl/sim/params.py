"""The simulated vehicle's parameters: names, defaults and wire types as ArduCopter 4.7 has them.

Only parameters the simulation reads or waterpatrol sets are present.
Defaults are those of a stock SITL started with ``copter.parm`` (which sets
``FENCE_RADIUS`` 150). Values are kept as ArduPilot stores them: integer
types are rounded and clamped, REAL32 goes through float32.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

# MAV_PARAM_TYPE
UINT8, INT8, UINT16, INT16, UINT32, INT32, REAL32 = 1, 2, 3, 4, 5, 6, 9

_INT_RANGES = {
    UINT8: (0, 2**8 - 1),
    INT8: (-(2**7), 2**7 - 1),
    UINT16: (0, 2**16 - 1),
    INT16: (-(2**15), 2**15 - 1),
    UINT32: (0, 2**32 - 1),
    INT32: (-(2**31), 2**31 - 1),
}

DEFAULTS: dict[str, tuple[float, int]] = {
    "MAV_SYSID": (1, INT16),
    "MAV_GCS_SYSID": (255, INT16),
    "FRAME_CLASS": (1, INT8),
    "FRAME_TYPE": (1, INT8),
    "ARMING_CHECK": (1, INT32),
    "DISARM_DELAY": (10, INT8),
    "AUTO_OPTIONS": (0, INT32),
    "ANGLE_MAX": (3000, INT16),
    "FENCE_ENABLE": (0, INT8),
    "FENCE_TYPE": (7, INT8),
    "FENCE_ACTION": (1, INT8),
    "FENCE_ALT_MAX": (100.0, REAL32),
    "FENCE_ALT_MIN": (-10.0, REAL32),
    "FENCE_RADIUS": (150.0, REAL32),
    "FENCE_MARGIN": (2.0, REAL32),
    "FENCE_TOTAL": (0, INT8),
    "FENCE_AUTOENABLE": (0, INT8),
    "FENCE_OPTIONS": (0, INT16),
    "WPNAV_SPEED": (1000.0, REAL32),
    "WPNAV_SPEED_UP": (250.0, REAL32),
    "WPNAV_SPEED_DN": (150.0, REAL32),
    "WPNAV_RADIUS": (200.0, REAL32),
    "WPNAV_ACCEL": (250.0, REAL32),
    "WPNAV_ACCEL_Z": (100.0, REAL32),
    "RTL_ALT": (1500, INT32),
    "RTL_SPEED": (0, INT16),
    "RTL_ALT_FINAL": (0, INT16),
    "RTL_LOIT_TIME": (5000, INT32),
    "RTL_CLIMB_MIN": (0, INT16),
    "LAND_SPEED": (50, INT16),
    "LAND_SPEED_HIGH": (0, INT16),
    "LAND_ALT_LOW": (1000, INT16),
    "MIS_TOTAL": (0, INT16),
    "MIS_RESTART": (0, INT8),
    "MIS_OPTIONS": (0, INT16),
    "BRD_SD_MISSION": (0, INT16),  # KB of mission storage in a file (64: ~4368 items), at boot
    "BRD_SD_FENCE": (0, INT16),  # KB of fence storage in a file instead of 560 bytes, at boot
    "RALLY_TOTAL": (0, INT8),
    "RALLY_LIMIT_KM": (0.3, REAL32),
    "RALLY_INCL_HOME": (1, INT8),
    "BATT_MONITOR": (4, INT8),
    "BATT_CAPACITY": (3300, INT32),
    "BATT_LOW_VOLT": (10.5, REAL32),
    "BATT_LOW_MAH": (0.0, REAL32),
    "BATT_FS_LOW_ACT": (0, INT8),
    "BATT_ARM_VOLT": (0.0, REAL32),
    "FS_GCS_ENABLE": (0, INT8),
    "SIM_SPEEDUP": (1.0, REAL32),
    "SIM_BATT_VOLTAGE": (12.6, REAL32),
}

READ_ONLY = frozenset({"MIS_TOTAL", "FENCE_TOTAL", "RALLY_TOTAL"})


def _float32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def coerce(value: float, ptype: int) -> float:
    """The value as ArduPilot stores it for a parameter of ``ptype``."""
    if ptype == REAL32:
        return _float32(value)
    lo, hi = _INT_RANGES[ptype]
    return float(min(hi, max(lo, round(value))))


@dataclass
class ParamTable:
    """Name -> value with wire types; ``index`` order is stable (PARAM_VALUE param_index)."""

    values: dict[str, float]
    types: dict[str, int]

    @classmethod
    def defaults(cls, overrides: dict[str, float] | None = None) -> ParamTable:
        table = cls(
            {k: coerce(v, t) for k, (v, t) in DEFAULTS.items()},
            {k: t for k, (_, t) in DEFAULTS.items()},
        )
        for name, value in (overrides or {}).items():
            if name not in table.values:
                raise KeyError(name)
            table.values[name] = coerce(value, table.types[name])
        return table

    @property
    def names(self) -> list[str]:
        return list(self.values)

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def index(self, name: str) -> int:
        return self.names.index(name)

    def set(self, name: str, value: float) -> float | None:
        """Store ``value``; None for an unknown name or a non-finite value (both ignored)."""
        if name not in self.values or not math.isfinite(value):
            return None
        self.values[name] = coerce(value, self.types[name])
        return self.values[name]
