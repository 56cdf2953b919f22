"""Batch allocation: a burst of orders competing for scarce stock, allocated jointly.

Each order is filled whole or not at all; a line ships whole from one warehouse,
or (orders with split lines) in parts from several. :func:`allocate_batch`
enumerates every order's plans (units of each line per warehouse, priced with the
single-order cost model) and lets
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

import math
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
from routing.problem import PlanningProblem, build_problem

MAX_OPTIONS_PER_ORDER = 256
MAX_ENUMERATED = 50_000
UNFILLED = None


@dataclass
class BatchAllocation:
    """Who got what: per order, units of each line per network warehouse ``(L, W)``,
    or ``None`` when the order is not filled."""

    method: str
    orders: tuple[Order, ...]
    allocations: list[np.ndarray | None]
    cost: CostBreakdown
    status: str = "heuristic"
    elapsed_ms: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def filled(self) -> int:
        return sum(a is not None for a in self.allocations)

    @property
    def assignments(self) -> list[np.ndarray | None]:
        """Per filled order, line → network warehouse (a split line: the warehouse
        giving it the most units)."""
        return [None if a is None else np.argmax(a, axis=1) for a in self.allocations]

    def parts(self, i: int, network: Network) -> list[dict[str, Any]] | None:
        """Order ``i``'s lines as ``{"sku", "qty", "warehouse"}`` (whole) or with
        ``"parts": [{"warehouse", "qty"}]`` (split); None if not filled."""
        a = self.allocations[i]
        if a is None:
            return None
        out = []
        for line, row in zip(self.orders[i].lines, a):
            where = np.flatnonzero(row)
            if len(where) == 1:
                out.append({"sku": line.sku, "qty": line.qty,
                            "warehouse": network.warehouse_ids[int(where[0])]})
            else:
                out.append({"sku": line.sku, "qty": line.qty, "parts": [
                    {"warehouse": network.warehouse_ids[int(w)], "qty": int(row[w])}
                    for w in where]})
        return out

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
        out["allocations"] = [{"order": o.id, "filled": self.allocations[i] is not None,
                               "lines": self.parts(i, network)}
                              for i, o in enumerate(self.orders)]
        return out


class _Burst:
    """Shared state of one batch: problems priced against the initial stock."""

    def __init__(self, orders: Sequence[Order], network: Network, catalog: Catalog,
                 stock: Availability, capacity_left: np.ndarray | None,
                 split: bool | None = None) -> None:
        self.orders = tuple(orders)
        self.network = network
        self.catalog = catalog
        self.skus = sorted({line.sku for o in orders for line in o.lines})
        self.sku_row = {s: i for i, s in enumerate(self.skus)}
        self.stock = np.asarray(stock.rows(self.skus), np.int64)
        cap = network.capacity if capacity_left is None else np.asarray(capacity_left)
        self.capacity = np.where(cap < 0, np.iinfo(np.int64).max, cap).astype(np.int64)
        avail = StockMatrix(self.skus, self.stock)
        self.problems: list[PlanningProblem] = [
            build_problem(o, network, catalog, avail, capacity_left=capacity_left,
                          include_stock_health=False, split=split) for o in orders]

    def rows_of(self, i: int) -> np.ndarray:
        return np.array([self.sku_row[s] for s in self.problems[i].skus])

    def evaluate(self, method: str, allocations: list[np.ndarray | None], status: str,
                 t0: float) -> BatchAllocation:
        """Price an allocation: per-order shipments plus joint stock health; checks stock
        (``allocations``: per order ``(L, W)`` units per network warehouse, or None)."""
        total = CostBreakdown()
        taken = np.zeros_like(self.stock)
        units = np.zeros(self.network.n_warehouses, np.int64)
        for i, a in enumerate(allocations):
            if a is None:
                continue
            p = self.problems[i]
            if (a.sum(axis=1) != p.qty).any() or (a[:, np.setdiff1d(
                    np.arange(a.shape[1]), p.cand)] != 0).any():
                raise AssertionError(f"{method} allocation of order {i} is not a plan")
            total = total + p.alloc_cost(a[:, p.cand])
            np.add.at(taken, self.rows_of(i), a)
            units += a.sum(axis=0)
        if (taken > self.stock).any() or (units > self.capacity).any():
            raise AssertionError(f"{method} allocation oversells stock or capacity")
        drained = C.drained_units(self.stock, taken, self.network.stock_health_threshold)
        total = total + CostBreakdown(
            stock_health=int(drained.sum()) * self.network.stock_health_paise)
        return BatchAllocation(method, self.orders, allocations, total, status,
                           (time.perf_counter() - t0) * 1e3)

    def full(self, i: int, alloc_c: np.ndarray) -> np.ndarray:
        """Order ``i``'s ``(L, C)`` candidate allocation over every network warehouse."""
        p = self.problems[i]
        out = np.zeros((p.n_lines, self.network.n_warehouses), np.int64)
        out[:, p.cand] = alloc_c
        return out


def greedy_allocate(orders: Sequence[Order], network: Network, catalog: Catalog,
                    availability: Availability | Any, *, capacity_left: np.ndarray | None = None,
                    split: bool | None = None) -> BatchAllocation:
    """Baseline: in arrival order, each line from the nearest warehouse that can ship it
    (split lines: its units from the nearest warehouses that have them)."""
    t0 = time.perf_counter()
    return greedy_on(_Burst(orders, network, catalog, as_availability(availability, network),
                            capacity_left, split), t0)


def greedy_on(burst: _Burst, t0: float) -> BatchAllocation:
    """:func:`greedy_allocate` on a burst already built (``t0``: when the work began)."""
    return burst.evaluate("greedy_nearest", greedy_allocs(burst), "heuristic", t0)


def greedy_allocs(burst: _Burst) -> list[np.ndarray | None]:
    """Greedy's choice per order (``(L, W)`` units, or None), neither priced nor audited."""
    network = burst.network
    stock, cap = burst.stock.copy(), burst.capacity.copy()
    out: list[np.ndarray | None] = []
    for i, p in enumerate(burst.problems):
        alloc = np.zeros((p.n_lines, network.n_warehouses), np.int64)
        s, c = stock.copy(), cap.copy()
        near = np.argsort(network.distance_km[p.dest], kind="stable")
        if p.order.hard_promise:
            near = near[p.eta_all[near] <= p.order.promise_days]
        for l, r in enumerate(burst.rows_of(i)):
            q = int(p.qty[l])
            for w in near:
                take = min(q, int(s[r, w]), int(c[w])) if p.split else \
                    (q if s[r, w] >= q and c[w] >= q else 0)
                if take:
                    alloc[l, w] += take
                    s[r, w] -= take
                    c[w] -= take
                    q -= take
                if not q:
                    break
        used = int((alloc.sum(axis=0) > 0).sum())
        filled = (alloc.sum(axis=1) == p.qty).all() and (
            p.order.max_shipments is None or used <= p.order.max_shipments)
        if filled:
            stock, cap = s, c
        out.append(alloc if filled else UNFILLED)
    return out


def fcfs_plan_allocate(orders: Sequence[Order], network: Network, catalog: Catalog,
                       availability: Availability | Any, *,
                       capacity_left: np.ndarray | None = None,
                       split: bool | None = None) -> BatchAllocation:
    """Baseline: in arrival order, each order's cheapest plan on the stock left."""
    t0 = time.perf_counter()
    burst = _Burst(orders, network, catalog, as_availability(availability, network),
                   capacity_left, split)
    router = Router(network, catalog)
    stock, cap = StockMatrix(burst.skus, burst.stock.copy()), burst.capacity.copy()
    out: list[np.ndarray | None] = []
    for i, o in enumerate(orders):
        p = build_problem(o, network, catalog, stock, capacity_left=cap, split=split)
        best = router.solve(p, runner_up=False).best_alloc(p)
        if best is None:
            out.append(UNFILLED)
            continue
        full = np.zeros((p.n_lines, network.n_warehouses), np.int64)
        full[:, p.cand] = best
        np.subtract.at(stock.matrix, burst.rows_of(i), full)
        cap -= full.sum(axis=0)
        out.append(full)
    return burst.evaluate("fcfs_planner", out, "heuristic", t0)


def _line_splits(qty: int, most: np.ndarray, limit: int) -> np.ndarray:
    """Every way to take ``qty`` units with at most ``most[c]`` from candidate ``c``,
    as rows ``(K, C)``; ValueError past ``limit`` rows."""
    rows: list[list[int]] = []

    def walk(c: int, left: int, acc: list[int]) -> None:
        if len(rows) > limit:
            raise ValueError("too many split options")
        if left == 0:
            rows.append(acc + [0] * (len(most) - c))
            return
        if c == len(most) or int(most[c:].sum()) < left:
            return
        for take in range(min(left, int(most[c])), -1, -1):
            walk(c + 1, left - take, acc + [take])

    walk(0, qty, [])
    return np.array(rows, np.int64).reshape(len(rows), len(most))


def price_allocs(p: PlanningProblem, allocs: np.ndarray) -> np.ndarray:
    """Cost of each allocation ``(M, L, C)`` under the single-order model (INF where a
    limit is broken: cell units, capacity, max shipments)."""
    units = allocs.sum(axis=1)                                             # (M, C)
    used = units > 0
    slabs = C.slabs(np.einsum("mlc,l->mc", allocs, p.unit_weight), p.slab_g)
    ship = C.shipping(p.first[None, :], p.additional[None, :], np.maximum(slabs, 1))
    free = np.maximum(0, p.avail[:, p.cand] - p.network.stock_health_threshold)
    drained = np.maximum(0, allocs - free[None, :, :]).sum(axis=1)
    total = (np.where(used, ship + C.rto(ship, p.rto_ppm) + (p.fixed + p.lateness)[None, :], 0)
             + units * p.network.handling_paise[p.cand][None, :] + drained * p.health_paise
             ).sum(axis=1)
    ok = (allocs <= p.units_max[None]).all(axis=(1, 2)) & (units <= p.capacity[None]).all(axis=1)
    if p.order.max_shipments is not None:
        ok &= used.sum(axis=1) <= p.order.max_shipments
    return np.where(ok, total, C.INF)


def _options(p: PlanningProblem, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    """Every feasible plan of one order as units ``(M, L, C)`` and its cost, cheapest
    first (the :data:`MAX_OPTIONS_PER_ORDER` cheapest). Past :data:`MAX_ENUMERATED`
    plans, the router's best and runner-up stand for them."""
    n, ncand = p.n_lines, len(p.cand)
    try:
        if p.split:
            per_line = [_line_splits(int(p.qty[l]), p.units_max[l], MAX_ENUMERATED)
                        for l in range(n)]
        else:
            eye = np.eye(ncand, dtype=np.int64)
            per_line = [eye[row] * q for row, q in zip(p.eligible, p.qty.tolist())]
        count = math.prod(len(x) for x in per_line)
        if count > MAX_ENUMERATED:
            raise ValueError("too many plans")
    except ValueError:
        return _router_options(p, catalog)
    if count == 0:
        return np.zeros((0, n, ncand), np.int64), np.zeros(0, np.int64)
    pick = np.indices([len(x) for x in per_line]).reshape(n, -1)
    allocs = np.stack([per_line[l][pick[l]] for l in range(n)], axis=1)   # (M, L, C)
    total = price_allocs(p, allocs)
    ok = total < C.INF
    allocs, total = allocs[ok], total[ok]
    keep = np.argsort(total, kind="stable")[:MAX_OPTIONS_PER_ORDER]
    return allocs[keep], total[keep]


def _router_options(p: PlanningProblem, catalog: Catalog) -> tuple[np.ndarray, np.ndarray]:
    sol = Router(p.network, catalog).solve(p)
    allocs = [a for a in (sol.best_alloc(p), sol.second_alloc(p)) if a is not None]
    if not allocs:
        return np.zeros((0, p.n_lines, len(p.cand)), np.int64), np.zeros(0, np.int64)
    stacked = np.stack(allocs)
    return stacked, price_allocs(p, stacked)


def allocate_batch(orders: Sequence[Order], network: Network, catalog: Catalog,
                   availability: Availability | Any, *, capacity_left: np.ndarray | None = None,
                   time_limit_s: float = 20.0, workers: int = 8,
                   split: bool | None = None) -> BatchAllocation:
    """Jointly allocate a burst: most orders filled, then least expected cost.
    ``split`` overrides every order's ``split_lines`` (None: each order's own)."""
    t0 = time.perf_counter()
    avail = as_availability(availability, network)
    burst = _Burst(orders, network, catalog, avail, capacity_left, split)
    greedy = greedy_allocate(orders, network, catalog, avail, capacity_left=capacity_left,
                             split=split)
    notes = []

    m = cp_model.CpModel()
    y: list[list[tuple[cp_model.IntVar, np.ndarray, int]]] = []
    stock_terms: dict[tuple[int, int], list] = {}
    wh_terms: dict[int, list] = {}
    wh_max: dict[int, int] = {}
    for i, p in enumerate(burst.problems):
        opts, costs = _options(p, catalog)
        if len(opts) == MAX_OPTIONS_PER_ORDER:
            notes.append(f"order {p.order.id or i}: kept its {MAX_OPTIONS_PER_ORDER} cheapest plans")
        rows, row_vars = burst.rows_of(i), []
        for a, cst in zip(opts, costs):
            v = m.new_bool_var("")
            full = burst.full(i, a)
            for l, c in zip(*np.nonzero(a)):
                q, w = int(a[l, c]), int(p.cand[c])
                stock_terms.setdefault((int(rows[l]), w), []).append(q * v)
                wh_terms.setdefault(w, []).append(q * v)
                wh_max[w] = wh_max.get(w, 0) + q
            row_vars.append((v, full, int(cst)))
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
    hint(greedy.allocations)
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
