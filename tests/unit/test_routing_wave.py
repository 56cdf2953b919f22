"""Wave allocation (routing/wave.py): the joint allocation within a time budget, audited
independently, against greedy and — on small bursts with every plan kept and time to
prove — against the exhaustive batch model."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.catalog import demo_catalog
from routing import allocate_batch, demo_network
from routing.wave import allocate_wave
from tests.unit.test_routing_batch import check_allocation
from tools.scenario import flash_sale, random_catalog, random_network, random_order, \
    random_stock


def audit_units(wave, orders, network, stock_rows):
    """Split-aware audit of the units themselves: per (SKU, warehouse) at most its
    stock; a filled order gets exactly its quantities; an unfilled order nothing."""
    taken: dict[tuple[str, int], int] = {}
    for o, a in zip(orders, wave.allocations):
        if a is None:
            continue
        assert a.shape == (len(o.lines), network.n_warehouses) and (a >= 0).all()
        assert [int(x) for x in a.sum(axis=1)] == [l.qty for l in o.lines]
        for line, row in zip(o.lines, a):
            for w in np.flatnonzero(row):
                taken[line.sku, int(w)] = taken.get((line.sku, int(w)), 0) + int(row[w])
    for (sku, w), q in taken.items():
        assert q <= stock_rows[sku][w]


@pytest.fixture(scope="module")
def sale():
    network, catalog = demo_network(), demo_catalog()
    return network, catalog, flash_sale(network, catalog)


def test_flash_sale_wave_beats_greedy_within_its_budget(sale):
    network, catalog, s = sale
    wave = allocate_wave(s.orders, network, catalog, s.stock, budget_s=0.15)
    rows = {k: [int(u) for u in r] for k, r in zip(s.stock.sku_ids, s.stock.matrix)}
    audit_units(wave, s.orders, network, rows)
    check_allocation(wave.as_batch(), s.orders, network, rows)
    check_allocation(wave.as_batch(greedy=True), s.orders, network, rows)
    assert wave.greedy_filled == 205                     # the nearest-warehouse baseline
    assert wave.filled > wave.greedy_filled
    assert wave.total / wave.filled < 0.95 * wave.greedy_total / wave.greedy_filled
    assert wave.kept_plans <= 9                          # 8 cheapest + greedy's


def test_wave_with_time_proves_the_batch_optimum(sale):
    network, catalog, s = sale
    wave = allocate_wave(s.orders, network, catalog, s.stock, budget_s=20.0)
    assert wave.status == "optimal" and not wave.notes
    # the exhaustive two-phase batch model (256 plans per order) finds the same here
    assert (wave.filled, round(wave.total / wave.filled / 100, 2)) == (244, 114.23)


def test_wave_explains_each_order_against_greedy(sale):
    network, catalog, s = sale
    wave = allocate_wave(s.orders, network, catalog, s.stock, budget_s=0.15)
    d = json.loads(json.dumps(wave.to_dict()))
    assert d["filled"] == wave.filled and d["greedy_filled"] == wave.greedy_filled
    assert len(d["allocations"]) == 300
    kinds = set()
    for a in d["allocations"]:
        g = a["greedy"]
        if a["filled"] and g["filled"]:
            assert a["cost_delta_inr"] == pytest.approx(a["cost_inr"] - g["cost_inr"], abs=0.011)
            kinds.add("cheaper" if a["cost_delta_inr"] < 0 else "dearer"
                      if a["cost_delta_inr"] > 0 else "same")
        else:
            assert a["cost_delta_inr"] is None
        if a["filled"] and not g["filled"]:
            assert "greedy" in a["why"] and "unfilled" in a["why"]
            kinds.add("only_wave")
        if g["filled"] and not a["filled"]:
            assert a["why"].startswith("left unfilled")
        if a["filled"]:
            assert all(l["warehouse"] in network.warehouse_ids for l in a["lines"])
    assert {"only_wave", "cheaper"} <= kinds
    total = sum(a["cost_inr"] for a in d["allocations"] if a["filled"]) + d["stock_health_inr"]
    assert total == pytest.approx(d["cost_inr"], abs=0.01 * 300)
    # the breakdown by component adds up to the same total
    assert wave.as_batch().cost.total == wave.total


def test_wave_with_no_time_still_answers_at_least_greedy(sale):
    network, catalog, s = sale
    wave = allocate_wave(s.orders, network, catalog, s.stock, budget_s=0.0)
    assert wave.status == "heuristic" and wave.notes
    assert wave.filled >= wave.greedy_filled


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 32 - 1), n_warehouses=st.integers(1, 4),
       n_orders=st.integers(0, 10), max_units=st.integers(0, 5), split=st.booleans())
def test_random_waves_never_oversell_and_match_the_batch_optimum(seed, n_warehouses,
                                                                 n_orders, max_units, split):
    rng = np.random.default_rng(seed)
    network = random_network(rng, n_warehouses, capacity=True)
    catalog = random_catalog(rng, 6)
    stock = random_stock(rng, catalog, network, density=0.6, max_units=max_units)
    orders = [replace(random_order(rng, catalog, network, int(rng.integers(1, 3))),
                      split_lines=split) for _ in range(n_orders)]
    rows = {s: [int(u) for u in r] for s, r in zip(stock.sku_ids, stock.matrix)}
    wave = allocate_wave(orders, network, catalog, stock, budget_s=10.0, plans_per_order=256)
    audit_units(wave, orders, network, rows)
    units = sum((a.sum(axis=0) for a in wave.allocations if a is not None),
                np.zeros(network.n_warehouses, np.int64))
    limited = network.capacity >= 0
    assert (units[limited] <= network.capacity[limited]).all()
    assert (wave.filled, -wave.total) >= (wave.greedy_filled, -wave.greedy_total)
    batch = allocate_batch(orders, network, catalog, stock, time_limit_s=10.0, workers=1)
    if wave.status == "optimal" and batch.status == "optimal":
        assert (wave.filled, wave.total) == (batch.filled, batch.cost.total)
