"""The router on the bundled demo network: constraints, shortfall, substitutes, and a
plan that explains itself (shipments, cost breakdown, solver, runner-up)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest

from allocator.catalog import Catalog, Sku, Warehouse, demo_catalog
from routing import (Order, OrderLine, Router, StockMap, StockMatrix, demo_network,
                     demo_stock, plan_order)
from routing.cost import COMPONENTS
from routing.cpsat import solve_cpsat
from routing.network import Network
from tools.scenario import demo_network_dict, random_order

NET = demo_network()
CAT = demo_catalog()
ROUTER = Router(NET, CAT)
TODAY = date(2026, 11, 23)
BLR = "560034"      # Bengaluru (Koramangala): WH-BLR 1 day, WH-MAA 2, WH-DEL 5
PATNA = "800001"    # Patna: RTO 16 %


def stock(**per_sku: dict[str, int]) -> StockMap:
    """``stock(PHONE_0000={"WH-BLR": 3})`` → availability over the demo network."""
    mapping = {}
    for sku, per_wh in per_sku.items():
        row = np.zeros(NET.n_warehouses, np.int64)
        for wh, units in per_wh.items():
            row[NET.warehouse_index(wh)] = units
        mapping[sku.replace("_", "-")] = row
    return StockMap(mapping, NET.n_warehouses)


def order(*lines: tuple[str, int], dest: str = BLR, **kw) -> Order:
    return Order(tuple(OrderLine(s, q) for s, q in lines), dest, **kw)


def plan(o: Order, avail, **kw):
    return ROUTER.plan(o, avail, today=TODAY, **kw)


def cap(**per_wh: int) -> np.ndarray:
    """Capacity left today: unlimited (-1) except the warehouses named."""
    out = np.full(NET.n_warehouses, -1, np.int64)
    for wh, units in per_wh.items():
        out[NET.warehouse_index(wh.replace("_", "-"))] = units
    return out


def units_by_warehouse(p) -> dict[str, int]:
    return {s.warehouse: s.units for s in p.shipments}


# ------------------------------------------------------------------------------------
# The worked example of docs/ROUTING.md (numbers checked here so the doc stays true)
# ------------------------------------------------------------------------------------

def test_worked_example_of_the_docs():
    o = order(("PHONE-0000", 1), ("KETTLE-0000", 2), dest=PATNA, promise_days=2, id="ORD-1001")
    avail = stock(PHONE_0000={"WH-CCU": 2, "WH-LKO": 9},
                  KETTLE_0000={"WH-CCU": 12, "WH-DEL": 40})
    p = plan(o, avail)
    assert (p.status, p.solver, p.solver_status) == ("planned", "fastpath", "optimal")
    (s,) = p.shipments
    assert (s.warehouse, s.weight_g, s.slabs, s.zone, s.eta_days, s.late_days) == (
        "WH-CCU", 2750, 6, "regional", 3, 1)
    assert round(s.distance_km, 1) == 460.7
    assert s.eta_date == TODAY + timedelta(days=3)
    # handling 3 × ₹9.50; shipping ₹48 + 5 × ₹42; fixed ₹25; RTO ceil(16 % × ₹258);
    # lateness 1 day × ₹60; stock health: 1 phone taken from 2 left (threshold 3) × ₹15
    assert p.cost.as_tuple() == (2850, 25800, 2500, 4128, 6000, 1500)
    assert p.cost.total == 42778
    r = p.runner_up
    assert [(x.warehouse, [l.sku for l in x.lines]) for x in r.shipments] == [
        ("WH-CCU", ["KETTLE-0000"]), ("WH-LKO", ["PHONE-0000"])]
    assert r.cost.total == 50192 and r.extra.total == 7414
    assert r.extra.as_tuple() == (-150, 744, 2200, 120, 6000, -1500)
    d = p.to_dict()
    assert d["runner_up"]["extra_cost"] == 74.14
    assert d["runner_up"]["why"].startswith(
        "next best ships PHONE-0000 from WH-LKO instead of WH-CCU (2 parcels: WH-CCU + "
        "WH-LKO, against 1) and costs ₹74.14 more: lateness +₹60.00")
    assert d["runner_up"]["changes"] == [
        {"sku": "PHONE-0000", "from": {"WH-CCU": 1}, "to": {"WH-LKO": 1}}]
    # CP-SAT finds the same plan and the same runner-up
    q = plan(o, avail, solver="cpsat")
    assert (q.solver, q.solver_status) == ("cpsat", "optimal")
    assert q.cost == p.cost and q.runner_up.cost == r.cost


# ------------------------------------------------------------------------------------
# The plan explains itself
# ------------------------------------------------------------------------------------

PLAN_KEYS = {"status", "order", "destination", "solver", "solver_status", "currency",
             "shipments", "cost", "eta_days", "eta_date", "runner_up", "substitutions",
             "shortfall", "elapsed_ms", "split_lines", "splits", "bound", "gap"}
SHIPMENT_KEYS = {"warehouse", "warehouse_name", "lines", "units", "weight_g", "slabs", "zone",
                 "distance_km", "eta_days", "eta_date", "late_days", "cost"}
COST_KEYS = set(COMPONENTS) | {"total", "total_paise"}


def check_explains_itself(p, today: date = TODAY) -> None:
    d = json.loads(json.dumps(p.to_dict()))      # JSON all the way down
    assert set(d) == PLAN_KEYS
    assert d["currency"] == "INR" and d["elapsed_ms"] >= 0
    assert d["solver"] in ("fastpath", "large", "cpsat")
    assert d["solver_status"] in ("optimal", "feasible", "infeasible", "unknown")
    if not p.filled:
        assert d["status"] == "unfillable" and d["shortfall"]["reason"] and d["cost"] is None
        assert d["shipments"] == [] and d["eta_days"] is None
        return
    assert d["status"] == "planned" and d["shortfall"] is None
    assert set(d["cost"]) == COST_KEYS
    # the breakdown sums to the total, and the shipments sum to the plan
    assert sum(p.cost.as_tuple()) == p.cost.total == d["cost"]["total_paise"]
    assert d["cost"]["total"] == round(p.cost.total / 100, 2)
    for i, name in enumerate(COMPONENTS):
        assert sum(s.cost.as_tuple()[i] for s in p.shipments) == p.cost.as_tuple()[i], name
    # every ordered line (or its substitute) ships exactly once: whole, or (split
    # lines) in parts from different warehouses that add up to the line
    shipped = [(l.sku, l.qty) for s in p.shipments for l in s.lines]
    subs = {x["sku"]: x["substitute"] for x in p.substitutions}
    per_sku: dict[str, int] = {}
    for sku, q in shipped:
        per_sku[sku] = per_sku.get(sku, 0) + q
    assert per_sku == {subs.get(l.sku, l.sku): l.qty for l in p.order.lines}
    if not p.split_lines:
        assert len(shipped) == len(p.order.lines) and d["splits"] == []
    assert {x["sku"] for x in d["splits"]} == {
        sku for sku in per_sku if sum(1 for k, _ in shipped if k == sku) > 1}
    if p.solver_status == "optimal":
        assert d["gap"] == 0 and d["bound"] == d["cost"]["total"]
    assert len({s.warehouse for s in p.shipments}) == len(p.shipments)
    for s, sd in zip(p.shipments, d["shipments"]):
        assert set(sd) == SHIPMENT_KEYS and set(sd["cost"]) == COST_KEYS
        assert s.slabs == -(-s.weight_g // NET.slab_g)
        assert s.eta_date == today + timedelta(days=s.eta_days)
        promise = p.order.promise_days
        assert s.late_days == (0 if promise is None else max(0, s.eta_days - promise))
        assert (s.cost.lateness == 0) == (s.late_days == 0 or NET.lateness_paise_per_day == 0)
        assert s.cost.fixed == NET.warehouses[NET.warehouse_index(s.warehouse)].fixed_paise
    assert d["eta_days"] == max(s.eta_days for s in p.shipments)
    assert d["eta_date"] == (today + timedelta(days=d["eta_days"])).isoformat()
    if p.order.max_shipments is not None:
        assert len(p.shipments) <= p.order.max_shipments
    if p.order.hard_promise:
        assert d["eta_days"] <= p.order.promise_days
    # the runner-up costs at least as much, and extra is exactly the difference
    r = p.runner_up
    if r is not None:
        assert r.cost.total >= p.cost.total
        assert r.extra.as_tuple() == tuple(a - b for a, b in zip(r.cost.as_tuple(),
                                                                 p.cost.as_tuple()))
        rd = d["runner_up"]
        assert rd["extra_cost"] == round((r.cost.total - p.cost.total) / 100, 2)
        assert set(rd["extra_by_component"]) == set(COMPONENTS)
        assert rd["cost"]["total_paise"] == r.cost.total
        assert [s["warehouse"] for s in rd["shipments"]] == [s.warehouse for s in r.shipments]
        assert all(s.warehouse in rd["why"] for s in r.shipments)
        assert sorted((l["sku"], l["qty"]) for s in rd["shipments"] for l in s["lines"]) \
            == sorted(shipped)
        assert [(s.warehouse, s.lines) for s in r.shipments] != \
            [(s.warehouse, s.lines) for s in p.shipments]


@pytest.mark.parametrize("solver", ["fastpath", "cpsat"])
def test_plans_explain_themselves_on_random_orders(solver):
    rng = np.random.default_rng(5)
    avail = demo_stock(CAT, NET, seed=3)
    filled = with_runner_up = 0
    for _ in range(120 if solver == "fastpath" else 40):
        o = random_order(rng, CAT, NET, int(rng.integers(1, 6)))
        p = plan(o, avail, solver=solver)
        assert p.solver == solver
        check_explains_itself(p)
        filled += p.filled
        with_runner_up += p.runner_up is not None
    assert filled >= 20 and with_runner_up >= 20


def test_large_orders_go_to_the_large_planner_and_explain_themselves():
    rng = np.random.default_rng(8)
    avail = demo_stock(CAT, NET, seed=1)
    planned = 0
    for _ in range(4):
        o = random_order(rng, CAT, NET, 9, max_qty=2, constraints=False)
        p = plan(o, avail)
        assert p.solver == "large" and p.solver_status in ("optimal", "feasible", "infeasible")
        if p.filled:  # its bound holds against CP-SAT's proven optimum
            exact = plan(o, avail, solver="cpsat")
            assert exact.solver_status == "optimal"
            assert p.bound <= exact.cost.total <= p.cost.total
        check_explains_itself(p)
        planned += p.filled
        if p.filled:
            # CP-SAT's answer is no worse than any single-warehouse-per-line alternative
            # we can build by hand: each line from its cheapest warehouse alone
            assert p.cost.total <= sum(
                plan(order((l.sku, l.qty), dest=o.destination), avail).cost.total
                for l in o.lines)
    assert planned >= 2


def test_availability_may_be_a_matrix_a_mapping_or_a_callable():
    o = order(("PHONE-0000", 1), ("KETTLE-0000", 2), dest=PATNA, promise_days=2)
    per = {"PHONE-0000": {"WH-CCU": 2, "WH-LKO": 9}, "KETTLE-0000": {"WH-CCU": 12, "WH-DEL": 40}}
    as_map = stock(PHONE_0000=per["PHONE-0000"], KETTLE_0000=per["KETTLE-0000"])
    as_dict = dict(as_map.mapping)
    as_matrix = StockMatrix(list(as_dict), np.array(list(as_dict.values())))
    as_fn = lambda sku, wh: per.get(sku, {}).get(wh, 0)  # noqa: E731
    costs = {plan(o, a).cost.total for a in (as_map, as_dict, as_matrix, as_fn)}
    assert costs == {42778}
    assert plan_order(o, NET, CAT, as_fn, today=TODAY).cost.total == 42778


# ------------------------------------------------------------------------------------
# Out of stock: shortfall and backorder
# ------------------------------------------------------------------------------------

def test_out_of_stock_line_gives_a_shortfall_with_a_backorder_option():
    o = order(("PHONE-0000", 1), ("KETTLE-0000", 1))
    p = plan(o, stock(KETTLE_0000={"WH-BLR": 10}))
    check_explains_itself(p)
    assert p.status == "unfillable" and p.solver_status == "infeasible"
    sf = p.to_dict()["shortfall"]
    assert sf["reason"] == "short_lines" and "PHONE-0000 (out_of_stock)" in sf["message"]
    (short,) = sf["short_lines"]
    assert short == {"sku": "PHONE-0000", "qty": 1, "reason": "out_of_stock",
                     "best_warehouse": None, "best_available": 0, "total_available": 0,
                     "split_would_fill": False, "substitutes": []}
    option = sf["backorder_option"]
    assert option["backorder"] == [{"sku": "PHONE-0000", "qty": 1}]
    # the rest of the order can ship now, as a complete plan of its own
    assert option["ship_now"]["status"] == "planned"
    assert [l for s in option["ship_now"]["shipments"] for l in s["lines"]] == [
        {"sku": "KETTLE-0000", "qty": 1}]


def test_a_line_split_over_warehouses_is_short_but_partly_shippable_now():
    p = plan(order(("PHONE-0000", 5)), stock(PHONE_0000={"WH-BLR": 3, "WH-MAA": 2}))
    sf = p.to_dict()["shortfall"]
    (short,) = sf["short_lines"]
    assert short["best_warehouse"] == "WH-BLR" and short["best_available"] == 3
    assert short["total_available"] == 5 and short["split_would_fill"] is True
    assert sf["backorder_option"]["backorder"] == [{"sku": "PHONE-0000", "qty": 2}]
    ship_now = sf["backorder_option"]["ship_now"]
    assert ship_now["shipments"][0]["warehouse"] == "WH-BLR"
    assert ship_now["shipments"][0]["lines"] == [{"sku": "PHONE-0000", "qty": 3}]


def test_nothing_in_stock_anywhere():
    p = plan(order(("PHONE-0000", 1), ("BOOK-0000", 2)), stock())
    assert not p.filled and p.shipments == () and p.cost is None
    sf = p.shortfall
    assert sf.reason == "short_lines" and {s.sku for s in sf.short_lines} == {
        "PHONE-0000", "BOOK-0000"}
    assert sf.ship_now is None
    assert [(l.sku, l.qty) for l in sf.backorder] == [("PHONE-0000", 1), ("BOOK-0000", 2)]


# ------------------------------------------------------------------------------------
# Max shipments
# ------------------------------------------------------------------------------------

@pytest.mark.parametrize("solver", ["fastpath", "cpsat"])
def test_max_shipments_forces_one_parcel_when_one_warehouse_can(solver):
    # two 3.5 kg mixers: cheapest is one from BLR and one from MAA (the only MAA-only SKU)
    avail = stock(MIXER_0000={"WH-BLR": 20, "WH-MAA": 20}, MIXER_0001={"WH-MAA": 20})
    lines = (("MIXER-0000", 1), ("MIXER-0001", 1))
    free = plan(order(*lines), avail, solver=solver)
    one = plan(order(*lines, max_shipments=1), avail, solver=solver)
    check_explains_itself(one)
    assert [s.warehouse for s in free.shipments] == ["WH-BLR", "WH-MAA"]
    assert [s.warehouse for s in one.shipments] == ["WH-MAA"]
    assert one.cost.total > free.cost.total
    assert one.runner_up is None or len(one.runner_up.shipments) == 1


def test_max_shipments_unfillable_says_how_many_parcels_are_needed():
    avail = stock(PHONE_0000={"WH-BLR": 9}, KETTLE_0000={"WH-MAA": 9}, BOOK_0000={"WH-HYD": 9})
    lines = (("PHONE-0000", 1), ("KETTLE-0000", 1), ("BOOK-0000", 1))
    p = plan(order(*lines, max_shipments=1), avail)
    check_explains_itself(p)
    assert p.status == "unfillable" and p.shortfall.reason == "max_shipments"
    assert p.shortfall.min_shipments_needed == 3 and p.shortfall.short_lines == []
    assert "3 are needed" in p.shortfall.message
    sf = p.to_dict()["shortfall"]
    assert sf["min_shipments_needed"] == 3 and "backorder_option" not in sf
    for solver in ("fastpath", "cpsat"):
        assert plan(order(*lines, max_shipments=2), avail, solver=solver) \
            .shortfall.min_shipments_needed == 3
        ok = plan(order(*lines, max_shipments=3), avail, solver=solver)
        assert ok.filled and len(ok.shipments) == 3


# ------------------------------------------------------------------------------------
# Promise: soft (penalised per late day) and hard (excluded)
# ------------------------------------------------------------------------------------

def test_soft_promise_is_penalised_per_late_day():
    avail = stock(PHONE_0000={"WH-DEL": 5})
    p = plan(order(("PHONE-0000", 1), promise_days=3), avail)
    (s,) = p.shipments
    assert s.warehouse == "WH-DEL" and s.eta_days == 5 and s.late_days == 2
    assert s.cost.lateness == 2 * NET.lateness_paise_per_day == 12000
    assert plan(order(("PHONE-0000", 1)), avail).cost.lateness == 0


def test_hard_promise_excludes_late_warehouses():
    avail = stock(PHONE_0000={"WH-DEL": 5})
    p = plan(order(("PHONE-0000", 1), promise_days=3, hard_promise=True), avail)
    check_explains_itself(p)
    sf = p.to_dict()["shortfall"]
    (short,) = sf["short_lines"]
    assert short["reason"] == "promise" and short["earliest_eta_days"] == 5
    # WH-DEL holds the units but cannot deliver on time: it is not named as usable
    assert short["best_warehouse"] is None and short["best_available"] == 0
    assert sf["backorder_option"] == {"ship_now": None,
                                      "backorder": [{"sku": "PHONE-0000", "qty": 1}]}
    # with an on-time warehouse too, the plan uses it even though it drains its last units
    avail = stock(PHONE_0000={"WH-DEL": 50, "WH-MAA": 1})
    p = plan(order(("PHONE-0000", 1), promise_days=2, hard_promise=True), avail)
    assert [s.warehouse for s in p.shipments] == ["WH-MAA"] and p.eta_days == 2
    assert p.cost.stock_health > 0
    assert p.runner_up is None            # DEL is late: not an alternative at all


def test_hard_promise_on_every_random_order_is_kept():
    rng = np.random.default_rng(17)
    avail = demo_stock(CAT, NET, seed=4)
    kept = 0
    for _ in range(80):
        o = random_order(rng, CAT, NET, int(rng.integers(1, 5)), constraints=False)
        o = Order(o.lines, o.destination, promise_days=int(rng.integers(1, 4)), hard_promise=True)
        p = plan(o, avail)
        check_explains_itself(p)
        if p.filled:
            kept += 1
            assert all(s.eta_days <= o.promise_days for s in p.shipments)
            if p.runner_up is not None:
                assert all(s.eta_days <= o.promise_days for s in p.runner_up.shipments)
    assert kept >= 10


# ------------------------------------------------------------------------------------
# Warehouse capacity
# ------------------------------------------------------------------------------------

def test_capacity_left_today_excludes_a_full_warehouse():
    avail = stock(PHONE_0000={"WH-BLR": 9})
    p = plan(order(("PHONE-0000", 2)), avail, capacity_left=cap(WH_BLR=1))
    (short,) = p.shortfall.short_lines
    assert short.reason == "capacity"


@pytest.mark.parametrize("solver", ["fastpath", "cpsat"])
def test_capacity_is_shared_by_the_lines_of_one_warehouse(solver):
    avail = stock(PHONE_0000={"WH-BLR": 9, "WH-MAA": 9}, KETTLE_0000={"WH-BLR": 9, "WH-MAA": 9})
    o = order(("PHONE-0000", 3), ("KETTLE-0000", 3))
    assert units_by_warehouse(plan(o, avail, solver=solver)) == {"WH-BLR": 6}
    p = plan(o, avail, capacity_left=cap(WH_BLR=4), solver=solver)
    check_explains_itself(p)
    assert units_by_warehouse(p) == {"WH-BLR": 3, "WH-MAA": 3}
    if p.runner_up is not None:
        assert units_by_warehouse(p.runner_up).get("WH-BLR", 0) <= 4
    # with nowhere else to go, the order is unfillable for capacity, not stock
    avail = stock(PHONE_0000={"WH-BLR": 9}, KETTLE_0000={"WH-BLR": 9})
    p = plan(o, avail, capacity_left=cap(WH_BLR=4), solver=solver)
    assert p.shortfall.reason == "capacity" and p.shortfall.short_lines == []


def test_daily_capacity_from_the_network_file():
    raw = demo_network_dict()
    for w in raw["warehouses"]:
        if w["id"] == "WH-BLR":
            w["daily_capacity_units"] = 2
    net = Network.from_dict(raw)
    avail = stock(PHONE_0000={"WH-BLR": 9, "WH-MAA": 9})
    p = Router(net, CAT).plan(order(("PHONE-0000", 3)), avail)
    assert [s.warehouse for s in p.shipments] == ["WH-MAA"]
    p = Router(net, CAT).plan(order(("PHONE-0000", 2)), avail)
    assert [s.warehouse for s in p.shipments] == ["WH-BLR"]


# ------------------------------------------------------------------------------------
# Substitutes
# ------------------------------------------------------------------------------------

def test_allow_substitutes_picks_a_substitute_from_the_catalog():
    assert CAT.sku("PHONE-0000").substitutes == ("PHONE-0001",)
    avail = stock(PHONE_0001={"WH-MAA": 5}, KETTLE_0000={"WH-MAA": 5})
    o = order(("PHONE-0000", 2), ("KETTLE-0000", 1), allow_substitutes=True)
    p = plan(o, avail)
    check_explains_itself(p)
    assert p.status == "planned"
    assert p.substitutions == [{"sku": "PHONE-0000", "substitute": "PHONE-0001", "qty": 2}]
    assert p.order == o                                   # the order as the buyer placed it
    assert {(l.sku, l.qty) for s in p.shipments for l in s.lines} == {
        ("PHONE-0001", 2), ("KETTLE-0000", 1)}
    # without permission the substitute is only offered
    q = plan(order(("PHONE-0000", 2), ("KETTLE-0000", 1)), avail)
    (short,) = q.shortfall.short_lines
    assert [s["sku"] for s in short.substitutes] == ["PHONE-0001"]
    assert short.substitutes[0]["best_warehouse"] == "WH-MAA"
    assert short.substitutes[0]["best_available"] == 5
    # and a substitute that is short itself is not offered
    r = plan(o, stock(PHONE_0001={"WH-MAA": 1}, KETTLE_0000={"WH-MAA": 5}))
    assert not r.filled and r.shortfall.short_lines[0].substitutes == []


def test_substitutes_respect_a_hard_promise():
    avail = stock(PHONE_0001={"WH-DEL": 5})
    o = order(("PHONE-0000", 1), promise_days=2, hard_promise=True, allow_substitutes=True)
    p = plan(o, avail)
    assert not p.filled and p.substitutions == []
    avail = stock(PHONE_0001={"WH-DEL": 5, "WH-BLR": 2})
    assert plan(o, avail).shipments[0].warehouse == "WH-BLR"


def test_two_short_lines_sharing_a_substitute_do_not_crash():
    """Regression: both lines used to become the same SKU, and the router raised
    InvalidRequest ("appears on more than one line") on a valid order."""
    catalog = Catalog([Sku("X", "x", 100, ("Z",)), Sku("Y", "y", 100, ("Z",)), Sku("Z", "z", 100)],
                      [Warehouse("W0", "W0", 0.0, 0.0)])
    avail = StockMap({"Z": [9] + [0] * (NET.n_warehouses - 1)}, NET.n_warehouses)
    o = order(("X", 1), ("Y", 1), allow_substitutes=True)
    p = Router(NET, catalog).plan(o, avail)
    assert not p.filled and p.shortfall.reason == "short_lines"
    # one short line with that substitute is fine
    p = Router(NET, catalog).plan(order(("X", 1), allow_substitutes=True), avail)
    assert p.filled and p.substitutions == [{"sku": "X", "substitute": "Z", "qty": 1}]


# ------------------------------------------------------------------------------------
# Solver details
# ------------------------------------------------------------------------------------

def test_solver_choice_and_time_limit_are_exposed():
    avail = demo_stock(CAT, NET, seed=2)
    o = order(("PHONE-0002", 1), ("BOOK-0004", 1))
    assert plan(o, avail).solver == "fastpath"
    assert Router(NET, CAT, fast_max_lines=0).plan(o, avail).solver == "large"
    assert plan(o, avail, solver="cpsat").solver == "cpsat"
    with pytest.raises(ValueError):
        Router(NET, CAT, fast_max_lines=7)
    with pytest.raises(ValueError):
        ROUTER.solve(ROUTER.problem(o, avail), solver="simplex")
    sol = solve_cpsat(ROUTER.problem(o, avail), time_limit_s=0.5, workers=1)
    assert sol.status == "optimal" and sol.cost == plan(o, avail).cost.total


def test_a_routing_budget_bounds_the_work_for_one_order():
    rng = np.random.default_rng(8)
    avail = demo_stock(CAT, NET, seed=1)
    big = random_order(rng, CAT, NET, 9, max_qty=2, constraints=False)
    spent = plan(big, avail, budget_s=0.0, solver="cpsat")  # no time at all: no solver runs
    assert spent.solver_status == "unknown" and not spent.filled and spent.shortfall.reason == "no_plan_found"
    assert "budget" in spent.shortfall.message
    # a fast-path order needs no budget to speak of, and a fair one finds the plan
    assert plan(order(("PHONE-0000", 1)), avail, budget_s=0.0).solver == "fastpath"
    assert plan(big, avail, budget_s=5.0, solver="cpsat").solver_status in ("optimal", "feasible",
                                                             "infeasible")
