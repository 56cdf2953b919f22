"""The wave's set-up is built with array operations (routing/wave.py ``_option_table``,
routing/wavelp.py ``_model`` and ``_round``); these tests pin it to the plain
per-coefficient construction it replaced (kept here as the reference), so that making
it faster cannot change a wave's answer: the same cells, the same LP (same optimum,
same rounding) and the same allocation with no time for CP-SAT."""

from __future__ import annotations

import numpy as np
import pytest
from ortools.linear_solver import pywraplp

from allocator.catalog import demo_catalog
from routing import demo_network
from routing.availability import as_availability, demo_stock
from routing.batch import _Burst, greedy_allocs
from routing.wave import _option_table, _plans, allocate_wave
from routing.wavelp import Option, _round, lp_round
from tools.scenario import flash_sale, random_catalog, random_network, random_order, \
    scattered_bulk


def _reference_options(burst, plans):
    """Cells numbered by first use with a dict, one plan at a time (the old loop)."""
    cell_of: dict[tuple[int, int], int] = {}
    options = []
    for i, (p, (allocs, costs, _)) in enumerate(zip(burst.problems, plans)):
        rows, opts = burst.rows_of(i), []
        for a, cst in zip(allocs, costs):
            ls, cs = np.nonzero(a)
            whs = p.cand[cs]
            cells = np.array([cell_of.setdefault((int(r), int(w)), len(cell_of))
                              for r, w in zip(rows[ls].tolist(), whs.tolist())], np.int64)
            opts.append(Option(int(cst), cells, whs.astype(np.int64), a[ls, cs]))
        options.append(opts)
    have = np.array([burst.stock[r, w] for r, w in cell_of], np.int64).reshape(-1)
    return options, have


def _reference_lp(options, have, free, capacity, penalty, fill_weight):
    """The LP built coefficient by coefficient with pywraplp (the old build)."""
    lp = pywraplp.Solver.CreateSolver("GLOP")
    cell_rows = [lp.RowConstraint(0, float(h)) for h in have]
    drain_rows = [lp.RowConstraint(-lp.infinity(), float(f)) for f in free]
    cap_rows: dict[int, pywraplp.Constraint] = {}
    objective = lp.Objective()
    x = []
    for opts in options:
        one = lp.RowConstraint(0, 1)
        row = []
        for o in opts:
            v = lp.NumVar(0, 1, "")
            one.SetCoefficient(v, 1)
            objective.SetCoefficient(v, float(fill_weight - o.cost))
            per_wh: dict[int, int] = {}
            for c, w, q in zip(o.cells.tolist(), o.whs.tolist(), o.qty.tolist()):
                cell_rows[c].SetCoefficient(v, q)
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
    assert lp.Solve() == pywraplp.Solver.OPTIMAL
    values = [np.array([v.solution_value() for v in r]) for r in x]
    return values, objective.Value()


def _reference_round(options, values, stock, cap):
    """The rounding on numpy arrays, one array operation per check (the old code)."""
    pick = [None] * len(options)

    def fits(o):
        return bool((stock[o.cells] >= o.qty).all()) and bool(
            (np.bincount(o.whs, o.qty, len(cap)) <= cap).all())

    def take(o, sign):
        np.subtract.at(stock, o.cells, sign * o.qty)
        np.subtract.at(cap, o.whs, sign * o.qty)

    for i in sorted(range(len(options)), key=lambda i: -values[i].sum() if len(values[i]) else 0):
        for k in np.argsort(-values[i], kind="stable").tolist():
            if values[i][k] <= 1e-6:
                break
            if fits(options[i][k]):
                pick[i] = k
                take(options[i][k], 1)
                break
    for i, opts in enumerate(options):
        if pick[i] is None:
            for k in np.argsort([o.cost for o in opts], kind="stable").tolist():
                if fits(opts[k]):
                    pick[i] = k
                    take(opts[k], 1)
                    break
    for i, opts in enumerate(options):
        if pick[i] is None:
            continue
        take(opts[pick[i]], -1)
        best = pick[i]
        for k, o in enumerate(opts):
            if o.cost < opts[best].cost and fits(o):
                best = k
        pick[i] = best
        take(opts[best], 1)
    return pick


def _waves():
    network, catalog = demo_network(), demo_catalog()
    for seed in (2024, 3):
        sale = flash_sale(network, catalog, seed=seed)
        yield f"flash-{seed}", sale.orders, network, catalog, sale.stock, None
        yield f"flash-split-{seed}", sale.orders, network, catalog, sale.stock, True
        orders, stock = scattered_bulk(sale, network, seed=seed)
        yield f"bulk-{seed}", orders, network, catalog, stock, None
    rng = np.random.default_rng(11)
    net = random_network(rng, 9, capacity=True)
    cat = random_catalog(rng, 6)
    orders = [random_order(rng, cat, net, int(rng.integers(1, 4))) for _ in range(40)]
    yield "random", orders, net, cat, demo_stock(cat, net, seed=11), None


@pytest.mark.parametrize("case", list(_waves()), ids=lambda c: c[0])
def test_fast_setup_equals_the_per_coefficient_reference(case):
    _, orders, network, catalog, stock, split = case
    burst = _Burst(orders, network, catalog, as_availability(stock, network), None, split)
    plans = [_plans(p, catalog, g, 8) for p, g in zip(burst.problems, greedy_allocs(burst))]
    options, have = _option_table(burst, plans)
    ref_options, ref_have = _reference_options(burst, plans)
    assert np.array_equal(have, ref_have)
    for opts, ref in zip(options, ref_options, strict=True):
        assert [(o.cost, o.cells.tolist(), o.whs.tolist(), o.qty.tolist()) for o in opts] == \
            [(o.cost, o.cells.tolist(), o.whs.tolist(), o.qty.tolist()) for o in ref]
    thr, pen = network.stock_health_threshold, network.stock_health_paise
    free = np.maximum(0, have - thr)
    fill_weight = 1 + sum(int(c.max(initial=0)) for _, c, _ in plans) + pen * int(
        np.minimum(burst.stock, thr).sum())
    values, bound = _reference_lp(options, have, free, burst.capacity, pen, fill_weight)
    pick, got_bound = lp_round(options, have, free, burst.capacity, pen, fill_weight)
    assert got_bound == pytest.approx(bound, rel=1e-9)
    assert pick == _reference_round(options, values, have.copy(), burst.capacity.copy())
    assert _round(options, values, have.copy(), burst.capacity.copy()) == pick


def test_wave_without_time_is_lp_rounding_or_greedy_exactly():
    """With no time for CP-SAT the wave's answer is fully determined by the set-up:
    the better of greedy and the LP rounding, audited."""
    network, catalog = demo_network(), demo_catalog()
    sale = flash_sale(network, catalog, seed=2024)
    w = allocate_wave(sale.orders, network, catalog, sale.stock, budget_s=0.0)
    again = allocate_wave(sale.orders, network, catalog, sale.stock, budget_s=0.0)
    assert w.status == "heuristic" and w.filled >= w.greedy_filled
    assert (w.filled, w.total, w.order_cost) == (again.filled, again.total, again.order_cost)
