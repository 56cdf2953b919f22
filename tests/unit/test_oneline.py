"""The one-line planner answers exactly as the router does, or not at all.

:class:`routing.oneline.OneLinePlanner` writes the plan JSON of one-line orders
directly; the router (arrays, solver, :class:`~routing.plan.Plan`) is the reference.
Networks here draw prices from a handful of values, so equal costs — and the
tie-break between them — are common.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.catalog import Catalog, Sku, Warehouse
from allocator.errors import InvalidRequest
from routing.availability import StockMap
from routing.network import Network
from routing.oneline import OneLinePlanner
from routing.order import Order, OrderLine
from routing.planner import Router

TODAY = date(2026, 12, 2)
ZONES = ("near", "mid", "far", "remote")
SKUS = [Sku("S0", "light", 300, substitutes=("S1", "S2")), Sku("S1", "heavy", 1700),
        Sku("S2", "other", 300, substitutes=("S0",))]
CATALOG = Catalog(SKUS, [Warehouse("W0", "W0", 0.0, 0.0)])
FREE = {"handling_per_unit": 0.0, "fixed_per_shipment": 0.0}


@st.composite
def networks(draw: st.DrawFn) -> Network:
    """A small network whose prices come from a few values (ties are common)."""
    def rate() -> dict:
        return {"first_500g": draw(st.sampled_from([30.0, 40.0])),
                "each_additional_500g": draw(st.sampled_from([0.0, 10.0]))}

    def coord() -> tuple[float, float]:
        return (draw(st.sampled_from([12.0, 13.0, 19.0, 28.0])),
                draw(st.sampled_from([72.0, 77.0, 80.0, 88.0])))

    warehouses = []
    for i in range(draw(st.integers(1, 6))):
        lat, lon = coord()
        w = {"id": f"W{i}", "lat": lat, "lon": lon,
             "handling_per_unit": draw(st.sampled_from([0.0, 5.0])),
             "fixed_per_shipment": draw(st.sampled_from([0.0, 10.0]))}
        if draw(st.booleans()):
            w["daily_capacity_units"] = draw(st.integers(0, 3))
        if draw(st.booleans()):
            w["rate_card"] = {draw(st.sampled_from(ZONES)): rate()}
        warehouses.append(w)
    destinations = []
    for i in range(2):
        lat, lon = coord()
        d = {"pincode": str(560001 + i), "lat": lat, "lon": lon,
             "rto_rate": draw(st.sampled_from([0.0, 0.05, 0.07393]))}
        if draw(st.booleans()):
            d["zone"] = "hills"
        destinations.append(d)
    raw = {
        "name": "ties", "weight_slab_g": 500, "policy": {"split_lines": draw(st.booleans())},
        "zones": [{"name": "near", "max_km": 300}, {"name": "mid", "max_km": 1000},
                  {"name": "far", "max_km": None},
                  {"name": "remote", "destination_tag": "hills", "beyond_km": 200,
                   "extra_transit_days": 2}],
        "rate_card": {z: rate() for z in ZONES},
        "transit_days": [{"max_km": 300, "days": 1}, {"max_km": 1000, "days": 2},
                         {"max_km": None, "days": 4}],
        "lateness_penalty_per_day": draw(st.sampled_from([0.0, 10.0])),
        "stock_health": {"threshold_units": draw(st.integers(0, 3)),
                         "penalty_per_unit": draw(st.sampled_from([0.0, 5.0]))},
        "warehouses": warehouses, "destinations": destinations,
    }
    return Network.from_dict(raw, source="ties")


Case = tuple[Network, Order, dict[str, list[int]]]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    network = draw(networks())
    promise = draw(st.none() | st.integers(0, 4))
    order = Order((OrderLine(draw(st.sampled_from(["S0", "S1", "S2"])), draw(st.integers(1, 4))),),
                  draw(st.sampled_from(["560001", "560002"])), promise_days=promise,
                  hard_promise=promise is not None and draw(st.booleans()),
                  max_shipments=draw(st.none() | st.integers(1, 2)),
                  split_lines=draw(st.none() | st.booleans()))
    row = st.lists(st.integers(0, 6), min_size=network.n_warehouses,
                   max_size=network.n_warehouses)
    stock = {s: draw(row) for s in ("S0", "S1", "S2") if draw(st.booleans())}
    stock[order.lines[0].sku] = draw(row)
    return network, order, stock


def as_json(plan: dict) -> str:
    """The plan as the API would write it, without the measured planning time."""
    return json.dumps({k: v for k, v in plan.items() if k != "elapsed_ms"},
                      ensure_ascii=False)


def row_of(stock: dict[str, list[int]], n: int):
    return lambda sku: stock.get(sku, [0] * n)


def routed(network: Network, order: Order, stock: dict[str, list[int]]) -> dict:
    rows = {s: np.array(r) for s, r in stock.items()}
    return Router(network, CATALOG).plan(order, StockMap(rows, network.n_warehouses),
                                         today=TODAY).to_dict()


@settings(max_examples=800, deadline=None)
@given(cases())
def test_one_line_plans_are_the_routers_plans(case: Case) -> None:
    """Filled or not (shortfall, substitutes, what ships now), the same JSON."""
    network, order, stock = case
    planner = OneLinePlanner(network, CATALOG)
    if not planner.applies(order):
        assert order.lines[0].qty > 1 and network.splits_for(order)
        return
    fast = planner.plan(order, row_of(stock, network.n_warehouses), TODAY)
    assert fast is not None
    assert as_json(fast) == as_json(routed(network, order, stock))


def test_availability_below_zero_is_left_to_the_router() -> None:
    planner = OneLinePlanner(one_warehouse(), CATALOG)
    assert planner.plan(Order((OrderLine("S0", 1),), "560001"), lambda s: [-1], TODAY) is None


def test_the_tie_break_prefers_the_earlier_eta() -> None:
    """Two warehouses at the same price, the first listed farther: the nearer ships,
    and the runner-up says it lost the tie-break (the router does the same)."""
    raw = {"name": "tie", "weight_slab_g": 500,
           "zones": [{"name": "near", "max_km": 300}, {"name": "far", "max_km": None}],
           "rate_card": {"near": {"first_500g": 40.0, "each_additional_500g": 0.0},
                         "far": {"first_500g": 40.0, "each_additional_500g": 0.0}},
           "transit_days": [{"max_km": 300, "days": 1}, {"max_km": None, "days": 3}],
           "warehouses": [{"id": "FAR", "lat": 28.6, "lon": 77.2, **FREE},
                          {"id": "NEAR", "lat": 12.9, "lon": 77.6, **FREE}],
           "destinations": [{"pincode": "560001", "lat": 12.97, "lon": 77.59}]}
    network = Network.from_dict(raw, source="tie")
    order = Order((OrderLine("S0", 1),), "560001")
    plan = OneLinePlanner(network, CATALOG).plan(order, lambda sku: [5, 5], TODAY)
    assert plan is not None
    assert plan["shipments"][0]["warehouse"] == "NEAR"
    assert plan["runner_up"]["shipments"][0]["warehouse"] == "FAR"
    assert "wins the tie-break" in plan["runner_up"]["why"]
    assert as_json(plan) == as_json(routed(network, order, {"S0": [5, 5]}))


def one_warehouse(split_lines: bool = False) -> Network:
    return Network.from_dict({
        "name": "one", "policy": {"split_lines": split_lines},
        "zones": [{"name": "z", "max_km": None}],
        "rate_card": {"z": {"first_500g": 40.0, "each_additional_500g": 0.0}},
        "transit_days": [{"max_km": None, "days": 2}],
        "warehouses": [{"id": "W0", "lat": 12.9, "lon": 77.6, **FREE}],
        "destinations": [{"pincode": "560001", "lat": 12.97, "lon": 77.59}]}, source="one")


def test_orders_it_does_not_answer() -> None:
    planner = OneLinePlanner(one_warehouse(split_lines=True), CATALOG)
    two = Order((OrderLine("S0", 1), OrderLine("S1", 1)), "560001")
    subs = Order((OrderLine("S0", 1),), "560001", allow_substitutes=True)
    split = Order((OrderLine("S0", 2),), "560001")  # the network splits lines
    assert not any(planner.applies(o) for o in (two, subs, split))
    assert planner.applies(Order((OrderLine("S0", 1),), "560001"))
    assert planner.applies(Order((OrderLine("S0", 2),), "560001", split_lines=False))


def test_unknown_destination_and_sku_raise_as_the_router() -> None:
    network = one_warehouse()
    planner, router = OneLinePlanner(network, CATALOG), Router(network, CATALOG)
    for order in (Order((OrderLine("S0", 1),), "999999"), Order((OrderLine("NOPE", 1),), "560001")):
        with pytest.raises(InvalidRequest) as ours:
            planner.plan(order, lambda sku: [3], TODAY)
        with pytest.raises(InvalidRequest) as theirs:
            router.plan(order, StockMap({order.lines[0].sku: np.array([3])}, 1), today=TODAY)
        assert type(ours.value) is type(theirs.value) and str(ours.value) == str(theirs.value)


@settings(max_examples=300, deadline=None)
@given(networks(), st.data())
def test_what_ships_now_of_a_refused_order_is_the_routers(network: Network,
                                                          data: st.DataObject) -> None:
    """A two-line order with a short line: the router plans what could ship now with the
    one-line planner; the JSON is the one it makes without it."""
    lines = tuple(OrderLine(s, data.draw(st.integers(1, 3))) for s in ("S0", "S2"))
    promise = data.draw(st.none() | st.integers(0, 4))
    order = Order(lines, "560001", promise_days=promise,
                  hard_promise=promise is not None and data.draw(st.booleans()))
    row = st.lists(st.integers(0, 4), min_size=network.n_warehouses,
                   max_size=network.n_warehouses)
    stock = StockMap({"S0": np.array(data.draw(row)), "S1": np.array(data.draw(row)),
                      "S2": np.array(data.draw(row))}, network.n_warehouses)
    quick, plain = Router(network, CATALOG), Router(network, CATALOG)
    plain.one_line = None
    assert (as_json(quick.plan(order, stock, today=TODAY).to_dict())
            == as_json(plain.plan(order, stock, today=TODAY).to_dict()))
