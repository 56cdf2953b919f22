"""The router: plan one order end to end (solver choice, substitutes, shortfall)."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace
from datetime import date
from typing import Any, Callable

import numpy as np

from allocator.catalog import Catalog
from routing.availability import Availability, as_availability
from routing.cpsat import DEFAULT_TIME_LIMIT_S, solve_cpsat
from routing.fastpath import MAX_LINES, solve_fast
from routing.large import solve_large
from routing.network import Network
from routing.oneline import OneLinePlanner
from routing.order import Order, OrderLine
from routing.plan import NO_PLAN_FOUND, Plan, ShortLine, Shortfall, build_plan
from routing.problem import PlanningProblem, Solution, build_problem
from routing.shortfall import partial_qty, short_lines
from routing.splits import fits as fits_split_dp
from routing.splits import solve_split, warm_lattices

SOLVERS = ("auto", "fastpath", "large", "cpsat")
MAX_SUBSTITUTION_COMBOS = 16


class Router:
    """Plans orders over one network and catalog.

    ``fast_max_lines``: orders with at most this many lines use the exact fast
    path, larger ones the large-order planner (a plan in milliseconds with a proven
    bound, :mod:`routing.large`); CP-SAT with ``time_limit_s`` on request, for split
    orders past the DP, and when the large planner finds no plan within
    ``max_shipments``.
    """

    def __init__(self, network: Network, catalog: Catalog, *, fast_max_lines: int = MAX_LINES,
                 time_limit_s: float = DEFAULT_TIME_LIMIT_S) -> None:
        if not 0 <= fast_max_lines <= MAX_LINES:
            raise ValueError(f"fast_max_lines must be in 0..{MAX_LINES}")
        self.network = network
        self.catalog = catalog
        self.fast_max_lines = fast_max_lines
        self.time_limit_s = time_limit_s
        self._budget = threading.local()
        # one-line orders straight to JSON (None when the fast path is off)
        self.one_line = OneLinePlanner(network, catalog) if fast_max_lines else None
        warm_lattices()   # once per process: the split DP's tables for common shapes

    # -- public --------------------------------------------------------------
    def plan(self, order: Order, availability: Availability | Any, *,
             capacity_left: np.ndarray | None = None, today: date | None = None,
             solver: str = "auto", budget_s: float | None = None) -> Plan:
        """Cheapest feasible plan for ``order``, or an unfillable plan with a shortfall.

        ``budget_s`` bounds the work for this order: solver time limits shrink to what
        is left, and the shortfall's explorations (substitutes, fewer shipments, a
        partial shipment) stop when it is spent — an order no plan was found for in
        time is unfillable with reason ``no_plan_found``.

        Raises :class:`InvalidRequest` subclasses only for bad input (unknown SKU or
        pincode); running out of stock is a result, not an error.
        """
        t0 = time.perf_counter()
        avail = as_availability(availability, self.network)
        today = today or date.today()
        self._budget.deadline = None if budget_s is None else time.monotonic() + budget_s
        try:
            plan = self._plan(order, avail, capacity_left, today, solver, explore=True)
        finally:
            self._budget.deadline = None
        plan.elapsed_ms = (time.perf_counter() - t0) * 1e3
        return plan

    @property
    def _deadline(self) -> float | None:
        return getattr(self._budget, "deadline", None)

    def _left_s(self) -> float:
        """Seconds of the current plan's budget left (the solver limit if none); per
        thread, so plans in a thread pool keep their own budgets."""
        deadline = self._deadline
        if deadline is None:
            return self.time_limit_s
        return max(0.0, deadline - time.monotonic())

    def problem(self, order: Order, availability: Availability | Any, *,
                capacity_left: np.ndarray | None = None) -> PlanningProblem:
        """The arrays the planners work on (exposed for tests and batch allocation)."""
        return build_problem(order, self.network, self.catalog,
                             as_availability(availability, self.network),
                             capacity_left=capacity_left)

    def solve(self, problem: PlanningProblem, solver: str = "auto", runner_up: bool = True) -> Solution:
        """Run one planner on a prepared problem."""
        if solver not in SOLVERS:
            raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
        if problem.split and solver != "cpsat" and fits_split_dp(problem):
            return self._solve_split(problem)
        if not problem.split and (solver == "fastpath" or (
                solver == "auto" and problem.n_lines <= self.fast_max_lines)):
            return solve_fast(problem)
        if not problem.split and solver in ("auto", "large"):
            sol = solve_large(problem)
            if sol.status != "unknown":   # unknown: max_shipments beat the local search
                return sol
        left = self._left_s()
        if left <= 0:
            return Solution("cpsat", "unknown")
        limit = min(self.time_limit_s, left / 2 if runner_up else left)
        return solve_cpsat(problem, time_limit_s=max(0.01, limit), runner_up=runner_up)

    def _solve_split(self, problem: PlanningProblem) -> Solution:
        """Exact split planning: the split DP, pruned to the warehouses that can appear
        in a plan no dearer than the runner-up (:mod:`routing.splitbound`)."""
        if problem.n_lines <= MAX_LINES and (problem.qty == 1).all():
            return solve_fast(problem)   # single units cannot split: the same problem
        sol = solve_split(problem)
        sol.solver = "fastpath"
        return sol

    # -- internals -----------------------------------------------------------
    def _plan(self, order: Order, avail: Availability, capacity_left: np.ndarray | None,
              today: date, solver: str, explore: bool) -> Plan:
        problem = build_problem(order, self.network, self.catalog, avail,
                                capacity_left=capacity_left)
        sol = self.solve(problem, solver)
        if sol.found:
            return build_plan(problem, sol, order, today)
        if not explore:
            return self._unfillable(problem, sol, Shortfall(NO_PLAN_FOUND, ""))
        return self._shortfall(problem, sol, avail, capacity_left, today, solver)

    def _unfillable(self, problem: PlanningProblem, sol: Solution, shortfall: Shortfall) -> Plan:
        return Plan(order=problem.order, destination=problem.destination, solver=sol.solver,
                    solver_status=sol.status, split_lines=problem.split, shortfall=shortfall)

    def _shortfall(self, problem: PlanningProblem, sol: Solution, avail: Availability,
                   capacity_left: np.ndarray | None, today: date, solver: str) -> Plan:
        order = problem.order
        if self._deadline is not None and self._left_s() <= 0:
            return self._unfillable(problem, sol, Shortfall(
                NO_PLAN_FOUND, "no plan found within this order's routing budget"))
        short = short_lines(problem, self.catalog, avail)
        again = lambda o: self._plan(o, avail, capacity_left, today, solver, explore=False)  # noqa: E731

        if short and order.allow_substitutes and self._left_s() > 0:
            plan = self._substitute(order, short, again)
            if plan is not None:
                return plan
        if short:
            names = ", ".join(f"{s.sku} ({s.reason})" for s in short)
            shortfall = Shortfall("short_lines", f"no warehouse can ship {names}", short)
            ship_now, backorder = [], []
            short_skus = {s.sku for s in short}
            for l, line in enumerate(order.lines):
                if line.sku not in short_skus:
                    ship_now.append(line)
                    continue
                now = partial_qty(problem, l)
                if now:
                    ship_now.append(OrderLine(line.sku, now))
                backorder.append(OrderLine(line.sku, line.qty - now))
            shortfall.backorder = backorder
            if ship_now and self._left_s() > 0:
                shortfall.ship_now = self._ship_now(order.with_lines(tuple(ship_now)), avail,
                                                    capacity_left, today, solver)
            return self._unfillable(problem, sol, shortfall)
        if sol.status == "unknown":
            return self._unfillable(problem, sol, Shortfall(
                NO_PLAN_FOUND, f"no plan found within {self.time_limit_s}s"))
        if order.max_shipments is not None:
            most = len(problem.cand) if problem.split else len(order.lines)
            for k in range(order.max_shipments + 1, most + 1):
                if self._left_s() <= 0:
                    break
                relaxed = build_problem(replace(order, max_shipments=k), self.network,
                                        self.catalog, avail, capacity_left=capacity_left)
                if self.solve(relaxed, solver, runner_up=False).found:
                    return self._unfillable(problem, sol, Shortfall(
                        "max_shipments",
                        f"every line is in stock, but not within {order.max_shipments} "
                        f"shipment(s); {k} are needed", min_shipments_needed=k))
        return self._unfillable(problem, sol, Shortfall(
            "capacity", "every line is in stock somewhere, but warehouse capacity left today "
                        "cannot take the order"))

    def _ship_now(self, order: Order, avail: Availability, capacity_left: np.ndarray | None,
                  today: date, solver: str) -> Plan | dict[str, Any] | None:
        """The plan of what could ship now (``order``: the lines in stock), None if none
        is found. One line on the network's own capacity goes to the one-line planner,
        whose JSON is this router's (:mod:`routing.oneline`)."""
        if (capacity_left is None and solver in ("auto", "fastpath")
                and self.one_line is not None and self.one_line.applies(order)):
            plan = self.one_line.plan(order, lambda sku: avail.rows([sku])[0].tolist(), today)
            if plan is not None:
                plan["elapsed_ms"] = 0.0            # a part of the refused plan
                return plan if plan["status"] == "planned" else None
        partial = self._plan(order, avail, capacity_left, today, solver, explore=False)
        return partial if partial.filled else None

    def _substitute(self, order: Order, short: list[ShortLine],
                    again: Callable[[Order], Plan]) -> Plan | None:
        """Cheapest plan replacing each short line by a fillable substitute, if any."""
        options = [[s.sku] + [sub["sku"] for sub in s.substitutes] for s in short]
        if not all(len(o) > 1 for o in options):
            return None
        best: Plan | None = None
        combos = itertools.product(*[o[1:] for o in options])
        for combo in itertools.islice(combos, MAX_SUBSTITUTION_COMBOS):
            if self._left_s() <= 0:
                break
            if len(set(combo)) < len(combo):
                continue  # two short lines cannot both become the same SKU
            swap = dict(zip((s.sku for s in short), combo))
            lines = tuple(OrderLine(swap.get(l.sku, l.sku), l.qty) for l in order.lines)
            plan = again(order.with_lines(lines))
            if plan.filled and (best is None or plan.cost.total < best.cost.total):
                best = plan
                best.substitutions = [{"sku": s, "substitute": sub, "qty": q}
                                      for s, sub, q in ((l.sku, swap[l.sku], l.qty)
                                                        for l in order.lines if l.sku in swap)]
        if best is not None:
            best.order = order
        return best


def plan_order(order: Order, network: Network, catalog: Catalog,
               availability: Availability | Any, **kwargs: Any) -> Plan:
    """One-shot convenience: ``Router(network, catalog).plan(order, availability, ...)``."""
    return Router(network, catalog).plan(order, availability, **kwargs)
