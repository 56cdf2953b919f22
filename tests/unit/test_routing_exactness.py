"""Regression tests for the four exactness fixes of issue #16: the RTO rate is priced
exactly as documented, ``split_would_fill`` counts only usable units, an unusable
warehouse is never named, and the runner-up's ``why`` says what differs (with a
documented tie-break)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from allocator.catalog import Catalog, Sku, Warehouse
from allocator.errors import AllocatorError
from routing import Network, Order, OrderLine, Router, StockMatrix
from tools.scenario import demo_network_dict
from tests.unit.test_routing_planner import BLR, cap, order, plan, stock


def _one_destination_network(rto_rate: float) -> Network:
    data = demo_network_dict()
    data["destinations"] = [dict(data["destinations"][0], rto_rate=rto_rate)]
    return Network.from_dict(data, source="rto.json")


# -- 1. rto_rate ------------------------------------------------------------------------

def test_rto_is_priced_from_the_rate_as_written_not_rounded_to_basis_points():
    rate = 0.07393                         # 739.3 basis points
    net = _one_destination_network(rate)
    cat = Catalog([Sku("HEAVY", "heavy thing", 1750)],
                  [Warehouse(w.id, w.name, w.lat, w.lon) for w in net.warehouses])
    stock_ = StockMatrix(["HEAVY"], [[50] * net.n_warehouses])
    p = Router(net, cat).plan(Order((OrderLine("HEAVY", 1),), net.destinations[0].pincode),
                              stock_)
    (s,) = p.shipments
    exact = math.ceil(Fraction("0.07393") * s.cost.shipping)
    assert s.cost.rto == exact
    # the basis-point rounding this replaces would have charged something else here
    assert math.ceil(739 * s.cost.shipping / 10_000) != exact
    assert p.to_dict()["destination"]["rto_rate"] == rate


def test_an_rto_rate_with_more_than_six_decimals_is_refused():
    with pytest.raises(AllocatorError, match=r"rto_rate: 0\.0739301 has more than 6 decimals"):
        _one_destination_network(0.0739301)
    assert _one_destination_network(0.073931).destinations[0].rto_ppm == 73931


# -- 2. split_would_fill ----------------------------------------------------------------

def test_split_would_fill_is_true_for_a_capacity_short_line_that_a_split_fills():
    # WH-BLR has all 5 but may ship only 3 today; WH-MAA has the other 2
    p = plan(order(("PHONE-0000", 5)), stock(PHONE_0000={"WH-BLR": 5, "WH-MAA": 2}),
             capacity_left=cap(WH_BLR=3))
    (short,) = p.to_dict()["shortfall"]["short_lines"]
    assert short["reason"] == "capacity" and short["split_would_fill"] is True


def test_split_would_fill_ignores_units_only_late_warehouses_hold():
    # 2 on time at WH-BLR, 2 more at WH-DEL (5 days): a hard 2-day promise cannot use them
    p = plan(order(("PHONE-0000", 3), promise_days=2, hard_promise=True),
             stock(PHONE_0000={"WH-BLR": 2, "WH-DEL": 2}))
    (short,) = p.to_dict()["shortfall"]["short_lines"]
    assert short["reason"] == "out_of_stock" and short["total_available"] == 4
    assert short["split_would_fill"] is False


# -- 3. best_warehouse ------------------------------------------------------------------

def test_a_warehouse_with_no_capacity_left_is_never_named_best():
    p = plan(order(("PHONE-0000", 2)), stock(PHONE_0000={"WH-DEL": 10, "WH-MAA": 1}),
             capacity_left=cap(WH_DEL=0))
    (short,) = p.to_dict()["shortfall"]["short_lines"]
    assert short["reason"] == "capacity"
    assert (short["best_warehouse"], short["best_available"]) == ("WH-MAA", 1)
    p = plan(order(("PHONE-0000", 2)), stock(PHONE_0000={"WH-DEL": 10}),
             capacity_left=cap(WH_DEL=0))
    (short,) = p.to_dict()["shortfall"]["short_lines"]
    assert (short["best_warehouse"], short["best_available"]) == (None, 0)


# -- 4. why and the tie-break -----------------------------------------------------------

def test_why_names_the_lines_that_swap_between_the_same_warehouses():
    # each warehouse may ship one unit today: both plans use WH-BLR + WH-MAA
    avail = stock(PHONE_0000={"WH-BLR": 9, "WH-MAA": 9}, KETTLE_0000={"WH-BLR": 9, "WH-MAA": 9})
    p = plan(order(("PHONE-0000", 1), ("KETTLE-0000", 1)), avail,
             capacity_left=cap(WH_BLR=1, WH_MAA=1))
    r = p.to_dict()["runner_up"]
    assert {s["warehouse"] for s in r["shipments"]} == {s.warehouse for s in p.shipments}
    chosen = {l.sku: s.warehouse for s in p.shipments for l in s.lines}
    other = {"WH-BLR": "WH-MAA", "WH-MAA": "WH-BLR"}
    for sku in ("PHONE-0000", "KETTLE-0000"):
        assert f"{sku} from {other[chosen[sku]]} instead of {chosen[sku]}" in r["why"]
    assert {c["sku"] for c in r["changes"]} == {"PHONE-0000", "KETTLE-0000"}


def _twins(first: str, second: str) -> tuple[Network, Catalog]:
    """Two warehouses identical in every way but their id, in the given file order."""
    data = demo_network_dict()
    wh = dict(data["warehouses"][0], daily_capacity_units=None)
    data["warehouses"] = [dict(wh, id=first), dict(wh, id=second)]
    net = Network.from_dict(data)
    cat = Catalog([Sku("S", "s", 500)], [Warehouse(w, w, 0.0, 0.0) for w in (first, second)])
    return net, cat


@pytest.mark.parametrize("solver", ["fastpath", "cpsat"])
@pytest.mark.parametrize("first,second", [("WH-A", "WH-B"), ("WH-B", "WH-A")])
def test_equal_cost_plans_go_to_the_warehouse_listed_first(first, second, solver):
    net, cat = _twins(first, second)
    p = Router(net, cat).plan(Order((OrderLine("S", 1),), BLR), StockMatrix(["S"], [[5, 5]]),
                              solver=solver)
    assert [s.warehouse for s in p.shipments] == [first]
    assert p.runner_up.extra.total == 0
    assert "costs the same; the chosen plan wins the tie-break" in p.runner_up.why()


def test_equal_cost_plans_prefer_fewer_parcels():
    # one unit each from both twins costs more than two from one; with split lines and
    # exactly 2 units at each, the two single-parcel plans tie and win over any split
    net, cat = _twins("WH-A", "WH-B")
    p = Router(net, cat).plan(Order((OrderLine("S", 2),), BLR, split_lines=True),
                              StockMatrix(["S"], [[9, 9]]))
    assert len(p.shipments) == 1 and p.runner_up.extra.total == 0
    assert len(p.runner_up.shipments) == 1
