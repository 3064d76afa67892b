"""The built-in simulated ArduCopter: a MAVLink 2 endpoint in pure Python (pymavlink).

It behaves as ArduPilot Copter SITL does for what waterpatrol uses (see
ARDUPILOT_NOTES.md): a test vehicle like QGroundControl's MockLink, not a
replacement for SITL. ``SimVehicle`` is the entry point; the other modules are
its parts, split by concern (pure kinematics, fence, battery, mission storage
rules, the mission protocol, telemetry scheduling, transports).
"""

from sitl.sim.autopilot import Readiness
from sitl.sim.vehicle import SimConfig, SimVehicle, VehicleSnapshot

__all__ = ["Readiness", "SimConfig", "SimVehicle", "VehicleSnapshot"]
