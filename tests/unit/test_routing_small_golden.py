"""Small orders plan exactly as they did: the golden corpus of
:mod:`tests.support.routing_golden` (3,000 seeded orders of 1–3 lines, sold-out and
short rows, promises, parcel limits, substitutes, split lines, capacity left) gives
byte-for-byte the plan JSON recorded before the fast path was made cheaper."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from routing import Order, OrderLine, StockMap, fastpath
from routing.cost import COMPONENTS, CostBreakdown, inr
from routing.fastpath import solve_fast
from routing.problem import build_problem
from service.planner import RoutedPlanner
from tests.support import routing_golden as golden


def test_every_small_order_plans_to_its_recorded_answer():
    recorded = json.loads(golden.GOLDEN.read_text())
    assert (recorded["seed"], recorded["today"]) == (golden.SEED, golden.TODAY.isoformat())
    expected = recorded["digests"]
    wrong = []
    for i, (case, text) in enumerate(golden.answers(len(expected))):
        if golden.digest(text) != expected[i]:
            wrong.append((i, case.order, text))
    assert not wrong, (f"{len(wrong)} of {len(expected)} answers changed; first: case "
                       f"{wrong[0][0]} {wrong[0][1]}\n{wrong[0][2]}")


def test_the_corpus_covers_every_kind_of_answer():
    """A corpus that lost its sold-out rows or its runner-ups would prove little."""
    seen = set()
    for _, text in golden.answers(600):
        d = json.loads(text)
        short = d["shortfall"]
        seen.add(d["status"])
        seen.update(s["reason"] for s in (short or {}).get("short_lines", ()))
        seen.add("runner_up" if d["runner_up"] else "alone")
        seen.add("substituted" if d["substitutions"] else "as_ordered")
        seen.add("split" if d["splits"] else "whole")
        if short and short.get("backorder_option", {}).get("ship_now"):
            seen.add("ship_now")
        if short and short["reason"] == "max_shipments":
            seen.add("max_shipments")
    assert seen >= {"planned", "unfillable", "out_of_stock", "promise", "capacity",
                    "runner_up", "alone", "substituted", "split", "ship_now", "max_shipments"}


# -- the shortcuts the cheaper fast path takes, each against what it replaced ------------

@given(st.integers(-(1 << 50), 1 << 50))
def test_inr_is_paise_rounded_to_two_decimals(paise):
    assert inr(paise) == round(paise / 100, 2)
    assert type(inr(paise)) is float


def test_a_cost_breakdown_lists_its_components_in_order():
    c = CostBreakdown(1, 22, 333, 4444, 55555, 666666)
    assert list(c.to_dict()) == [*COMPONENTS, "total", "total_paise"]
    assert list(c.rupees()) == list(COMPONENTS)
    assert [c.to_dict()[k] for k in COMPONENTS] == [inr(v) for v in c.as_tuple()]
    assert c.to_dict()["total_paise"] == c.total and (c - c) + c == c


@settings(max_examples=150)
@given(seed=st.integers(0, 10_000), shipments=st.sampled_from([None, 1, 2]))
def test_two_line_orders_price_every_row_yet_keep_the_bounded_answer(seed, shipments):
    """Two-line tables are small enough to price every row; the partition bound must
    not have dropped anything that changes the best plan or the runner-up's cost."""
    case = next(golden.cases(1, seed=seed))
    net, cat = golden.demo_network(), golden.demo_catalog()
    first, second = case.order.skus[0], "KETTLE-0000"
    order = Order((OrderLine(first, 1), OrderLine(second if first != second else "BOOK-0000", 2)),
                  case.order.destination, promise_days=case.order.promise_days,
                  hard_promise=case.order.hard_promise, max_shipments=shipments)
    rows = {s: case.rows.get(s, np.full(net.n_warehouses, 5, np.int64)) for s in order.skus}
    problem = build_problem(order, net, cat, StockMap(rows, net.n_warehouses),
                            capacity_left=case.capacity_left, split=False)
    everything = solve_fast(problem)
    with mock.patch.object(fastpath, "SORT_ALL", 0):          # bound as for bigger orders
        bounded = solve_fast(problem)
    assert everything.status == bounded.status
    assert (everything.cost, everything.runner_up_cost) == (bounded.cost, bounded.runner_up_cost)


def test_a_layout_in_another_warehouse_order_plans_the_same():
    net, cat = golden.demo_network(), golden.demo_catalog()
    ids = list(net.warehouse_ids)
    same = RoutedPlanner(net, cat, ids)
    other = RoutedPlanner(net, cat, ids[::-1])
    for case in golden.cases(40, seed=7):
        mine = {s: r for s, r in case.rows.items()}
        flipped = {s: r[::-1].copy() for s, r in case.rows.items()}
        a = same.plan(case.order, mine, golden.TODAY).to_dict()
        b = other.plan(case.order, flipped, golden.TODAY).to_dict()
        a.pop("elapsed_ms"), b.pop("elapsed_ms")
        assert a == b
