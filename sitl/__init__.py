"""Vehicles to fly against: the built-in simulated ArduCopter (``sitl.sim``) and the ArduPilot
SITL harness (``sitl.ardupilot``); ``sitl.endpoints`` starts either and says where to connect.

Nothing heavy is imported here so ``waterpatrol --help`` stays fast.
"""
