"""Pure battery model of the simulated vehicle: current from the flight phase, charge and voltage.

A 3S LiPo (SIM_BATT_VOLTAGE 12.6 V full) with BATT_CAPACITY mAh. Hover and
cruise draw about 7.9 A so a full pack lasts about 25 minutes, the planner's
default endurance; climbing costs more, the ground idle little. Voltage falls
linearly from 4.2 to 3.5 V per cell with charge, minus a small sag under load.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

CELLS = 3
IDLE_A = 0.3  # disarmed electronics
GROUND_ARMED_A = 2.0  # motors spinning on the ground
HOVER_A = 7.5
PER_M_S_A = 0.05  # extra per m/s of ground speed
CLIMB_A = 2.0  # extra per m/s of climb
SAG_OHM = 0.02


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
    return HOVER_A + PER_M_S_A * ground_speed + CLIMB_A * max(0.0, climb_rate)


def drain(battery: Battery, current_a: float, dt_s: float) -> Battery:
    """The battery after drawing ``current_a`` for ``dt_s`` seconds."""
    used = battery.consumed_mah + current_a * dt_s / 3.6  # A*s -> mAh
    return replace(battery, consumed_mah=min(used, battery.capacity_mah), current_a=current_a)


def with_remaining(battery: Battery, remaining_pct: float) -> Battery:
    """The battery set to a given state of charge (for tests and fault injection)."""
    pct = min(100.0, max(0.0, remaining_pct))
    return replace(battery, consumed_mah=battery.capacity_mah * (1.0 - pct / 100.0))
