"""Wave allocation: a wave of orders planned jointly within a time budget, explained
order by order against greedy.

:func:`allocate_wave` is the product form of :func:`routing.batch.allocate_batch`
(backorders when a restock lands, pre-orders when a sale opens, a marketplace's
batch). Where the batch model keeps each order's 256 cheapest plans and solves two
CP-SAT phases for seconds, a wave keeps each order's :data:`PLANS_PER_ORDER` cheapest
plans **plus the plan greedy gives it**, and solves **one** CP-SAT model whose weighted
objective is lexicographic by construction — a filled order is worth more than the
whole wave's cost (``FILL_WEIGHT`` > every plan's cost + every stock-health penalty),
so it fills the most orders first, then pays the least — hinted with the greedy
answer (which is therefore always feasible in the model: the wave is never worse than
greedy on either count) and stopped at the time budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from ortools.sat.python import cp_model

from allocator.catalog import Catalog
from routing import cost as C
from routing.availability import Availability, as_availability
from routing.cost import CostBreakdown
from routing.batch import BatchAllocation, _Burst, _options, greedy_allocs, price_allocs
from routing.network import Network
from routing.order import Order
from routing.wavelp import Option, lp_round

PLANS_PER_ORDER = 8
"""Cheapest plans kept per order (greedy's plan is added when it is not among them)."""
DEFAULT_BUDGET_S = 0.15
"""Time for the whole wave: enumeration, greedy, model and solve."""
MIN_SOLVE_S = 0.01


@dataclass
class WaveAllocation:
    """The wave's allocation and greedy's on the same orders and stock: per order
    ``(L, W)`` units per network warehouse (None: not filled) and its own shipments
    cost in paise; stock health is joint, per allocation (``*_health``)."""

    burst: _Burst
    allocations: list[np.ndarray | None]
    greedy_allocations: list[np.ndarray | None]
    order_cost: list[int | None]
    greedy_order_cost: list[int | None]
    health: int
    greedy_health: int
    status: str
    elapsed_ms: float
    kept_plans: int
    notes: list[str] = field(default_factory=list)

    @property
    def orders(self) -> tuple[Order, ...]:
        return self.burst.orders

    @property
    def filled(self) -> int:
        return sum(c is not None for c in self.order_cost)

    @property
    def greedy_filled(self) -> int:
        return sum(c is not None for c in self.greedy_order_cost)

    @property
    def total(self) -> int:
        """Paise: every filled order's shipments plus the joint stock-health penalty."""
        return sum(c for c in self.order_cost if c is not None) + self.health

    @property
    def greedy_total(self) -> int:
        return sum(c for c in self.greedy_order_cost if c is not None) + self.greedy_health

    def as_batch(self, greedy: bool = False) -> BatchAllocation:
        """Either allocation as a :class:`BatchAllocation` (priced by component)."""
        allocs = self.greedy_allocations if greedy else self.allocations
        cost = CostBreakdown(stock_health=self.greedy_health if greedy else self.health)
        for p, a in zip(self.burst.problems, allocs):
            if a is not None:
                cost = cost + p.alloc_cost(a[:, p.cand])
        return BatchAllocation("greedy_nearest" if greedy else "wave_cpsat", self.orders,
                               list(allocs), cost, "heuristic" if greedy else self.status,
                               self.elapsed_ms, list(self.notes))

    def explain(self, i: int) -> dict[str, Any]:
        """Order ``i``: its lines (or None), cost, and what greedy would have done."""
        net = self.burst.network
        mine, theirs = self.order_cost[i], self.greedy_order_cost[i]
        delta = None if mine is None or theirs is None else mine - theirs
        return {"filled": mine is not None, "lines": _parts(self.orders[i], self.allocations[i], net),
                "cost_inr": None if mine is None else C.inr(mine),
                "greedy": {"filled": theirs is not None,
                           "lines": _parts(self.orders[i], self.greedy_allocations[i], net),
                           "cost_inr": None if theirs is None else C.inr(theirs)},
                "cost_delta_inr": None if delta is None else C.inr(delta),
                "why": self._why(i, delta)}

    def _why(self, i: int, delta: int | None) -> str:
        mine, theirs = self.order_cost[i], self.greedy_order_cost[i]
        if mine is not None and theirs is None:
            return ("filled by planning the wave jointly; greedy (first come, nearest "
                    "warehouse) would have left it unfilled: earlier orders took its units")
        if mine is None and theirs is not None:
            return (f"left unfilled so that others fill ({self.filled} orders filled "
                    f"against greedy's {self.greedy_filled}); greedy would have filled it "
                    f"for ₹{C.inr(theirs):.2f}")
        if mine is None:
            return "unfilled by both: not enough stock (on time, within capacity) for it"
        assert delta is not None
        a, b = self._where(self.allocations[i]), self._where(self.greedy_allocations[i])
        if delta < 0:
            return f"₹{C.inr(-delta):.2f} cheaper than greedy: ships from {a} instead of {b}"
        if delta > 0:
            return (f"₹{C.inr(delta):.2f} dearer than greedy ({b}): ships from {a} so that "
                    f"the units greedy would use here fill or save more elsewhere")
        return f"as greedy: ships from {a}" if a == b else f"same cost as greedy: {a} vs {b}"

    def _where(self, a: np.ndarray | None) -> str:
        assert a is not None
        ids = self.burst.network.warehouse_ids
        return "+".join(ids[int(w)] for w in np.flatnonzero(a.sum(axis=0)))

    def summary(self) -> dict[str, Any]:
        """Totals of the wave against greedy (₹)."""
        n_w, n_g = self.filled, self.greedy_filled
        return {"status": self.status, "orders": len(self.orders), "filled": n_w,
                "greedy_filled": n_g, "cost_inr": C.inr(self.total),
                "greedy_cost_inr": C.inr(self.greedy_total),
                "cost_per_filled_inr": round(C.inr(self.total) / n_w, 2) if n_w else 0.0,
                "greedy_cost_per_filled_inr":
                    round(C.inr(self.greedy_total) / n_g, 2) if n_g else 0.0,
                "stock_health_inr": C.inr(self.health),
                "plans_per_order": self.kept_plans, "elapsed_ms": round(self.elapsed_ms, 1),
                "notes": list(self.notes)}

    def to_dict(self) -> dict[str, Any]:
        out = self.summary()
        out["allocations"] = [{"order": o.id, **self.explain(i)}
                              for i, o in enumerate(self.orders)]
        return out


def _parts(order: Order, a: np.ndarray | None, network: Network) -> list[dict[str, Any]] | None:
    """An order's lines with their warehouse (or parts), as :meth:`BatchAllocation.parts`."""
    if a is None:
        return None
    return BatchAllocation("", (order,), [a], CostBreakdown()).parts(0, network)


def allocate_wave(orders: Sequence[Order], network: Network, catalog: Catalog,
                  availability: Availability | Any, *, capacity_left: np.ndarray | None = None,
                  budget_s: float = DEFAULT_BUDGET_S, plans_per_order: int = PLANS_PER_ORDER,
                  workers: int = 1, split: bool | None = None) -> WaveAllocation:
    """Jointly allocate ``orders`` within ``budget_s``: most orders filled, then least
    expected cost (stock health counted jointly), never worse than greedy on either.
    ``split`` overrides every order's ``split_lines`` (None: each order's own)."""
    t0 = time.perf_counter()
    deadline = t0 + budget_s
    burst = _Burst(orders, network, catalog, as_availability(availability, network),
                   capacity_left, split)
    greedy = greedy_allocs(burst)
    plans = [_plans(p, catalog, g, plans_per_order) for p, g in zip(burst.problems, greedy)]
    thr, pen = network.stock_health_threshold, network.stock_health_paise
    fill_weight = 1 + sum(int(c.max(initial=0)) for _, c, _ in plans) + pen * int(
        np.minimum(burst.stock, thr).sum())
    cell_of: dict[tuple[int, int], int] = {}
    options: list[list[Option]] = []
    for i, (p, (allocs, costs, _)) in enumerate(zip(burst.problems, plans)):
        rows = burst.rows_of(i)
        opts = []
        for a, cst in zip(allocs, costs):
            ls, cs = np.nonzero(a)
            whs = p.cand[cs]
            cells = np.array([cell_of.setdefault((int(r), int(w)), len(cell_of))
                              for r, w in zip(rows[ls].tolist(), whs.tolist())], np.int64)
            opts.append(Option(int(cst), cells, whs.astype(np.int64), a[ls, cs]))
        options.append(opts)
    keys = list(cell_of)
    have = np.array([burst.stock[r, w] for r, w in keys], np.int64).reshape(-1)
    free = np.maximum(0, have - thr)
    g_pick = [k for _, _, k in plans]
    lp_pick, _ = lp_round(options, have, free, burst.capacity, pen, fill_weight)

    def score(pick: list[int | None]) -> tuple[int, int]:
        taken = np.zeros(len(have), np.int64)
        for i, k in enumerate(pick):
            if k is not None:
                np.add.at(taken, options[i][k].cells, options[i][k].qty)
        drained = int(np.maximum(0, np.minimum(taken, have) - free).sum())
        return (sum(k is not None for k in pick),
                -sum(options[i][k].cost for i, k in enumerate(pick) if k is not None)
                - pen * drained)

    best, status, notes = max((lp_pick, g_pick), key=score), "heuristic", []
    if deadline - time.perf_counter() >= MIN_SOLVE_S:
        got, code = _cpsat(options, have, free, burst.capacity, pen, fill_weight, best,
                           deadline, workers)
        if got is not None and score(got) >= score(best):
            best, status = got, "optimal" if code == cp_model.OPTIMAL else "feasible"
    if status != "optimal":
        notes.append(f"the time budget ({budget_s * 1e3:.0f} ms) ran out before optimality "
                     "over the kept plans was proved: the best allocation found is returned")
    chosen = [None if k is None else burst.full(i, plans[i][0][k]) for i, k in enumerate(best)]
    cost = [None if k is None else options[i][k].cost for i, k in enumerate(best)]
    g_cost = [None if k is None else options[i][k].cost for i, k in enumerate(g_pick)]
    return WaveAllocation(burst, chosen, greedy, cost, g_cost,
                          _health(burst, _taken(burst, chosen)),
                          _health(burst, _taken(burst, greedy)), status,
                          (time.perf_counter() - t0) * 1e3,
                          max((len(o) for o in options), default=0), notes)


def _cpsat(options: list[list[Option]], have: np.ndarray, free: np.ndarray,
           capacity: np.ndarray, pen: int, fill_weight: int, hint: list[int | None],
           deadline: float, workers: int) -> tuple[list[int | None] | None, int]:
    """The wave as one CP-SAT model hinted with ``hint``, solved until ``deadline``
    (``time.perf_counter()``; building the model counts against it); the plan per
    order it found (None if nothing in time) and the solver status."""
    m = cp_model.CpModel()
    cell_v: list[list] = [[] for _ in have]
    cell_q: list[list] = [[] for _ in have]
    wh_v: dict[int, list] = {}
    wh_q: dict[int, list] = {}
    obj_v, obj_c, xs = [], [], []
    for opts, h in zip(options, hint):
        row = []
        for k, o in enumerate(opts):
            v = m.new_bool_var("")
            for c, w, q in zip(o.cells.tolist(), o.whs.tolist(), o.qty.tolist()):
                cell_v[c].append(v), cell_q[c].append(q)
                wh_v.setdefault(w, []).append(v), wh_q.setdefault(w, []).append(q)
            obj_v.append(v), obj_c.append(fill_weight - o.cost)
            m.add_hint(v, k == h)
            row.append(v)
        if len(row) > 1:
            m.add_at_most_one(row)
        xs.append(row)
    taken = np.zeros(len(have), np.int64)
    for opts, h in zip(options, hint):
        if h is not None:
            np.add.at(taken, opts[h].cells, opts[h].qty)
    drains = []
    for c, (vs, qs) in enumerate(zip(cell_v, cell_q)):
        m.add(cp_model.LinearExpr.weighted_sum(vs, qs) <= int(have[c]))
        if pen and have[c] > free[c] and sum(qs) > free[c]:
            d = m.new_int_var(0, int(have[c] - free[c]), "")
            m.add(d >= cp_model.LinearExpr.weighted_sum(vs, qs) - int(free[c]))
            m.add_hint(d, max(0, int(taken[c] - free[c])))
            drains.append(d)
    for w, vs in wh_v.items():
        if sum(wh_q[w]) > capacity[w]:
            m.add(cp_model.LinearExpr.weighted_sum(vs, wh_q[w]) <= int(capacity[w]))
    m.maximize(cp_model.LinearExpr.weighted_sum(obj_v, obj_c)
               - cp_model.LinearExpr.weighted_sum(drains, [pen] * len(drains)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers
    solver.parameters.cp_model_presolve = False   # measured: finds improvements sooner
    time_s = deadline - time.perf_counter()
    if time_s < MIN_SOLVE_S:
        return None, cp_model.UNKNOWN
    solver.parameters.max_time_in_seconds = time_s
    code = solver.solve(m)
    if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return None, code
    return [next((k for k, v in enumerate(row) if solver.boolean_value(v)), None)
            for row in xs], code


def _plans(p: Any, catalog: Catalog, g: np.ndarray | None, k: int
           ) -> tuple[np.ndarray, np.ndarray, int | None]:
    """The ``k`` cheapest plans ``(M, L, C)`` of one order and their costs, with greedy's
    plan among them; the index of greedy's plan (None if greedy does not fill it)."""
    allocs, costs = _options(p, catalog)
    allocs, costs = allocs[:k], costs[:k]
    if g is None:
        return allocs, costs, None
    gc = g[:, p.cand][None]
    same = np.flatnonzero((allocs == gc).all(axis=(1, 2)))
    if len(same):
        return allocs, costs, int(same[0])
    return (np.concatenate([allocs, gc]), np.concatenate([costs, price_allocs(p, gc)]),
            len(allocs))


def _taken(burst: _Burst, allocs: list[np.ndarray | None]) -> np.ndarray:
    """Units taken per (SKU row, warehouse); AssertionError if it oversells stock or
    capacity, or an order is not exactly its quantities."""
    taken = np.zeros_like(burst.stock)
    for i, a in enumerate(allocs):
        if a is not None:
            p = burst.problems[i]
            if (a.sum(axis=1) != p.qty).any():
                raise AssertionError(f"order {i}: allocation is not its quantities")
            np.add.at(taken, burst.rows_of(i), a)
    if (taken > burst.stock).any() or (taken.sum(axis=0) > burst.capacity).any():
        raise AssertionError("allocation oversells stock or capacity")
    return taken


def _health(burst: _Burst, taken: np.ndarray) -> int:
    net = burst.network
    return int(C.drained_units(burst.stock, taken, net.stock_health_threshold).sum()) \
        * net.stock_health_paise
