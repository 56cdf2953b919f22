"""CP-SAT planner for the general case (any number of lines), with a time limit.

Model (integer paise, so the objective equals the plan's cost exactly):

* ``x[l, c]`` — line ``l`` ships whole from candidate ``c`` (only eligible pairs);
  each line exactly once;
* ``used[c] = max_l x[l, c]``; ``sum(used) ≤ max_shipments``;
* ``slab[c] = ceil(weight[c] / slab_g)`` and ``rto[c] = ceil(bp × ship[c] / 10⁴)``,
  both pinned by two-sided linear constraints, with
  ``ship[c] = (first − additional)·used[c] + additional·slab[c]``;
* capacity: ``sum_l qty[l]·x[l, c] ≤ capacity[c]``;
* minimise ``Σ ship + rto + (fixed + lateness)·used + Σ line_cost·x``.

The runner-up is the best plan that differs from the best in at least one line's
warehouse (a no-good cut on the best assignment), solved as a second model.
"""

from __future__ import annotations

import numpy as np
from ortools.sat.python import cp_model

from routing import cost as C
from routing.problem import PlanningProblem, Solution

DEFAULT_TIME_LIMIT_S = 2.0

_STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.MODEL_INVALID: "invalid",
    cp_model.UNKNOWN: "unknown",
}


def _run(model: cp_model.CpModel, time_limit_s: float, workers: int
         ) -> tuple[cp_model.CpSolver, int, str]:
    """Solve ``model``; the solver (for values), its status code and status name."""
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    code = solver.solve(model)
    return solver, code, _STATUS.get(code, "unknown")


def _parcel_price(m: cp_model.CpModel, p: PlanningProblem, c: int, weight: object,
                  used: cp_model.IntVar, max_slab: int) -> tuple[cp_model.IntVar, cp_model.IntVar]:
    """Shipping and RTO of candidate ``c``'s parcel, pinned exactly: ``slab =
    ceil(weight / slab_g)``, ``ship = (first − additional)·used + additional·slab``,
    ``rto = ceil(ppm × ship / 10⁶)``."""
    slab = m.new_int_var(0, max_slab, f"slab{c}")
    m.add(p.slab_g * slab >= weight)
    m.add(p.slab_g * slab <= weight + p.slab_g - 1)
    first, addl = int(p.first[c]), int(p.additional[c])
    max_ship = int(C.shipping(first, addl, max(max_slab, 1)))
    ship = m.new_int_var(0, max_ship, f"ship{c}")
    m.add(ship == (first - addl) * used + addl * slab)
    rto = m.new_int_var(0, int(C.rto(max_ship, p.rto_ppm)), f"rto{c}")
    m.add(C.PPM * rto >= p.rto_ppm * ship)
    m.add(C.PPM * rto <= p.rto_ppm * ship + C.PPM - 1)
    return ship, rto


class _Model:
    """The CP-SAT model of one problem, kept so a no-good cut can be added."""

    def __init__(self, p: PlanningProblem) -> None:
        self.p = p
        m = self.model = cp_model.CpModel()
        n, ncand = p.eligible.shape
        self.x: dict[tuple[int, int], cp_model.IntVar] = {
            (l, c): m.new_bool_var(f"x{l}_{c}")
            for l in range(n) for c in range(ncand) if p.eligible[l, c]
        }
        for l in range(n):
            m.add_exactly_one(self.x[l, c] for c in range(ncand) if (l, c) in self.x)
        objective = []
        used_all = []
        for c in range(ncand):
            xs = [(l, self.x[l, c]) for l in range(n) if (l, c) in self.x]
            if not xs:
                continue
            used = m.new_bool_var(f"used{c}")
            m.add_max_equality(used, [v for _, v in xs])
            used_all.append(used)
            weight = sum(int(p.weight_g[l]) * v for l, v in xs)
            max_w = int(sum(int(p.weight_g[l]) for l, _ in xs))
            max_slab = int(C.slabs(max_w, p.slab_g))
            ship, rto = _parcel_price(m, p, c, weight, used, max_slab)
            units = sum(int(p.qty[l]) * v for l, v in xs)
            if int(p.capacity[c]) < sum(int(p.qty[l]) for l, _ in xs):
                m.add(units <= int(p.capacity[c]))
            objective += [ship, rto, int(p.fixed[c] + p.lateness[c]) * used]
            objective += [int(p.line_cost[l, c]) * v for l, v in xs]
        if p.order.max_shipments is not None and len(used_all) > p.order.max_shipments:
            m.add(sum(used_all) <= p.order.max_shipments)
        m.minimize(sum(objective))

    def solve(self, time_limit_s: float, workers: int) -> tuple[str, np.ndarray | None, int | None]:
        solver, code, status = _run(self.model, time_limit_s, workers)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return status, None, None
        self.bound = int(np.ceil(solver.best_objective_bound - 1e-6))
        assign = np.full(self.p.n_lines, -1, np.int64)
        for (l, c), v in self.x.items():
            if solver.boolean_value(v):
                assign[l] = c
        return status, assign, int(round(solver.objective_value))

    def forbid(self, assignment: np.ndarray) -> None:
        """No-good cut: at least one line must move to another warehouse."""
        chosen = [self.x[l, int(c)] for l, c in enumerate(assignment)]
        self.model.add(sum(chosen) <= len(chosen) - 1)


class _SplitModel:
    """The split-lines model: ``x[l, c]`` units of line ``l`` from candidate ``c``.

    ``used[c]`` is 1 exactly when ``c`` ships something; slabs, shipping and RTO are
    pinned as in :class:`_Model`; stock health is ``pen × drained`` with
    ``drained ≥ x − free`` (convex, so minimising makes it exact)."""

    def __init__(self, p: PlanningProblem) -> None:
        self.p = p
        m = self.model = cp_model.CpModel()
        n, ncand = p.units_max.shape
        thr = p.network.stock_health_threshold
        self.x: dict[tuple[int, int], cp_model.IntVar] = {
            (l, c): m.new_int_var(0, int(p.units_max[l, c]), f"x{l}_{c}")
            for l in range(n) for c in range(ncand) if p.units_max[l, c] > 0}
        for l in range(n):
            m.add(sum(v for (ll, _), v in self.x.items() if ll == l) == int(p.qty[l]))
        objective, used_all = [], []
        for c in range(ncand):
            xs = [(l, self.x[l, c]) for l in range(n) if (l, c) in self.x]
            if not xs:
                continue
            w = int(p.cand[c])
            used = m.new_bool_var(f"used{c}")
            used_all.append(used)
            units = sum(v for _, v in xs)
            top = int(sum(int(p.units_max[l, c]) for l, _ in xs))
            m.add(units <= min(top, int(p.capacity[c])) * used)
            m.add(units >= used)
            weight = sum(int(p.unit_weight[l]) * v for l, v in xs)
            max_slab = int(C.slabs(int(sum(int(p.unit_weight[l]) * int(p.units_max[l, c])
                                           for l, _ in xs)), p.slab_g))
            ship, rto = _parcel_price(m, p, c, weight, used, max_slab)
            objective += [ship, rto, int(p.fixed[c] + p.lateness[c]) * used,
                          int(p.network.handling_paise[w]) * units]
            if p.health_paise:
                for l, v in xs:
                    free = max(0, int(p.avail[l, w]) - thr)
                    if int(p.units_max[l, c]) > free:
                        drained = m.new_int_var(0, int(p.units_max[l, c]) - free, "")
                        m.add(drained >= v - free)
                        objective.append(p.health_paise * drained)
        if p.order.max_shipments is not None and len(used_all) > p.order.max_shipments:
            m.add(sum(used_all) <= p.order.max_shipments)
        m.minimize(sum(objective))

    def solve(self, time_limit_s: float, workers: int
              ) -> tuple[str, np.ndarray | None, int | None, int | None]:
        solver, code, status = _run(self.model, time_limit_s, workers)
        if code not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return status, None, None, None
        alloc = np.zeros(self.p.units_max.shape, np.int64)
        for (l, c), v in self.x.items():
            alloc[l, c] = solver.value(v)
        return (status, alloc, int(round(solver.objective_value)),
                int(np.ceil(solver.best_objective_bound - 1e-6)))

    def forbid(self, alloc: np.ndarray) -> None:
        """No-good cut: at least one cell must give a different number of units."""
        same = []
        for (l, c), v in self.x.items():
            eq = self.model.new_bool_var("")
            self.model.add(v == int(alloc[l, c])).only_enforce_if(eq)
            self.model.add(v != int(alloc[l, c])).only_enforce_if(~eq)
            same.append(eq)
        self.model.add(sum(same) <= len(same) - 1)


def solve_cpsat_split(problem: PlanningProblem, *, time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                      runner_up: bool = True, workers: int | None = None) -> Solution:
    """Best split plan (and runner-up) by CP-SAT, with its proven bound."""
    if not problem.units_max.any() or (problem.units_max.sum(axis=1) < problem.qty).any():
        return Solution("cpsat", "infeasible")
    workers = workers or (1 if (problem.units_max > 0).sum() <= 200 else 8)
    model = _SplitModel(problem)
    status, alloc, cost, bound = model.solve(time_limit_s, workers)
    sol = Solution("cpsat", status, cost=cost, alloc=alloc, bound=bound)
    if alloc is None or not runner_up:
        return sol
    model.forbid(alloc)
    status2, alloc2, cost2, _ = model.solve(time_limit_s, workers)
    if alloc2 is not None and cost2 is not None and cost is not None:
        if cost2 < cost:  # only when the first solve stopped at "feasible"
            sol.alloc, sol.cost, alloc2, cost2 = alloc2, cost2, alloc, cost
            sol.status = "feasible"
        sol.runner_up_alloc, sol.runner_up_cost = alloc2, cost2
    return sol


def solve_cpsat(problem: PlanningProblem, *, time_limit_s: float = DEFAULT_TIME_LIMIT_S,
                runner_up: bool = True, workers: int | None = None) -> Solution:
    """Best plan (and runner-up) by CP-SAT; ``status`` says optimal or feasible."""
    if problem.split:
        return solve_cpsat_split(problem, time_limit_s=time_limit_s, runner_up=runner_up,
                                 workers=workers)
    if problem.eligible.shape[1] == 0 or not problem.eligible.any(axis=1).all():
        return Solution("cpsat", "infeasible")
    if workers is None:
        workers = 1 if problem.eligible.sum() <= 200 else 8
    model = _Model(problem)
    status, assign, cost = model.solve(time_limit_s, workers)
    sol = Solution("cpsat", status, assign, cost, bound=getattr(model, "bound", None))
    if assign is None or not runner_up:
        return sol
    model.forbid(assign)
    status2, assign2, cost2 = model.solve(time_limit_s, workers)
    if assign2 is not None:
        if cost2 is not None and cost is not None and cost2 < cost:
            # Only possible when the first solve stopped at "feasible": swap.
            sol.assignment, sol.cost, assign2, cost2 = assign2, cost2, assign, cost
            sol.status = "feasible"
        sol.runner_up, sol.runner_up_cost = assign2, cost2
    return sol
