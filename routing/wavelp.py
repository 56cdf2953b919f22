"""A wave's LP relaxation (GLOP) and its rounding: a good joint allocation in a few
milliseconds, which CP-SAT then improves for what is left of the time budget.

The LP is the wave model of :mod:`routing.wave` with every 0/1 choice relaxed to
[0, 1]: per order at most one plan, per (SKU, warehouse) at most its stock, per
warehouse at most its capacity, maximise ``FILL_WEIGHT − cost`` per filled order minus
the stock-health penalty of the units drained below the threshold. Rounding takes the
orders by how surely the LP fills them, each with its most-chosen plan that still
fits, then tries every unfilled order's plans cheapest first, then moves each filled
order to a cheaper plan that fits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ortools.linear_solver import pywraplp


@dataclass
class Option:
    """One plan of one order: its cost (paise) and the units it takes, as parallel
    arrays of cell index (into the wave's cell table), warehouse and quantity."""

    cost: int
    cells: np.ndarray
    whs: np.ndarray
    qty: np.ndarray


def lp_round(options: list[list[Option]], have: np.ndarray, free: np.ndarray,
             capacity: np.ndarray, penalty: int, fill_weight: int
             ) -> tuple[list[int | None], float | None]:
    """Per order the index of its plan (None: unfilled) and the LP's optimum (an upper
    bound on the wave objective over these plans; None if GLOP failed)."""
    lp = pywraplp.Solver.CreateSolver("GLOP")
    cell_rows = [lp.RowConstraint(0, float(h)) for h in have]
    drain_rows = [lp.RowConstraint(-lp.infinity(), float(f)) for f in free]
    cap_rows: dict[int, pywraplp.Constraint] = {}
    objective = lp.Objective()
    x: list[list[pywraplp.Variable]] = []
    for opts in options:
        one = lp.RowConstraint(0, 1)
        row = []
        for o in opts:
            v = lp.NumVar(0, 1, "")
            one.SetCoefficient(v, 1)
            objective.SetCoefficient(v, float(fill_weight - o.cost))
            per_wh: dict[int, int] = {}
            for c, w, q in zip(o.cells.tolist(), o.whs.tolist(), o.qty.tolist()):
                cell_rows[c].SetCoefficient(v, q)      # a plan's cells are distinct
                drain_rows[c].SetCoefficient(v, q)
                per_wh[w] = per_wh.get(w, 0) + q
            for w, q in per_wh.items():
                if w not in cap_rows:
                    cap_rows[w] = lp.RowConstraint(0, float(capacity[w]))
                cap_rows[w].SetCoefficient(v, q)
            row.append(v)
        x.append(row)
    if penalty:
        for c, (h, f) in enumerate(zip(have, free)):
            d = lp.NumVar(0, float(max(0, h - f)), "")
            drain_rows[c].SetCoefficient(d, -1)
            objective.SetCoefficient(d, -float(penalty))
    objective.SetMaximization()
    bound = None
    values: list[np.ndarray] = [np.zeros(len(r)) for r in x]
    if lp.Solve() == pywraplp.Solver.OPTIMAL:
        bound = objective.Value()
        values = [np.array([v.solution_value() for v in r]) for r in x]
    return _round(options, values, have.copy(), capacity.copy()), bound


def _round(options: list[list[Option]], values: list[np.ndarray], stock: np.ndarray,
           cap: np.ndarray) -> list[int | None]:
    pick: list[int | None] = [None] * len(options)

    def fits(o: Option) -> bool:
        return bool((stock[o.cells] >= o.qty).all()) and bool(
            (np.bincount(o.whs, o.qty, len(cap)) <= cap).all())

    def take(o: Option, sign: int) -> None:
        np.subtract.at(stock, o.cells, sign * o.qty)
        np.subtract.at(cap, o.whs, sign * o.qty)

    sure = sorted(range(len(options)), key=lambda i: -values[i].sum() if len(values[i]) else 0)
    for i in sure:                    # the LP's choices, surest first
        for k in np.argsort(-values[i], kind="stable").tolist():
            if values[i][k] <= 1e-6:
                break
            if fits(options[i][k]):
                pick[i] = k
                take(options[i][k], 1)
                break
    for i, opts in enumerate(options):  # fill what is left, cheapest plan first
        if pick[i] is None:
            for k in np.argsort([o.cost for o in opts], kind="stable").tolist():
                if fits(opts[k]):
                    pick[i] = k
                    take(opts[k], 1)
                    break
    for i, opts in enumerate(options):  # move to a cheaper plan that fits
        k0 = pick[i]
        if k0 is None:
            continue
        take(opts[k0], -1)
        best = k0
        for k, o in enumerate(opts):
            if o.cost < opts[best].cost and fits(o):
                best = k
        pick[i] = best
        take(opts[best], 1)
    return pick
