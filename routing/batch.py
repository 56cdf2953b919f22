"""Batch allocation: a burst of orders competing for scarce stock, allocated jointly.

Each order is filled whole or not at all; a line ships whole from one warehouse
(the single-order model). :func:`allocate_batch` enumerates every order's plans
(line → warehouse assignments, priced with the single-order cost model) and lets
CP-SAT pick at most one plan per order, lexicographically:

1. **fill the most orders** subject to stock per (SKU, warehouse) and capacity;
2. **then the least total cost**, with the stock-health penalty computed jointly
   from the units each (SKU, warehouse) gives up across the whole batch.

Both phases are hinted with the greedy answer, so the result is never worse.
:func:`greedy_allocate` is the baseline: first come, each line from the *nearest*
warehouse that still has it. :func:`fcfs_plan_allocate` is a stronger baseline:
first come, each order planned optimally on what is left.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from ortools.sat.python import cp_model

from allocator.catalog import Catalog
from routing import cost as C
from routing.availability import Availability, StockMatrix, as_availability
from routing.cost import CostBreakdown
from routing.network import Network
from routing.order import Order
from routing.planner import Router
from routing.problem import Problem, block_masks, build_problem

MAX_OPTIONS_PER_ORDER = 256
MAX_ENUMERATED = 50_000
UNFILLED = None


@dataclass
class BatchResult:
    """Who got what: per order, a line → network-warehouse assignment or ``None``."""

    method: str
    orders: tuple[Order, ...]
    assignments: list[np.ndarray | None]
    cost: CostBreakdown
    status: str = "heuristic"
    elapsed_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def filled(self) -> int:
        return sum(a is not None for a in self.assignments)

    @property
    def cost_per_filled(self) -> float:
        """Average expected cost of a filled order, in rupees."""
        return C.inr(self.cost.total) / self.filled if self.filled else 0.0

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "status": self.status, "orders": len(self.orders),
                "filled": self.filled, "cost": self.cost.to_dict(),
                "cost_per_filled": round(self.cost_per_filled, 2),
                "elapsed_ms": round(self.elapsed_ms, 1), "notes": self.notes}

    def to_dict(self, network: Network) -> dict[str, Any]:
        out = self.summary()
        out["allocations"] = [
            {"order": o.id, "filled": a is not None,
             "lines": None if a is None else [
                 {"sku": l.sku, "qty": l.qty, "warehouse": network.warehouse_ids[int(w)]}
                 for l, w in zip(o.lines, a)]}
            for o, a in zip(self.orders, self.assignments)]
        return out


class _Burst:
    """Shared state of one batch: problems priced against the initial stock."""

    def __init__(self, orders: Sequence[Order], network: Network, catalog: Catalog,
                 stock: Availability, capacity_left: np.ndarray | None) -> None:
        self.orders = tuple(orders)
        self.network = network
        self.catalog = catalog
        self.skus = sorted({line.sku for o in orders for line in o.lines})
        self.sku_row = {s: i for i, s in enumerate(self.skus)}
        self.stock = np.asarray(stock.rows(self.skus), np.int64)
        cap = network.capacity if capacity_left is None else np.asarray(capacity_left)
        self.capacity = np.where(cap < 0, np.iinfo(np.int64).max, cap).astype(np.int64)
        avail = StockMatrix(self.skus, self.stock)
        self.problems: list[Problem] = [
            build_problem(o, network, catalog, avail, capacity_left=capacity_left,
                          include_stock_health=False) for o in orders]

    def rows_of(self, i: int) -> np.ndarray:
        return np.array([self.sku_row[s] for s in self.problems[i].skus])

    def evaluate(self, method: str, assignments: list[np.ndarray | None], status: str,
                 t0: float) -> BatchResult:
        """Price an allocation: per-order shipments plus joint stock health; checks stock."""
        total = CostBreakdown()
        taken = np.zeros_like(self.stock)
        units = np.zeros(self.network.n_warehouses, np.int64)
        for i, a in enumerate(assignments):
            if a is None:
                continue
            p = self.problems[i]
            total = total + p.assignment_cost(np.searchsorted(p.cand, a))
            np.add.at(taken, (self.rows_of(i), a), p.qty)
            np.add.at(units, a, p.qty)
        if (taken > self.stock).any() or (units > self.capacity).any():
            raise AssertionError(f"{method} allocation oversells stock or capacity")
        drained = C.drained_units(self.stock, taken, self.network.stock_health_threshold)
        total = total + CostBreakdown(
            stock_health=int(drained.sum()) * self.network.stock_health_paise)
        return BatchResult(method, self.orders, assignments, total, status,
                           (time.perf_counter() - t0) * 1e3)


def greedy_allocate(orders: Sequence[Order], network: Network, catalog: Catalog,
                    availability: Availability | Any, *,
                    capacity_left: np.ndarray | None = None) -> BatchResult:
    """Baseline: in arrival order, each line from the nearest warehouse that can ship it."""
    t0 = time.perf_counter()
    burst = _Burst(orders, network, catalog, as_availability(availability, network),
                   capacity_left)
    stock, cap = burst.stock.copy(), burst.capacity.copy()
    out: list[np.ndarray | None] = []
    for i, p in enumerate(burst.problems):
        rows, choice = burst.rows_of(i), []
        s, c = stock.copy(), cap.copy()
        for l, r in enumerate(rows):
            q = int(p.qty[l])
            ok = (s[r] >= q) & (c >= q)
            if p.order.hard_promise:
                ok &= p.eta_all <= p.order.promise_days
            if not ok.any():
                break
            w = int(np.argmin(np.where(ok, network.distance_km[p.dest], np.inf)))
            s[r, w] -= q
            c[w] -= q
            choice.append(w)
        filled = len(choice) == len(rows) and (
            p.order.max_shipments is None or len(set(choice)) <= p.order.max_shipments)
        if filled:
            stock, cap = s, c
        out.append(np.array(choice, np.int64) if filled else UNFILLED)
    return burst.evaluate("greedy_nearest", out, "heuristic", t0)


def fcfs_plan_allocate(orders: Sequence[Order], network: Network, catalog: Catalog,
                       availability: Availability | Any, *,
                       capacity_left: np.ndarray | None = None) -> BatchResult:
    """Baseline: in arrival order, each order's cheapest plan on the stock left."""
    t0 = time.perf_counter()
    burst = _Burst(orders, network, catalog, as_availability(availability, network),
                   capacity_left)
    router = Router(network, catalog)
    stock, cap = StockMatrix(burst.skus, burst.stock.copy()), burst.capacity.copy()
    out: list[np.ndarray | None] = []
    for i, o in enumerate(orders):
        p = build_problem(o, network, catalog, stock, capacity_left=cap)
        sol = router.solve(p, runner_up=False)
        if sol.assignment is None:
            out.append(UNFILLED)
            continue
        a = p.cand[sol.assignment]
        np.subtract.at(stock.matrix, (burst.rows_of(i), a), p.qty)
        np.subtract.at(cap, a, p.qty)
        out.append(a)
    return burst.evaluate("fcfs_planner", out, "heuristic", t0)


def _options(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Every feasible plan of one order (line → candidate) and its cost, cheapest first."""
    n = p.n_lines
    per_line = [np.flatnonzero(p.eligible[l]) for l in range(n)]
    count = int(np.prod([len(x) for x in per_line], dtype=np.float64))
    if count == 0:
        return np.zeros((0, n), np.int64), np.zeros(0, np.int64)
    if count > MAX_ENUMERATED:
        raise ValueError(f"order {p.order.id!r} has {count} plans; too many to enumerate")
    assign = np.array(list(itertools.product(*per_line)), np.int64).reshape(count, n)
    block_cost = p.block_costs(block_masks(n))
    total = np.zeros(count, np.int64)
    shipments = np.zeros(count, np.int64)
    bit = 1 << np.arange(n)
    for c in np.unique(assign):
        mask = ((assign == c) * bit).sum(axis=1)
        used = mask > 0
        total += np.where(used, block_cost[np.maximum(mask - 1, 0), c], 0)
        shipments += used
    ok = total < C.INF
    if p.order.max_shipments is not None:
        ok &= shipments <= p.order.max_shipments
    assign, total = assign[ok], total[ok]
    keep = np.argsort(total, kind="stable")[:MAX_OPTIONS_PER_ORDER]
    return assign[keep], total[keep]


def allocate_batch(orders: Sequence[Order], network: Network, catalog: Catalog,
                   availability: Availability | Any, *, capacity_left: np.ndarray | None = None,
                   time_limit_s: float = 20.0, workers: int = 8) -> BatchResult:
    """Jointly allocate a burst: most orders filled, then least expected cost."""
    t0 = time.perf_counter()
    avail = as_availability(availability, network)
    burst = _Burst(orders, network, catalog, avail, capacity_left)
    greedy = greedy_allocate(orders, network, catalog, avail, capacity_left=capacity_left)
    notes = []

    m = cp_model.CpModel()
    y: list[list[tuple[cp_model.IntVar, np.ndarray, int]]] = []
    stock_terms: dict[tuple[int, int], list] = {}
    wh_terms: dict[int, list] = {}
    wh_max: dict[int, int] = {}
    for i, p in enumerate(burst.problems):
        opts, costs = _options(p)
        if len(opts) == MAX_OPTIONS_PER_ORDER:
            notes.append(f"order {p.order.id or i}: kept its {MAX_OPTIONS_PER_ORDER} cheapest plans")
        rows, row_vars = burst.rows_of(i), []
        for a, cst in zip(opts, costs):
            v = m.new_bool_var("")
            wh = p.cand[a]
            for l, w in enumerate(wh):
                q = int(p.qty[l])
                stock_terms.setdefault((int(rows[l]), int(w)), []).append(q * v)
                wh_terms.setdefault(int(w), []).append(q * v)
                wh_max[int(w)] = wh_max.get(int(w), 0) + q
            row_vars.append((v, wh, int(cst)))
        if row_vars:
            m.add_at_most_one(v for v, _, _ in row_vars)
        y.append(row_vars)
    health = []
    thr, pen = network.stock_health_threshold, network.stock_health_paise
    for (r, w), terms in stock_terms.items():
        a = int(burst.stock[r, w])
        m.add(sum(terms) <= a)
        free = max(0, a - thr)
        if pen and a > free:
            drained = m.new_int_var(0, a - free, "")
            m.add(drained >= sum(terms) - free)
            health.append(pen * drained)
    for w, terms in wh_terms.items():
        if burst.capacity[w] < wh_max[w]:
            m.add(sum(terms) <= int(burst.capacity[w]))

    def hint(values: list[np.ndarray | None]) -> None:
        m.clear_hints()
        for row_vars, chosen in zip(y, values):
            for v, wh, _ in row_vars:
                m.add_hint(v, chosen is not None and np.array_equal(wh, chosen))

    def read(solver: cp_model.CpSolver) -> list[np.ndarray | None]:
        out = []
        for row_vars in y:
            chosen = [wh for v, wh, _ in row_vars if solver.boolean_value(v)]
            out.append(chosen[0] if chosen else UNFILLED)
        return out

    solver = cp_model.CpSolver()
    solver.parameters.num_workers = workers        # a portfolio proves optimality far sooner
    solver.parameters.linearization_level = 2      # tighter LP bound for the packing rows
    # Phase 1: most orders filled (hinted with greedy).
    hint(greedy.assignments)
    filled = sum(v for row_vars in y for v, _, _ in row_vars)
    m.maximize(filled)
    solver.parameters.max_time_in_seconds = time_limit_s * 0.4
    code1 = solver.solve(m)
    if code1 not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        greedy.notes.append("CP-SAT found no allocation in time; returning the greedy one")
        return greedy
    phase1 = read(solver)
    # Phase 2: least cost among allocations filling that many (hinted with phase 1).
    m.add(filled >= int(round(solver.objective_value)))
    m.minimize(sum(c * v for row_vars in y for v, _, c in row_vars) + sum(health))
    hint(phase1)
    solver.parameters.max_time_in_seconds = time_limit_s * 0.6
    code2 = solver.solve(m)
    if code2 in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        chosen, ok2 = read(solver), code2 == cp_model.OPTIMAL
    else:
        chosen, ok2 = phase1, False
        notes.append("phase 2 found nothing in time; kept the phase-1 allocation")
    status = "optimal" if code1 == cp_model.OPTIMAL and ok2 else "feasible"
    result = burst.evaluate("batch_cpsat", chosen, status, t0)
    result.notes = notes
    return result
