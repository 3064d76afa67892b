"""Stage 4: cells -> route: serpentines joined by transits that stay inside the fence."""

from __future__ import annotations

import math

from mission.planning.cells import Cell
from mission.planning.types import XY, Leg


def serpentine(cell: Cell, from_first: bool, start_at_a: bool) -> list[Leg]:
    order = cell if from_first else cell[::-1]
    legs = []
    at_a = start_at_a
    for lane in order:
        legs.append(Leg((lane.a, lane.b) if at_a else (lane.b, lane.a), "lane"))
        at_a = not at_a
    return legs


def _entries(cell: Cell) -> list[tuple[bool, bool, XY]]:
    first, last = cell[0], cell[-1]
    return [
        (True, True, first.a),
        (True, False, first.b),
        (False, True, last.a),
        (False, False, last.b),
    ]


def order_cells(cells: list[Cell], start: XY) -> list[Leg]:
    """Greedy nearest-entry order of cells, each flown as a serpentine (lanes only)."""
    remaining = set(range(len(cells)))
    pos = start
    legs: list[Leg] = []
    while remaining:
        _, ci, from_first, at_a = min(
            (math.dist(pos, xy), ci, ff, aa)
            for ci in remaining
            for ff, aa, xy in _entries(cells[ci])
        )
        remaining.discard(ci)
        cell_legs = serpentine(cells[ci], from_first, at_a)
        legs.extend(cell_legs)
        pos = cell_legs[-1].end
    return legs


def order_loops(loops: list[Leg], start: XY) -> list[Leg]:
    """Greedy order of closed loops (shoreline rings), each entered at its nearest vertex."""
    remaining = list(loops)
    pos = start
    out: list[Leg] = []
    while remaining:
        best_i, best_k = min(
            ((i, k) for i, loop in enumerate(remaining) for k in range(len(loop.points) - 1)),
            key=lambda ik: math.dist(pos, remaining[ik[0]].points[ik[1]]),
        )
        loop = remaining.pop(best_i)
        ring = loop.points[:-1]
        rotated = ring[best_k:] + ring[:best_k] + (ring[best_k],)
        out.append(Leg(rotated, "lane"))
        pos = rotated[-1]
    return out


def order_lines(lines: list[Leg], start: XY) -> list[Leg]:
    """Greedy order of open lines (corridor lanes), each flown from its nearer end."""
    remaining = list(lines)
    pos = start
    out: list[Leg] = []
    while remaining:
        i, flip = min(
            ((i, f) for i in range(len(remaining)) for f in (False, True)),
            key=lambda t: math.dist(pos, remaining[t[0]].end if t[1] else remaining[t[0]].start),
        )
        leg = remaining.pop(i)
        leg = leg.reversed() if flip else leg
        out.append(leg)
        pos = leg.end
    return out
