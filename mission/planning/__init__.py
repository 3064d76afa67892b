"""The planner's stages, one module per arrow.

KeyWater -> area (metric geometry, fence) -> swaths (lanes at a sweep angle)
-> cells (boustrophedon decomposition) -> route (transits inside the fence)
-> sorties (endurance) -> mission items. ``mission.planner.plan`` runs them.
"""
