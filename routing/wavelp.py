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
from ortools.linear_solver.python import model_builder_helper as mbh


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
    m, n_x = _model(options, have, free, capacity, penalty, fill_weight)
    solver = mbh.ModelSolverHelper("glop")
    solver.solve(m)
    sizes = np.array([len(o) for o in options], np.int64)
    bound = None
    flat = np.zeros(n_x)
    if solver.status() == mbh.SolveStatus.OPTIMAL:
        bound = solver.objective_value()
        flat = np.asarray(solver.variable_values())[:n_x]
    values = np.split(flat, np.cumsum(sizes)[:-1]) if len(sizes) else []
    return _round(options, values, have.copy(), capacity.copy()), bound


def _model(options: list[list[Option]], have: np.ndarray, free: np.ndarray,
           capacity: np.ndarray, penalty: int, fill_weight: int
           ) -> tuple[mbh.ModelBuilderHelper, int]:
    """The LP, built a row at a time from flat arrays (one call per row, not per
    coefficient). Variables: one per plan (orders in turn), then one drain per cell
    (with a penalty); rows: stock per cell, drain per cell, then per order its
    "at most one plan" row followed by the capacity rows of warehouses it is the
    first to use — the layout of the per-coefficient build it replaces, so GLOP
    sees the same model. Returns the model and the number of plan variables."""
    m = mbh.ModelBuilderHelper()
    sizes = [len(o) for o in options]
    n_x, n_cell = sum(sizes), len(have)
    var_of = np.repeat(np.arange(len(options)), sizes)                 # order of each plan
    flat = [o for opts in options for o in opts]
    cost = np.array([o.cost for o in flat], np.float64)
    per = np.array([len(o.cells) for o in flat], np.int64)
    j = np.repeat(np.arange(n_x), per)                                 # plan of each term
    cells = np.concatenate([o.cells for o in flat]) if flat else np.zeros(0, np.int64)
    whs = np.concatenate([o.whs for o in flat]) if flat else np.zeros(0, np.int64)
    qty = np.concatenate([o.qty for o in flat]).astype(np.float64) if flat else np.zeros(0)
    hi_d = np.maximum(0, have - free).astype(np.float64) if penalty else np.zeros(0)
    lb = np.zeros(n_x + len(hi_d))
    ub = np.concatenate([np.ones(n_x), hi_d])
    m.add_var_array_with_bounds(lb, ub, np.zeros(len(lb), bool), "")
    var = [mbh.Variable(m, i) for i in range(len(lb))]
    m.set_objective_coefficients(list(range(len(lb))), np.concatenate(
        [float(fill_weight) - cost, np.full(len(hi_d), -float(penalty))]).tolist())
    m.set_maximize(True)

    def row(lo: float, up: float, idx: np.ndarray, coef: np.ndarray) -> None:
        ct = m.add_linear_constraint()
        m.set_constraint_lower_bound(ct, lo)
        m.set_constraint_upper_bound(ct, up)
        if len(idx):
            m.add_terms_to_constraint(ct, [var[i] for i in idx.tolist()], coef.tolist())

    by_cell = np.argsort(cells, kind="stable")
    cut = np.searchsorted(cells[by_cell], np.arange(n_cell + 1))
    for c in range(n_cell):                    # a plan's cells are distinct
        sl = by_cell[cut[c]:cut[c + 1]]
        row(0.0, float(have[c]), j[sl], qty[sl])
    for c in range(n_cell):
        sl = by_cell[cut[c]:cut[c + 1]]
        idx, coef = j[sl], qty[sl]
        if penalty:
            idx, coef = np.append(idx, n_x + c), np.append(coef, -1.0)
        row(-np.inf, float(free[c]), idx, coef)
    # capacity rows: units per (plan, warehouse), a row per warehouse, created right
    # after the "one" row of the first order that uses the warehouse
    pk = j * len(capacity) + whs
    srt = np.argsort(pk, kind="stable")
    key, at = np.unique(pk[srt], return_index=True)
    pw_q = np.add.reduceat(qty[srt], at) if len(key) else np.zeros(0)
    pw_j, pw_w = key // len(capacity), key % len(capacity)
    w_seen, w_pos = np.unique(whs, return_index=True)
    creation = w_seen[np.argsort(w_pos, kind="stable")]                 # first-use order
    w_order = var_of[j[np.sort(w_pos)]] if len(w_pos) else np.zeros(0, np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    k = 0
    for i in range(len(options)):
        row(0.0, 1.0, np.arange(starts[i], starts[i + 1]), np.ones(sizes[i]))
        while k < len(creation) and w_order[k] == i:
            w = creation[k]
            sel = pw_w == w
            row(0.0, float(capacity[w]), pw_j[sel], pw_q[sel])
            k += 1
    return m, n_x


def _round(options: list[list[Option]], values: list[np.ndarray], stock: np.ndarray,
           cap: np.ndarray) -> list[int | None]:
    pick: list[int | None] = [None] * len(options)
    left, room = stock.tolist(), cap.tolist()         # exact ints, no array per check
    parts: dict[int, tuple[list[tuple[int, int]], list[tuple[int, int]]]] = {}

    def units(o: Option) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        got = parts.get(id(o))
        if got is None:
            cells = list(zip(o.cells.tolist(), o.qty.tolist()))
            per_wh: dict[int, int] = {}
            for w, q in zip(o.whs.tolist(), o.qty.tolist()):
                per_wh[w] = per_wh.get(w, 0) + q
            got = parts[id(o)] = (cells, list(per_wh.items()))
        return got

    def fits(o: Option) -> bool:
        cells, per_wh = units(o)
        return all(left[c] >= q for c, q in cells) and all(room[w] >= q for w, q in per_wh)

    def take(o: Option, sign: int) -> None:
        cells, per_wh = units(o)
        for c, q in cells:
            left[c] -= sign * q
        for w, q in per_wh:
            room[w] -= sign * q

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
