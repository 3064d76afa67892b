"""Stage 3: lanes -> cells (boustrophedon decomposition).

Consecutive lanes whose segments overlap one-to-one along the sweep belong to
one cell, which the vehicle covers in one serpentine. Where a lane splits
around an island, or two arms of a concave lake join, a new cell starts.
"""

from __future__ import annotations

from collections import defaultdict

from mission.planning.types import Lane

Cell = list[Lane]


def _overlaps(p: Lane, q: Lane) -> bool:
    return p.x0 < q.x1 and q.x0 < p.x1


def decompose(lanes: list[Lane]) -> list[Cell]:
    by_index: dict[int, list[Lane]] = defaultdict(list)
    for lane in lanes:
        by_index[lane.index].append(lane)
    cells: list[Cell] = []
    open_cells: dict[int, int] = {}  # id(lane) of a cell's last lane -> cell number
    prev_row: list[Lane] = []
    prev_index = None
    for index in sorted(by_index):
        row = by_index[index]
        if prev_index is not None and index != prev_index + 1:
            prev_row, open_cells = [], {}
        next_open: dict[int, int] = {}
        for seg in row:
            above = [p for p in prev_row if _overlaps(p, seg)]
            if len(above) == 1:
                p = above[0]
                below_p = [s for s in row if _overlaps(p, s)]
                if len(below_p) == 1 and id(p) in open_cells:
                    cell_no = open_cells[id(p)]
                    cells[cell_no].append(seg)
                    next_open[id(seg)] = cell_no
                    continue
            cells.append([seg])
            next_open[id(seg)] = len(cells) - 1
        open_cells = next_open
        prev_row = row
        prev_index = index
    return cells
