"""The large-order planner (routing/large.py): its plan is feasible and priced right,
its bound is a true lower bound (against a brute force, the LP and CP-SAT), and a
plan it calls optimal is optimal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ortools.linear_solver import pywraplp

from allocator.catalog import Catalog, Sku, Warehouse, demo_catalog
from routing.availability import StockMatrix, demo_stock
from routing.cpsat import solve_cpsat
from routing.large import dual_ascent, lagrangian, linear_costs, solve_large
from routing.network import Network
from routing.order import Order, OrderLine
from routing.planner import Router
from routing.problem import build_problem
from tests.unit.test_routing_agreement import Reference, tiny_network_dict
from tests.unit.test_routing_planner import check_explains_itself
from tools.scenario import bench_network, random_order


def medium_case(seed: int):
    """7–8 lines over 2–3 warehouses: few enough assignments for the brute force."""
    rng = np.random.default_rng(seed)
    n_wh = int(rng.integers(2, 4))
    raw = tiny_network_dict(rng, n_wh, n_dest=3)
    network = Network.from_dict(raw, source=f"medium-{seed}")
    skus = [Sku(f"S{i}", f"sku {i}", int(rng.integers(40, 2600))) for i in range(10)]
    catalog = Catalog(skus, [Warehouse("W0", "W0", 0.0, 0.0)])
    units = rng.integers(1, 10, size=(10, n_wh)) * (rng.random((10, n_wh)) < 0.95)
    stock = StockMatrix([s.id for s in skus], units)
    n = int(rng.integers(7, 9))
    picks = rng.choice(10, size=n, replace=False)
    promise = int(rng.integers(1, 5)) if rng.random() < 0.5 else None
    order = Order(tuple(OrderLine(f"S{int(s)}", int(rng.integers(1, 4))) for s in picks),
                  raw["destinations"][int(rng.integers(0, 3))]["pincode"],
                  promise_days=promise, hard_promise=promise is not None and rng.random() < 0.3,
                  max_shipments=int(rng.integers(1, 4)) if rng.random() < 0.3 else None,
                  id=str(seed))
    return raw, network, catalog, stock, order


def test_large_planner_against_brute_force():
    """On 120 seeded 7–8-line orders: the bound never exceeds the true optimum, the
    plan never beats it, 'optimal' means optimal, and the runner-up is a real plan."""
    seen = {"filled": 0, "optimal": 0, "infeasible": 0, "runner_up": 0}
    for seed in range(120):
        raw, network, catalog, stock, order = medium_case(seed)
        ref = Reference(raw)
        truth = ref.costs(order, {s.id: s.unit_weight_g for s in catalog.skus},
                          {s: [int(u) for u in row] for s, row in zip(stock.sku_ids, stock.matrix)})
        problem = build_problem(order, network, catalog, stock)
        sol = solve_large(problem)
        plan = Router(network, catalog).plan(order, stock)
        where = f"seed {seed} {order.to_dict()}"
        assert plan.filled == bool(truth), where
        if not truth:
            seen["infeasible"] += 1
            assert sol.status in ("infeasible", "unknown"), where
            continue
        seen["filled"] += 1
        assert plan.bound <= truth[0] <= plan.cost.total, where
        check_explains_itself_loosely(plan)
        if sol.status == "unknown":          # max_shipments: the router fell back to CP-SAT
            assert plan.solver == "cpsat", where
            continue
        assert plan.solver == "large", where
        assert problem.assignment_feasible(sol.assignment), where
        assert problem.assignment_cost(sol.assignment).total == sol.cost, where
        assert sol.bound <= truth[0] <= sol.cost, where
        if sol.status == "optimal":
            seen["optimal"] += 1
            assert sol.cost == truth[0], where
        if sol.runner_up is not None:
            seen["runner_up"] += 1
            assert problem.assignment_feasible(sol.runner_up), where
            assert not np.array_equal(sol.runner_up, sol.assignment), where
            assert problem.assignment_cost(sol.runner_up).total == sol.runner_up_cost, where
            assert sol.runner_up_cost >= truth[1], where
    print(seen)
    assert seen["filled"] >= 60 and seen["infeasible"] >= 5
    assert seen["optimal"] >= 20 and seen["runner_up"] >= 40


def check_explains_itself_loosely(plan) -> None:
    """The demo-network checks of test_routing_planner need the demo network; here
    only the network-independent ones."""
    d = plan.to_dict()
    assert sum(s.cost.total for s in plan.shipments) == plan.cost.total
    assert d["gap"] == pytest.approx((plan.cost.total - plan.bound) / plan.cost.total, abs=1e-6)
    if plan.runner_up is not None:
        assert plan.runner_up.cost.total >= plan.cost.total


def lp_value(a: np.ndarray, F: np.ndarray) -> float:
    """The facility-location LP, solved by GLOP (the bound dual ascent approaches)."""
    s = pywraplp.Solver.CreateSolver("GLOP")
    n_lines, n_cand = a.shape
    y = [s.NumVar(0, 1, "") for _ in range(n_cand)]
    x = {(l, c): s.NumVar(0, 1, "") for l in range(n_lines) for c in range(n_cand)
         if a[l, c] < 1e14}
    for l in range(n_lines):
        s.Add(sum(x[l, c] for c in range(n_cand) if (l, c) in x) == 1)
    for (l, c), v in x.items():
        s.Add(v <= y[c])
    s.Minimize(sum(F[c] * y[c] for c in range(n_cand))
               + sum(float(a[l, c]) * v for (l, c), v in x.items()))
    assert s.Solve() == pywraplp.Solver.OPTIMAL
    return s.Objective().Value()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n_lines=st.integers(1, 12), n_cand=st.integers(1, 9))
def test_dual_ascent_and_lagrangian_never_exceed_the_lp(seed, n_lines, n_cand):
    rng = np.random.default_rng(seed)
    F = rng.uniform(0, 5000, n_cand)
    a = rng.uniform(100, 20000, (n_lines, n_cand))
    a[rng.random((n_lines, n_cand)) < 0.3] = float(1 << 50)
    a[np.arange(n_lines), rng.integers(0, n_cand, n_lines)] = rng.uniform(100, 20000, n_lines)
    u, s = dual_ascent(a, F)
    lp = lp_value(a, F)
    assert (s >= -1e-6).all()
    assert u.sum() <= lp + 1e-4 * max(1.0, lp)
    assert lagrangian(a, F, u) == pytest.approx(u.sum(), rel=1e-9, abs=1e-6)
    for _ in range(3):  # any prices give a valid bound
        assert lagrangian(a, F, u + rng.normal(0, 500, n_lines)) <= lp + 1e-4 * max(1.0, lp)


def test_big_orders_bound_below_what_cpsat_finds():
    """Bench-sized orders (20–40 lines × 50 warehouses): the plan is valid and within
    its reported gap; CP-SAT (1 s) never finds a plan cheaper than the bound."""
    network = bench_network(50, seed=3)
    catalog = demo_catalog()
    stock = demo_stock(catalog, network, seed=3)
    rng = np.random.default_rng(4)
    for _ in range(3):
        order = random_order(rng, catalog, network, int(rng.integers(20, 41)), constraints=False)
        problem = build_problem(order, network, catalog, stock)
        sol = solve_large(problem)
        assert sol.status in ("optimal", "feasible")
        assert problem.assignment_feasible(sol.assignment)
        assert problem.assignment_cost(sol.assignment).total == sol.cost >= sol.bound
        sat = solve_cpsat(problem, runner_up=False, time_limit_s=1.0, workers=1)
        assert sat.cost is not None and sat.cost >= sol.bound
        plan = Router(network, catalog).plan(order, stock)
        assert plan.solver == "large" and plan.cost.total == sol.cost
        assert plan.gap == pytest.approx((sol.cost - sol.bound) / sol.cost)


def test_large_orders_on_the_demo_network_explain_themselves():
    from tests.unit.test_routing_planner import CAT, NET, TODAY
    rng = np.random.default_rng(8)
    avail = demo_stock(CAT, NET, seed=1)
    planned = 0
    for _ in range(6):
        o = random_order(rng, CAT, NET, int(rng.integers(7, 15)), max_qty=2)
        p = Router(NET, CAT).plan(o, avail, today=TODAY)
        assert p.solver in ("large", "cpsat")
        check_explains_itself(p)
        planned += p.filled
    assert planned >= 3
