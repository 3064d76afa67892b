"""The least a plan could need: sorties and path length that no ordering can beat.

Every sortie flies from a launch to the water and back (at least ``d0`` each
way, the least distance from any launch to any lane, as the crow flies) and
all of it fits the usable endurance less the climb and the landing. Lanes can
run outward from a launch (a river), so flying them is also commuting: no more
than ``d0`` out and back can be counted as forced. Hence at least
ceil(lanes / (range - 2 d0)) sorties and lanes + 2 d0 per sortie of path. Lanes
no launch reaches within the range are left out (the plan names them).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from mission.planning.types import XY, Leg

BOUND_SEGMENT_M = 50.0  # lanes are measured in stretches this long


@dataclass(frozen=True)
class LowerBound:
    sorties: int
    path_m: float  # lanes plus the least commuting the endurance forces


def _segments(lanes: list[Leg]) -> tuple[np.ndarray, np.ndarray]:
    a, b = [], []
    for leg in lanes:
        p = np.asarray(leg.points, dtype=float)
        for s, e in itertools.pairwise(p):
            n = max(1, int(np.ceil(np.hypot(*(e - s)) / BOUND_SEGMENT_M)))
            t = np.linspace(0.0, 1.0, n + 1)[:, None]
            pts = s + (e - s) * t
            a.append(pts[:-1])
            b.append(pts[1:])
    if not a:
        return np.zeros((0, 2)), np.zeros((0, 2))
    return np.vstack(a), np.vstack(b)


def _distance_to_segments(p: XY, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    ab = b - a
    ap = np.asarray(p) - a
    denom = np.maximum((ab * ab).sum(axis=1), 1e-12)
    t = np.clip((ap * ab).sum(axis=1) / denom, 0.0, 1.0)
    return np.hypot(*(ap - ab * t[:, None]).T)


def lower_bound(
    lanes: list[Leg], homes: tuple[XY, ...], speed_m_s: float, budget_s: float
) -> LowerBound:
    """``budget_s``: the usable endurance less the climb and the landing of a sortie."""
    a, b = _segments(lanes)
    if not len(a):
        return LowerBound(0, 0.0)
    length = np.hypot(*(b - a).T)
    dist = np.min([_distance_to_segments(h, a, b) for h in homes], axis=0)
    cap_m = budget_s * speed_m_s  # metres one sortie can fly
    reach = 2 * dist < cap_m
    if not reach.any():
        return LowerBound(0, 0.0)
    lanes_m = float(length[reach].sum())
    d0 = float(dist[reach].min())
    sorties = max(1, math.ceil(lanes_m / (cap_m - 2 * d0) - 1e-9))
    return LowerBound(sorties, lanes_m + 2 * d0 * sorties)
