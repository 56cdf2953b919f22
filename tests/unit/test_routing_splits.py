"""Split lines on the demo network: when a line's units come from several warehouses,
what the plan shows, and how the order, the network policy and max_shipments decide."""

from __future__ import annotations

import json

import pytest

from allocator.errors import InvalidRequest
from routing import Network, Order, Router
from tools.scenario import demo_network_dict
from tests.unit.test_routing_planner import CAT, cap, check_explains_itself, order, plan, stock

FLASH = stock(PHONE_0000={"WH-BLR": 2, "WH-MAA": 2, "WH-HYD": 2})


def test_a_line_no_warehouse_has_whole_is_sold_out_without_splits():
    p = plan(order(("PHONE-0000", 5)), FLASH)
    assert not p.filled and not p.split_lines
    (short,) = p.to_dict()["shortfall"]["short_lines"]
    assert short["split_would_fill"] is True


@pytest.mark.parametrize("solver", ["fastpath", "cpsat"])
def test_with_split_lines_the_units_come_from_three_warehouses(solver):
    p = plan(order(("PHONE-0000", 5), split_lines=True), FLASH, solver=solver)
    check_explains_itself(p)
    assert p.filled and p.split_lines and p.solver == solver
    assert sum(s.units for s in p.shipments) == 5 and len(p.shipments) == 3
    d = json.loads(json.dumps(p.to_dict()))
    (split,) = d["splits"]
    assert split["sku"] == "PHONE-0000" and split["qty"] == 5
    assert sorted(x["warehouse"] for x in split["parts"]) == ["WH-BLR", "WH-HYD", "WH-MAA"]
    assert sum(x["qty"] for x in split["parts"]) == 5
    assert d["order"]["split_lines"] is True


def test_max_shipments_limits_the_parts():
    p = plan(order(("PHONE-0000", 4), split_lines=True, max_shipments=2), FLASH)
    assert p.filled and len(p.shipments) == 2
    p = plan(order(("PHONE-0000", 5), split_lines=True, max_shipments=2), FLASH)
    assert not p.filled and p.shortfall.reason == "max_shipments"
    assert p.shortfall.min_shipments_needed == 3


def test_a_split_is_chosen_when_it_is_cheaper_and_whole_lines_otherwise():
    # plenty at WH-BLR (1 day to Bengaluru): no reason to split
    p = plan(order(("PHONE-0000", 3), split_lines=True), stock(PHONE_0000={"WH-BLR": 30,
                                                                         "WH-MAA": 30}))
    assert [s.warehouse for s in p.shipments] == ["WH-BLR"] and p.to_dict()["splits"] == []
    # WH-BLR has the kettle and 1 phone; WH-MAA 10 phones. Whole lines need two parcels
    # anyway, so the best plan takes BLR's last phone only if that is cheaper: whatever
    # it picks, it is never dearer than the best whole-line plan.
    avail = stock(PHONE_0000={"WH-BLR": 4, "WH-MAA": 10}, KETTLE_0000={"WH-BLR": 5})
    o = order(("PHONE-0000", 3), ("KETTLE-0000", 1))
    whole, split = plan(o, avail), plan(order(("PHONE-0000", 3), ("KETTLE-0000", 1),
                                              split_lines=True), avail)
    assert split.cost.total <= whole.cost.total


def test_split_capacity_limits_each_warehouse():
    p = plan(order(("PHONE-0000", 5), split_lines=True),
             stock(PHONE_0000={"WH-BLR": 5, "WH-MAA": 5}), capacity_left=cap(WH_BLR=2))
    assert p.filled
    units = {s.warehouse: s.units for s in p.shipments}
    assert units.get("WH-BLR", 0) <= 2 and sum(units.values()) == 5


def test_short_lines_with_splits_count_every_usable_unit():
    p = plan(order(("PHONE-0000", 9), split_lines=True), FLASH)
    sf = p.to_dict()["shortfall"]
    (short,) = sf["short_lines"]
    assert short["reason"] == "out_of_stock" and short["total_available"] == 6
    assert short["split_would_fill"] is False
    # the backorder option ships the 6 units there are now, split, and backorders 3
    assert sf["backorder_option"]["backorder"] == [{"sku": "PHONE-0000", "qty": 3}]
    now = sf["backorder_option"]["ship_now"]
    assert sum(s["units"] for s in now["shipments"]) == 6


def test_the_network_policy_sets_the_default_and_an_order_overrides_it():
    data = demo_network_dict()
    data["policy"] = {"split_lines": True}
    net = Network.from_dict(data)
    router = Router(net, CAT)
    assert router.plan(Order.from_dict({"lines": [{"sku": "PHONE-0000", "qty": 5}],
                                        "destination": "560034"}), FLASH).filled
    assert not router.plan(Order.from_dict({"lines": [{"sku": "PHONE-0000", "qty": 5}],
                                            "destination": "560034", "split_lines": False}),
                           FLASH).filled


@pytest.mark.parametrize("policy,message", [
    ({"split_lines": "yes"}, "policy.split_lines: expected true or false"),
    ({"splits": True}, "policy: unknown field"),
])
def test_a_bad_policy_is_refused(policy, message):
    data = demo_network_dict()
    data["policy"] = policy
    with pytest.raises(Exception, match=message):
        Network.from_dict(data)


def test_split_lines_must_be_a_boolean():
    with pytest.raises(InvalidRequest, match="split_lines must be true, false or null"):
        Order.from_dict({"lines": [{"sku": "PHONE-0000", "qty": 1}], "destination": "560034",
                         "split_lines": "yes"})
