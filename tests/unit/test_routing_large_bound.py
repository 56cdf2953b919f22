"""The large-order planner's lower bound with the slab-rounding cut (routing/large.py):
never above a proven optimum (CP-SAT, brute force), for any dual prices, and tight
enough on the benchmark's big orders (issue #16: gap ≤ 1 %)."""

from __future__ import annotations

import numpy as np
import pytest

from allocator.catalog import demo_catalog
from bench.route import TARGET_BIG_GAP, big_orders
from routing.availability import demo_stock
from routing.cpsat import solve_cpsat
from routing.large import (dual_ascent, lagrangian, linear_costs, rounding_bonus,
                           rounding_floor, solve_large)
from routing.problem import build_problem
from tests.unit.test_routing_agreement import Reference
from tests.unit.test_routing_large import medium_case
from tools.scenario import bench_network, random_order

BENCH_ORDER_AT_126 = 10
"""The bench's big order whose gap was 1.26 % before the cut (CP-SAT: the optimum is
0.12 % below the plan, so the bound was what fell short)."""


def test_rounding_floor_is_the_order_weight_rounded_up_to_whole_slabs():
    class P:  # only the two fields rounding_floor reads
        slab_g = 500
        weight_g = np.array([150, 160, 700])
    assert rounding_floor(P()) == pytest.approx((1500 - 1010) / 500)
    P.weight_g = np.array([250, 250, 500])
    assert rounding_floor(P()) == 0.0


def test_rounded_bound_never_exceeds_cpsat_proven_optimum():
    """8–14-line orders over 8 warehouses (bench networks, demo stock, with and
    without promises and shipment limits): CP-SAT proves the optimum, and neither the
    planner's bound nor the rounded Lagrangian at the dual prices exceeds it — while
    the cut does lift the bound above the plain facility-location dual."""
    catalog = demo_catalog()
    proved = lifted = 0
    for seed in range(6):
        network = bench_network(8, seed=100 + seed)
        stock = demo_stock(catalog, network, seed=seed)
        rng = np.random.default_rng(seed)
        for k in range(5):
            order = random_order(rng, catalog, network, int(rng.integers(8, 15)),
                                 constraints=k % 2 == 1)
            problem = build_problem(order, network, catalog, stock, split=False)
            sol = solve_large(problem)
            if sol.cost is None:
                continue
            sat = solve_cpsat(problem, runner_up=False, time_limit_s=5.0, workers=1)
            where = f"seed {seed} order {k}"
            assert sat.cost is not None and sat.cost >= sol.bound, where
            if sat.status != "optimal":
                continue
            proved += 1
            F, A, a = linear_costs(problem)
            u, s = dual_ascent(a, F)
            R = rounding_floor(problem)
            assert sol.bound <= sat.cost <= sol.cost, where
            assert lagrangian(a, F, u, A, R) <= sat.cost + 1e-6, where
            lifted += u.sum() + rounding_bonus(s, A, R) > u.sum() + 1
    assert proved >= 25 and lifted >= proved // 2


def test_rounded_lagrangian_is_valid_for_any_prices():
    """Against a brute force on 7–8-line orders: the rounded Lagrangian at the dual
    prices and at random prices never exceeds the true optimum (it relaxes capacity
    and ``max_shipments``, so it stays a bound with them)."""
    rng = np.random.default_rng(5)
    checked = 0
    for seed in range(40):
        raw, network, catalog, stock, order = medium_case(seed)
        truth = Reference(raw).costs(order, {s.id: s.unit_weight_g for s in catalog.skus},
                                     {s: [int(x) for x in row]
                                      for s, row in zip(stock.sku_ids, stock.matrix)})
        if not truth:
            continue
        problem = build_problem(order, network, catalog, stock, split=False)
        F, A, a = linear_costs(problem)
        u, _ = dual_ascent(a, F)
        R = rounding_floor(problem)
        for prices in [u] + [u + rng.normal(0, 800, len(u)) for _ in range(5)]:
            assert lagrangian(a, F, prices, A, R) <= truth[0] + 1e-6, f"seed {seed}"
        checked += 1
    assert checked >= 20


def test_bench_big_orders_are_within_one_percent():
    """The benchmark's 20 big orders (20–50 lines × 50 warehouses, as `bench route`
    builds them): every plan's proven gap is ≤ 1 %, including the order that was at
    1.26 %; the plan is feasible and priced right, and CP-SAT (2 s) finds nothing below
    that order's bound."""
    router, orders, stock = big_orders()
    gaps = []
    for order in orders:
        problem = router.problem(order, stock)
        sol = solve_large(problem)
        assert problem.assignment_feasible(sol.assignment)
        assert problem.assignment_cost(sol.assignment).total == sol.cost >= sol.bound
        gaps.append((sol.cost - sol.bound) / sol.cost)
    assert gaps[BENCH_ORDER_AT_126] <= TARGET_BIG_GAP
    assert max(gaps) <= TARGET_BIG_GAP
    problem = router.problem(orders[BENCH_ORDER_AT_126], stock)
    sat = solve_cpsat(problem, runner_up=False, time_limit_s=2.0, workers=1)
    assert sat.cost is not None and sat.cost >= solve_large(problem).bound


def test_parcel_price_table_matches_the_cost_model():
    """Parcels.price reads a per-slab-count table: for any weight (within the table
    and past it) it equals shipping + RTO + fixed + lateness computed directly."""
    from routing import cost as C
    from routing.largesearch import Parcels
    router, orders, stock = big_orders(3)
    rng = np.random.default_rng(2)
    for order in orders:
        p = router.problem(order, stock)
        parcels = Parcels(p)
        heavy = 3 * int(p.weight_g.sum())
        for weight in (rng.integers(0, heavy // 2, (7, len(p.cand))),
                       rng.integers(0, heavy, (7, len(p.cand)))):
            ship = C.shipping(p.first, p.additional, np.maximum(C.slabs(weight, p.slab_g), 1))
            expect = p.fixed + p.lateness + ship + C.rto(ship, p.rto_ppm)
            assert (parcels.price(weight) == expect).all()
            own = rng.integers(0, len(p.cand), 7)     # one weight per row, at ``own``
            col = weight[:, 0]
            ship = C.shipping(p.first[own], p.additional[own],
                              np.maximum(C.slabs(col, p.slab_g), 1))
            assert (parcels.price(col, own) == p.fixed[own] + p.lateness[own] + ship
                    + C.rto(ship, p.rto_ppm)).all()
