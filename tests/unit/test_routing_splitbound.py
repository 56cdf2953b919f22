"""The split DP's pruning (``routing.splitbound``) changes no answer.

* the per-candidate bound ``LB_c`` never exceeds the cost of a plan that uses ``c``
  (every plan enumerated on small random problems);
* the pruned DP returns the unpruned DP's best and runner-up costs (hypothesis over
  random networks, stock, capacity, promises and ``max_shipments``), and its plans
  are feasible and cost what it says;
* the parcel-cost table, summed per line, prices every parcel like ``part_cost``.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from routing import cost as C
from routing.problem import PlanningProblem, build_problem
from routing.splitbound import candidate_bounds, cover_bound
from routing.splits import fits, lattice, lattice_for, parcel_costs, solve_split
from tools.scenario import random_catalog, random_network, random_order, random_stock


def split_problem(seed: int, n_wh: int, n_lines: int, max_qty: int) -> PlanningProblem:
    rng = np.random.default_rng(seed)
    network = random_network(rng, n_wh, capacity=True)
    catalog = random_catalog(rng, 12)
    stock = random_stock(rng, catalog, network, density=0.7, max_units=5)
    order = random_order(rng, catalog, network, n_lines, max_qty=max_qty)
    return build_problem(replace(order, split_lines=True), network, catalog, stock)


def every_plan(p: PlanningProblem):
    """Every feasible units allocation ``(L, C)`` of a small split problem."""
    n_cand = len(p.cand)
    per_line = []
    for l in range(p.n_lines):
        rows = [row for row in itertools.product(*(range(int(m) + 1) for m in p.units_max[l]))
                if sum(row) == p.qty[l]]
        per_line.append(rows)
    for rows in itertools.product(*per_line):
        alloc = np.array(rows, np.int64).reshape(p.n_lines, n_cand)
        if p.alloc_feasible(alloc):
            yield alloc


@settings(max_examples=120, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10 ** 6), n_wh=st.integers(1, 4), n_lines=st.integers(1, 2),
       max_qty=st.integers(1, 3))
def test_no_plan_using_a_candidate_costs_less_than_its_bound(seed, n_wh, n_lines, max_qty):
    p = split_problem(seed, n_wh, n_lines, max_qty)
    assume(len(p.cand) > 0)
    t, vectors, perm = lattice_for(p.qty)
    bounds = candidate_bounds(t, parcel_costs(p, vectors, perm), p.order.max_shipments)
    cheapest = np.full(len(p.cand), C.INF, np.int64)
    for alloc in every_plan(p):
        cost = p.alloc_cost(alloc).total
        used = alloc.sum(axis=0) > 0
        cheapest[used] = np.minimum(cheapest[used], cost)
    assert (bounds <= cheapest).all(), (bounds, cheapest)


def check_solution(p: PlanningProblem, sol) -> None:
    if not sol.found:
        return
    best = sol.best_alloc(p)
    assert p.alloc_feasible(best) and p.alloc_cost(best).total == sol.cost
    second = sol.second_alloc(p)
    if second is not None:
        assert not np.array_equal(best, second)
        assert p.alloc_feasible(second) and p.alloc_cost(second).total == sol.runner_up_cost


@settings(max_examples=150, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10 ** 6), n_wh=st.integers(1, 30), n_lines=st.integers(1, 4),
       max_qty=st.integers(1, 4))
def test_the_pruned_dp_finds_the_unpruned_best_and_runner_up(seed, n_wh, n_lines, max_qty):
    p = split_problem(seed, n_wh, n_lines, max_qty)
    assume(fits(p))
    pruned, full = solve_split(p), solve_split(p, prune=False)
    assert pruned.status == full.status
    assert (pruned.cost, pruned.runner_up_cost) == (full.cost, full.runner_up_cost)
    check_solution(p, pruned)
    check_solution(p, full)


def test_pruning_is_exercised_on_bench_sized_networks():
    """On 30-warehouse networks most candidates are cut, and the answers still agree."""
    cut = 0
    for seed in range(40):
        p = split_problem(seed, 30, 3, 3)
        if not len(p.cand):
            continue
        t, vectors, perm = lattice_for(p.qty)
        bounds = candidate_bounds(t, parcel_costs(p, vectors, perm), p.order.max_shipments)
        full = solve_split(p, prune=False)
        assert solve_split(p).runner_up_cost == full.runner_up_cost
        if full.runner_up_cost is not None:
            cut += int((bounds > full.runner_up_cost).sum())
    assert cut > 200


@settings(max_examples=60, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10 ** 6), n_wh=st.integers(1, 8), n_lines=st.integers(1, 4),
       max_qty=st.integers(1, 4))
def test_parcel_table_prices_every_parcel_like_part_cost(seed, n_wh, n_lines, max_qty):
    p = split_problem(seed, n_wh, n_lines, max_qty)
    assume(len(p.cand) > 0 and fits(p))
    t, vectors, perm = lattice_for(p.qty)
    f = parcel_costs(p, vectors, perm)
    for i in range(1, len(vectors)):
        b = vectors[i]
        for c in range(len(p.cand)):
            ok = (b <= p.units_max[:, c]).all() and b.sum() <= p.capacity[c]
            assert f[c, i] == (p.part_cost(b, c).total if ok else C.INF)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(q=st.lists(st.integers(1, 4), min_size=1, max_size=4), seed=st.integers(0, 10 ** 6))
def test_the_one_sweep_cover_bound_is_the_fixpoint_of_the_passes(q, seed):
    """Level by level (units in ``r``) gives the same ``G`` as iterating to the fixpoint."""
    t = lattice(tuple(sorted(q)))
    rng = np.random.default_rng(seed)
    g = rng.integers(100, 10_000, len(t.vectors)).astype(np.int64)
    g[rng.random(len(g)) < 0.3] = C.INF
    swept = cover_bound(t, g, None)
    iterated = cover_bound(t, g, sum(q) + 1)      # enough parcels for any cover
    assert np.array_equal(swept, iterated)
