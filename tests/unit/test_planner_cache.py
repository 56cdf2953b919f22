"""The routed planner's memo: same answers as planning afresh, reused only when the
cost model cannot tell the availability apart."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.catalog import demo_catalog
from allocator.errors import InsufficientStock
from routing import Order, demo_network
from service.planner import RoutedPlanner


@pytest.fixture(scope="module")
def planner():
    catalog = demo_catalog(50)
    return RoutedPlanner(demo_network(), catalog, catalog.warehouse_ids)


def order(sku, qty=1, dest="110001"):
    return Order.from_dict({"lines": [{"sku": sku, "qty": qty}], "destination": dest})


def rows(planner, sku, units):
    return {s: np.asarray(units, np.int64) for s in planner.skus_to_read(order(sku))}


def test_memoised_plans_equal_fresh_ones_and_are_reused(planner):
    sku = planner.catalog.sku_ids[0]
    n = len(planner.catalog.warehouse_ids)
    plenty, more = rows(planner, sku, [500] * n), rows(planner, sku, [9000] * n)
    before = dict(planner.stats)
    first = planner.choose(order(sku), plenty)
    lines, plan = first.lines, first.plan
    assert plan == planner.plan(order(sku), plenty).to_dict() | {"elapsed_ms": plan["elapsed_ms"]}
    again = planner.choose(order(sku), more)  # beyond what matters
    assert (again.lines, again.plan) == (lines, plan)
    assert planner.stats["hits"] == before["hits"] + 1
    # near the stock-health threshold the cost differs: planned again
    low = rows(planner, sku, [1] * n)
    plan_low = planner.choose(order(sku), low).plan
    assert plan_low["cost"] != plan["cost"]
    assert planner.stats["misses"] == before["misses"] + 2
    # another destination, another plan
    assert planner.choose(order(sku, dest="560001"), plenty).plan != plan


def test_unfillable_orders_are_memoised_by_their_raw_availability(planner):
    """A sold-out SKU's stampede plans once; any change of the rows (even one that does
    not fill the order) plans again, so the shortfall always reports what there is."""
    sku = planner.catalog.sku_ids[1]
    n = len(planner.catalog.warehouse_ids)
    empty = rows(planner, sku, [0] * n)
    with pytest.raises(InsufficientStock) as first:
        planner.choose(order(sku, qty=2), empty)
    before = dict(planner.stats)
    with pytest.raises(InsufficientStock) as again:
        planner.choose(order(sku, qty=2), empty)
    assert planner.stats["unfillable_hits"] == before["unfillable_hits"] + 1
    assert planner.stats["misses"] == before["misses"]
    assert (again.value.message, again.value.details) == (first.value.message,
                                                          first.value.details)
    fresh = planner.plan(order(sku, qty=2), empty).to_dict()
    quoted = planner.quote(order(sku, qty=2), empty)
    assert quoted == fresh | {"elapsed_ms": quoted["elapsed_ms"]}
    assert planner.stats["unfillable_hits"] == before["unfillable_hits"] + 2

    one = rows(planner, sku, [1] + [0] * (n - 1))  # one unit back: still short, replanned
    with pytest.raises(InsufficientStock) as short:
        planner.choose(order(sku, qty=2), one)
    assert planner.stats["misses"] == before["misses"] + 1
    assert short.value.details != first.value.details
    assert planner.choose(order(sku), one).lines[0][0] == sku  # a 1-unit order fills
    assert planner.choose(order(sku, qty=2), rows(planner, sku, [3] * n)).lines[0][0] == sku


def test_a_refusal_for_lack_of_routing_time_is_not_memoised():
    catalog = demo_catalog(50)
    hurried = RoutedPlanner(demo_network(), catalog, catalog.warehouse_ids, budget_s=0.0)
    sku = catalog.sku_ids[2]
    empty = rows(hurried, sku, [0] * len(catalog.warehouse_ids))
    for _ in range(2):
        with pytest.raises(InsufficientStock) as refused:
            hurried.choose(order(sku), empty)
        assert refused.value.details["reason"] == "no_plan_found"
    assert hurried.stats["misses"] == 2 and hurried.stats["unfillable_hits"] == 0


@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_surely_short_only_when_no_plan_fills(planner, data):
    """The reserve path skips planning on its view when ``surely_short`` says so (it
    reads the shards' rows first): it must never say so of an order a plan fills."""
    skus = planner.catalog.sku_ids[:4]
    n = len(planner.catalog.warehouse_ids)
    picked = data.draw(st.lists(st.sampled_from(skus), min_size=1, max_size=3, unique=True))
    lines = [{"sku": s, "qty": data.draw(st.integers(1, 4))} for s in picked]
    o = Order.from_dict({"lines": lines, "destination": "110001",
                         "split_lines": data.draw(st.booleans()),
                         "allow_substitutes": data.draw(st.booleans())})
    avail = {s: np.asarray(data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)),
                           np.int64) for s in planner.skus_to_read(o)}
    short = planner.surely_short(o, avail)
    if short:
        assert not planner.plan(o, avail).filled
    if not o.allow_substitutes and any(avail[x["sku"]].sum() < x["qty"] for x in lines):
        assert short  # and it does say so when a SKU is short in all
