"""The test vehicles' battery: sized like the plan's aircraft, swapped between sorties.

A SITL (and the simulated vehicle, which draws what SITL draws) flies a stock
3300 mAh pack: at SITL's ~30 A that is about 6.5 minutes, while a key water's
aircraft flies ``vehicle.endurance_min`` (25 by default). The harness sets
BATT_CAPACITY so a full pack lasts that endurance at SITL's cruise draw, and
"swaps" the battery with MAV_CMD_BATTERY_RESET, the way ArduPilot allows, so
the planner's battery estimate and the vehicle's reading measure the same pack.
"""

from __future__ import annotations

from geofences.model import VehicleSettings
from mission.link import params
from mission.link.battery import reset_battery
from mission.link.connection import Connection
from sitl.sim.battery import CRUISE_A  # SITL's draw at 10 m/s, which the sim copies


def pack_mah(vehicle: VehicleSettings, draw_a: float = CRUISE_A) -> int:
    """BATT_CAPACITY for a pack that lasts ``vehicle.endurance_min`` at ``draw_a``."""
    return round(draw_a * vehicle.endurance_min * 60.0 / 3.6)


class PackSwap:
    """``before_sortie`` for a test vehicle: fit the aircraft's pack once, then a full pack."""

    def __init__(self, vehicle: VehicleSettings) -> None:
        self.capacity_mah = pack_mah(vehicle)
        self.swaps = 0
        self._fitted = False

    def __call__(self, conn: Connection, _index: int) -> None:
        if not self._fitted:
            params.set_param(conn, "BATT_CAPACITY", float(self.capacity_mah))
            self._fitted = True
        reset_battery(conn, 100.0)
        self.swaps += 1
