"""Network, order and stock input: the bundled network, and every bad input rejected
with a clear one-line NetworkFileError / InvalidRequest (never a traceback)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from allocator.catalog import demo_catalog
from allocator.errors import AllocatorError, InvalidRequest, UnknownSku
from routing import (NetworkFileError, Order, OrderLine, Router, UnknownDestination,
                     demo_network, demo_stock, load_stock)
from tools import gen_demo_network
from routing.availability import stock_from_dict, stock_to_dict
from routing.network import Network, demo_network_path
from tools.scenario import demo_network_dict

NET = demo_network()
CAT = demo_catalog()


# ------------------------------------------------------------------------------------
# The bundled demo network
# ------------------------------------------------------------------------------------

def test_bundled_network_is_what_the_generator_writes():
    bundled = json.loads(demo_network_path().read_text(encoding="utf-8"))
    assert bundled == json.loads(json.dumps(gen_demo_network.build()))


def test_bundled_network_shape():
    assert NET.name == "demo-india-12" and NET.slab_g == 500
    assert NET.warehouse_ids == tuple(w.id for w in CAT.warehouses)     # same 12 FCs
    assert len(NET.destinations) >= 300
    assert [z.name for z in NET.zones] == ["local", "regional", "national", "metro", "remote"]
    assert all(len(d.pincode) == 6 and d.pincode.isdigit() for d in NET.destinations)
    assert all(0 <= d.rto_rate <= 0.3 for d in NET.destinations)
    assert (NET.additional_paise <= NET.first_paise).all() and (NET.first_paise > 0).all()
    assert NET.distance_km.shape == (len(NET.destinations), 12)
    d = NET.destination_index("400001")
    assert NET.warehouse_ids[int(np.argmin(NET.distance_km[d]))] == "WH-BOM"
    assert NET.summary()["warehouses"] == 12


def test_zone_and_transit_rules_on_known_lanes():
    def lane(pin, wh):
        d, w = NET.destination_index(pin), NET.warehouse_index(wh)
        return NET.zones[int(NET.zone[d, w])].name, int(NET.transit_days[d, w])

    assert lane("560034", "WH-BLR") == ("local", 1)            # 24 km
    assert lane("600001", "WH-BLR") == ("regional", 2)         # Bengaluru → Chennai, 270 km
    assert lane("110001", "WH-BOM") == ("metro", 4)            # metro to metro, 1,120 km
    assert lane("751001", "WH-DEL") == ("national", 4)         # Bhubaneswar, 1,273 km
    assert lane("695001", "WH-DEL") == ("national", 5)         # Thiruvananthapuram, 2,236 km
    assert lane("190001", "WH-BLR") == ("remote", 7)           # Srinagar: 5 days + 2
    assert lane("781001", "WH-GAU") == ("local", 1)            # remote only beyond 500 km


def test_load_round_trip_equals_the_bundled_network(tmp_path):
    path = tmp_path / "net.json"
    path.write_text(json.dumps(demo_network_dict()), encoding="utf-8")
    net = Network.load(path)
    for name in ("distance_km", "zone", "transit_days", "first_paise", "additional_paise",
                 "handling_paise", "fixed_paise", "capacity", "rto_ppm"):
        assert np.array_equal(getattr(net, name), getattr(NET, name)), name


# ------------------------------------------------------------------------------------
# Bad network files
# ------------------------------------------------------------------------------------

def mutate(fn):
    raw = copy.deepcopy(demo_network_dict())
    fn(raw)
    return raw


def set_in(path, value):
    def fn(raw):
        obj = raw
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return fn


def drop(path):
    def fn(raw):
        obj = raw
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]
    return fn


BAD_NETWORKS = {
    # missing fields
    "no zones": (drop(["zones"]), "top level: missing required field 'zones'"),
    "no rate card": (drop(["rate_card"]), "missing required field 'rate_card'"),
    "no warehouses": (drop(["warehouses"]), "missing required field 'warehouses'"),
    "no destinations": (drop(["destinations"]), "missing required field 'destinations'"),
    "no transit": (drop(["transit_days"]), "missing required field 'transit_days'"),
    "warehouse without lat": (drop(["warehouses", 0, "lat"]),
                              "warehouses[0] (WH-DEL): missing required field 'lat'"),
    "warehouse without handling": (drop(["warehouses", 2, "handling_per_unit"]),
                                   "missing required field 'handling_per_unit'"),
    "warehouse without id": (drop(["warehouses", 1, "id"]), "warehouses[1]: missing required"),
    "destination without pincode": (drop(["destinations", 3, "pincode"]),
                                    "destinations[3]: missing required field 'pincode'"),
    "rate without first slab": (drop(["rate_card", "local", "first_500g"]),
                                "rate_card.local: missing required field 'first_500g'"),
    "zone missing from rate card": (drop(["rate_card", "metro"]),
                                    "rate_card: no rate for zone 'metro'"),
    "empty warehouses": (set_in(["warehouses"], []), "warehouses: needs at least 1 entry"),
    # bad types
    "top level a list": (lambda raw: raw.clear() or None, None),   # replaced below
    "lat as string": (set_in(["warehouses", 0, "lat"], "28.6"),
                      "warehouses[0] (WH-DEL).lat: expected a number, got '28.6'"),
    "handling as bool": (set_in(["warehouses", 0, "handling_per_unit"], True),
                         "handling_per_unit: expected a number, got True"),
    "fractional capacity": (set_in(["warehouses", 0, "daily_capacity_units"], 2.5),
                            "daily_capacity_units: expected a whole number, got 2.5"),
    "negative fixed cost": (set_in(["warehouses", 0, "fixed_per_shipment"], -1),
                            "fixed_per_shipment: -1 is outside"),
    "rto above 1": (set_in(["destinations", 0, "rto_rate"], 1.5), "rto_rate: 1.5 is outside"),
    "pincode as number": (set_in(["destinations", 0, "pincode"], 110001),
                          "destinations[0].pincode: expected a 6-digit pincode string, got 110001"),
    "short pincode": (set_in(["destinations", 0, "pincode"], "11001"), "6-digit pincode"),
    "warehouses an object": (set_in(["warehouses"], {"WH-DEL": {}}),
                             "warehouses: expected a list, got dict"),
    "zone not an object": (set_in(["zones", 0], "local"), "zones[0]: expected an object, got str"),
    "rate as string": (set_in(["rate_card", "local"], "38"),
                       "rate_card.local: expected an object, got str"),
    "stock_health a list": (set_in(["stock_health"], [3, 15]),
                            "stock_health: expected an object, got list"),
    "slab zero": (set_in(["weight_slab_g"], 0), "weight_slab_g: 0 is outside"),
    "NaN handling": (set_in(["warehouses", 0, "handling_per_unit"], float("nan")),
                     "expected a number, got nan"),
    "destination zone a list": (set_in(["destinations", 0, "zone"], ["metro"]),
                                "destinations[0] (110001).zone: ['metro'] is not a special zone"),
    "absurd handling": (set_in(["warehouses", 0, "handling_per_unit"], 1e20),
                        "handling_per_unit: 1e+20 is outside"),
    "absurd capacity": (set_in(["warehouses", 0, "daily_capacity_units"], 10 ** 30),
                        "daily_capacity_units"),
    "absurd multiplier": (set_in(["warehouses", 0, "rate_multiplier"], 1e300),
                          "rate_multiplier"),
    # unknown references and inconsistencies
    "unknown destination tag": (set_in(["destinations", 0, "zone"], "island"),
                                "'island' is not a special zone's destination_tag "
                                "(known: ['metro', 'remote'])"),
    "unknown zone in rate card": (set_in(["rate_card", "zone-z"], {"first_500g": 1,
                                                                    "each_additional_500g": 1}),
                                  "rate_card: unknown zone 'zone-z'"),
    "unknown zone in warehouse card": (
        set_in(["warehouses", 0, "rate_card"], {"zone-z": {"first_500g": 9,
                                                           "each_additional_500g": 9}}),
        "warehouses[0] (WH-DEL).rate_card: unknown zone 'zone-z'"),
    "duplicate warehouse": (set_in(["warehouses", 1, "id"], "WH-DEL"),
                            "duplicate warehouse id 'WH-DEL'"),
    "duplicate pincode": (set_in(["destinations", 1, "pincode"], "110001"),
                          "duplicate pincode '110001'"),
    "duplicate zone": (set_in(["zones", 1, "name"], "local"), "duplicate zone name 'local'"),
    "bands not increasing": (set_in(["zones", 1, "max_km"], 40), "distance bands must increase"),
    "last band bounded": (set_in(["zones", 2, "max_km"], 3000),
                          "the last distance band must have \"max_km\": null"),
    "transit bounded": (set_in(["transit_days", 4, "max_km"], 5000),
                        "transit_days: the last band must have \"max_km\": null"),
    "additional above first": (set_in(["rate_card", "local"], {"first_500g": 30,
                                                                "each_additional_500g": 40}),
                               "each_additional_500g must not exceed first_500g"),
}
BAD_NETWORKS["top level a list"] = (None, "top level: expected an object, got list")


@pytest.mark.parametrize("case", sorted(BAD_NETWORKS))
def test_bad_network_is_a_clear_network_file_error(case, tmp_path):
    fn, expected = BAD_NETWORKS[case]
    raw = [1, 2] if fn is None else mutate(fn)
    path = tmp_path / "net.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(NetworkFileError) as err:
        Network.load(path)
    e = err.value
    assert isinstance(e, AllocatorError) and e.code == "invalid_network"
    assert e.message.startswith(f"{path}: ")          # names the file ...
    assert expected in e.message                      # ... the field and the problem
    assert "\n" not in e.message


UNREADABLE = {
    "missing file": (None, "cannot read network file"),
    "a directory": ("dir", "cannot read network file"),
    "not JSON": (b'{"zones": [', "is not valid JSON: Expecting value (line 1, column 12)"),
    "empty file": (b"", "is not valid JSON"),
    "trailing comma": (b'{"a": 1,}', "is not valid JSON"),
    "not UTF-8": (b"\xff\xfe{\x00}", "is not UTF-8 text"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_network_file(case, tmp_path):
    content, expected = UNREADABLE[case]
    path = tmp_path / "net.json"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(NetworkFileError) as err:
        Network.load(path)
    assert expected in err.value.message and str(path) in err.value.message
    assert "\n" not in err.value.message


def test_optional_network_fields_have_defaults():
    raw = mutate(lambda r: [r.pop(k) for k in ("name", "weight_slab_g", "stock_health",
                                               "lateness_penalty_per_day")])
    for w in raw["warehouses"]:
        for k in ("name", "city", "daily_capacity_units", "rate_multiplier"):
            w.pop(k, None)
    for d in raw["destinations"]:
        for k in ("city", "state", "zone", "rto_rate"):
            d.pop(k, None)
    net = Network.from_dict(raw)
    assert net.name == "network" and net.slab_g == 500
    assert net.lateness_paise_per_day == 0 and net.stock_health_paise == 0
    assert (net.capacity == -1).all() and (net.rto_ppm == 0).all()
    assert net.warehouses[0].name == "WH-DEL"
    assert "metro" not in {net.zones[z].name for z in np.unique(net.zone)}


def test_per_warehouse_rate_card_overrides_and_multiplier():
    raw = demo_network_dict()
    raw["warehouses"][0]["rate_card"] = {"local": {"first_500g": 20, "each_additional_500g": 10}}
    raw["warehouses"][0]["rate_multiplier"] = 2.0
    net = Network.from_dict(raw)
    r = net.warehouses[0].rates
    assert (r[0].first_paise, r[0].additional_paise) == (2000, 1000)     # own card, as given
    assert (r[1].first_paise, r[1].additional_paise) == (9600, 8400)     # base × 2


# ------------------------------------------------------------------------------------
# Orders
# ------------------------------------------------------------------------------------

GOOD = {"lines": [{"sku": "PHONE-0000", "qty": 1}], "destination": "560034"}

BAD_ORDERS = {
    "not an object": ([GOOD], "an order must be a JSON object, got list"),
    "empty order": ({**GOOD, "lines": []}, "an order needs at least one line"),
    "lines not a list": ({**GOOD, "lines": {"sku": "A"}}, "order.lines must be a list"),
    "line without qty": ({**GOOD, "lines": [{"sku": "PHONE-0000"}]},
                         "order.lines[0] must be an object with \"sku\" and \"qty\""),
    "qty zero": ({**GOOD, "lines": [{"sku": "PHONE-0000", "qty": 0}]},
                 "lines[0] (PHONE-0000): qty must be a whole number in 1..10000, got 0"),
    "qty negative": ({**GOOD, "lines": [{"sku": "PHONE-0000", "qty": -2}]}, "got -2"),
    "qty fractional": ({**GOOD, "lines": [{"sku": "PHONE-0000", "qty": 1.5}]}, "got 1.5"),
    "qty string": ({**GOOD, "lines": [{"sku": "PHONE-0000", "qty": "2"}]}, "got '2'"),
    "qty bool": ({**GOOD, "lines": [{"sku": "PHONE-0000", "qty": True}]}, "got True"),
    "qty absurd": ({**GOOD, "lines": [{"sku": "PHONE-0000", "qty": 10 ** 9}]}, "1..10000"),
    "sku empty": ({**GOOD, "lines": [{"sku": "", "qty": 1}]}, "lines[0].sku must be a non-empty"),
    "sku number": ({**GOOD, "lines": [{"sku": 7, "qty": 1}]}, "lines[0].sku must be a non-empty"),
    "duplicate lines": ({**GOOD, "lines": [{"sku": "PHONE-0000", "qty": 1},
                                           {"sku": "PHONE-0000", "qty": 2}]},
                        "SKU 'PHONE-0000' appears on more than one line; merge the lines"),
    "too many lines": ({**GOOD, "lines": [{"sku": f"S{i}", "qty": 1} for i in range(51)]},
                       "at most 50 lines, got 51"),
    "no destination": ({"lines": GOOD["lines"]}, "destination must be a pincode string"),
    "unknown field": ({**GOOD, "priority": "high"}, "unknown order field(s) ['priority']"),
    "negative promise": ({**GOOD, "promise_days": -1}, "promise_days must be a whole number"),
    "hard promise alone": ({**GOOD, "hard_promise": True}, "hard_promise needs promise_days"),
    "max shipments zero": ({**GOOD, "max_shipments": 0}, "max_shipments must be a whole number"),
    "flag not bool": ({**GOOD, "allow_substitutes": "yes"},
                      "order.allow_substitutes must be true or false, got 'yes'"),
}


@pytest.mark.parametrize("case", sorted(BAD_ORDERS))
def test_bad_order_is_an_invalid_request(case):
    data, expected = BAD_ORDERS[case]
    with pytest.raises(InvalidRequest) as err:
        Order.from_dict(data)
    assert expected in err.value.message and err.value.code == "invalid_request"


def test_order_round_trip_and_numeric_pincode():
    data = {"id": "A-1", "lines": [{"sku": "PHONE-0000", "qty": 2}], "destination": 560034,
            "promise_days": 3, "hard_promise": True, "max_shipments": 2,
            "allow_substitutes": True}
    o = Order.from_dict(data)
    assert o.destination == "560034" and o.to_dict() == {**data, "destination": "560034"}
    assert Order.from_dict(GOOD).to_dict() == GOOD


def test_unknown_sku_and_unknown_pincode_are_rejected_when_planning():
    router, avail = Router(NET, CAT), demo_stock(CAT, NET)
    with pytest.raises(UnknownSku) as err:
        router.plan(Order((OrderLine("NOPE-1", 1),), "560034"), avail)
    assert err.value.message == "unknown SKU 'NOPE-1'" and err.value.code == "unknown_sku"
    with pytest.raises(UnknownDestination) as err:
        router.plan(Order((OrderLine("PHONE-0000", 1),), "999999"), avail)
    assert err.value.code == "unknown_destination"
    assert err.value.message == ("destination pincode '999999' is not served by network "
                                 "'demo-india-12'")
    assert isinstance(err.value, InvalidRequest)


# ------------------------------------------------------------------------------------
# Stock files
# ------------------------------------------------------------------------------------

def test_stock_file_round_trip(tmp_path):
    stock = demo_stock(CAT, NET, seed=4)
    path = tmp_path / "stock.json"
    path.write_text(json.dumps(stock_to_dict(stock, NET)), encoding="utf-8")
    loaded = load_stock(path, NET, CAT)
    assert np.array_equal(loaded.rows(CAT.sku_ids[:50]), stock.rows(CAT.sku_ids[:50]))


BAD_STOCK = {
    "not an object": ([], "expected an object {\"stock\""),
    "no stock key": ({"PHONE-0000": {}}, "expected an object {\"stock\""),
    "unknown sku": ({"stock": {"NOPE-1": {"WH-DEL": 1}}}, "stock.NOPE-1: SKU is not in the catalog"),
    "unknown warehouse": ({"stock": {"PHONE-0000": {"WH-XXX": 1}}},
                          "stock.PHONE-0000.WH-XXX: warehouse is not in network 'demo-india-12'"),
    "per warehouse not object": ({"stock": {"PHONE-0000": [1, 2]}},
                                 "stock.PHONE-0000: expected {warehouse_id: units}"),
    "negative units": ({"stock": {"PHONE-0000": {"WH-DEL": -1}}}, "units must be a whole number"),
    "fractional units": ({"stock": {"PHONE-0000": {"WH-DEL": 1.5}}}, "got 1.5"),
    "absurd units": ({"stock": {"PHONE-0000": {"WH-DEL": 10 ** 30}}}, "units must be a whole"),
}


@pytest.mark.parametrize("case", sorted(BAD_STOCK))
def test_bad_stock_is_a_network_file_error(case):
    data, expected = BAD_STOCK[case]
    with pytest.raises(NetworkFileError) as err:
        stock_from_dict(data, NET, CAT, source="s.json")
    assert err.value.message.startswith("s.json: ") and expected in err.value.message


def test_extra_transit_days_of_a_distance_band_apply():
    """Regression: a band's extra_transit_days used to be accepted and silently ignored."""
    raw = demo_network_dict()
    raw["zones"][2]["extra_transit_days"] = 3          # "national"
    net = Network.from_dict(raw)
    national = NET.zone == 2
    assert national.any()
    assert np.array_equal(net.transit_days, NET.transit_days + 3 * national)
