"""Pure battery model of the simulated vehicle: current from the flight phase, charge and voltage.

A 3S LiPo (SIM_BATT_VOLTAGE 12.6 V full) with BATT_CAPACITY mAh, drawing what
ArduCopter SITL's stock battery (copter.parm: BATT_MONITOR 4, +-frame quad)
reports in BATTERY_STATUS.current_battery for the same flight phase, so a pack
of the same BATT_CAPACITY lasts as long on both vehicles. Voltage falls
linearly from 4.2 to 3.5 V per cell with charge, minus a small sag under load.

Measured on /work/shared/sitl/arducopter (4.7.0-dev, speed-up 10) flying the
sample pond (5 m/s legs, 30 m) and the sample lake's second sortie (10 m/s
legs, 50 m), BATTERY_STATUS at 2 Hz classed by GLOBAL_POSITION_INT velocity
(python -m benchmarks.bench_sim_vs_sitl prints the per-phase means again):
disarmed 0.0 A; armed on the ground (idle, before the spool-up) 0.0 A; hover
28.2-28.4 A; cruise 28.35 A at 5 m/s and 30.5 A at 10 m/s; climb at 2.5 m/s
30.0 A; descent at 1.5 / 0.5 m/s 27.3 / 27.7 A. The pond drew 1844 mAh in
239 s armed, the lake sortie 5136 mAh in 622 s.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

CELLS = 3
IDLE_A = 0.0  # disarmed: SITL's battery reads 0 A
GROUND_ARMED_A = 0.0  # armed at ground idle (SITL: 0 A until the take-off spool-up)
HOVER_A = 28.3
# SITL's current in level flight at ground speeds (m/s, A); linear between, flat beyond.
LEVEL_A = ((0.0, HOVER_A), (5.0, 28.35), (10.0, 30.5))
CRUISE_A = 30.5  # level flight at 10 m/s, the planner's cruise: capacity = CRUISE_A x endurance
CLIMB_A_PER_M_S = 0.7  # extra per m/s of climb (30.0 A at 2.5 m/s)
DESCENT_A_PER_M_S = 0.6  # less per m/s of descent (27.4 A at 1.5 m/s)
SAG_OHM = 0.005  # 0.15 V at cruise: the low-voltage failsafe stays near 7 % left


@dataclass(frozen=True)
class Battery:
    capacity_mah: float
    consumed_mah: float = 0.0
    current_a: float = IDLE_A
    full_v: float = 12.6

    @property
    def remaining_pct(self) -> float:
        return max(0.0, 100.0 * (1.0 - self.consumed_mah / self.capacity_mah))

    @property
    def voltage_v(self) -> float:
        per_cell_full = self.full_v / CELLS
        per_cell = 3.5 + (per_cell_full - 3.5) * self.remaining_pct / 100.0
        return max(0.0, per_cell * CELLS - SAG_OHM * self.current_a)


def draw_a(armed: bool, flying: bool, ground_speed: float, climb_rate: float) -> float:
    """Current in amps for a flight phase."""
    if not armed:
        return IDLE_A
    if not flying:
        return GROUND_ARMED_A
    vertical = CLIMB_A_PER_M_S * climb_rate if climb_rate > 0 else DESCENT_A_PER_M_S * climb_rate
    return level_a(ground_speed) + vertical


def level_a(ground_speed: float) -> float:
    """Current in level flight at ``ground_speed`` m/s (interpolated in LEVEL_A)."""
    for (v0, a0), (v1, a1) in itertools.pairwise(LEVEL_A):
        if ground_speed <= v1:
            return a0 + (a1 - a0) * max(0.0, ground_speed - v0) / (v1 - v0)
    return LEVEL_A[-1][1]


def drain(battery: Battery, current_a: float, dt_s: float) -> Battery:
    """The battery after drawing ``current_a`` for ``dt_s`` seconds."""
    used = battery.consumed_mah + current_a * dt_s / 3.6  # A*s -> mAh
    return replace(battery, consumed_mah=min(used, battery.capacity_mah), current_a=current_a)


def with_remaining(battery: Battery, remaining_pct: float) -> Battery:
    """The battery set to a given state of charge (for tests and fault injection)."""
    pct = min(100.0, max(0.0, remaining_pct))
    return replace(battery, consumed_mah=battery.capacity_mah * (1.0 - pct / 100.0))
