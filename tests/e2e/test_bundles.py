"""Bundles (kits) over HTTP: defined by ops, reserved as their components
all-or-nothing, shown with their components, cancelled whole, available as whole kits."""

from __future__ import annotations

import uuid

import pytest

from actors.layout import base_shard_of
from tests.support.http import DELHI, assert_problem, key, restock

pytestmark = pytest.mark.integration
WH = "WH-DEL"


def kit_id():
    return f"KIT-{uuid.uuid4().hex[:8]}"


def define(ops_http, kit, components, status=200):
    r = ops_http.put(f"/v1/catalog/bundles/{kit}", json={
        "name": "test kit", "components": [{"sku": s, "qty": q} for s, q in components]})
    assert r.status_code == status, r.text
    return r


def stock(http, sku, wh=WH):
    return http.get(f"/v1/inventory/{sku}").json()["warehouses"][wh]


def test_ops_define_bundles_and_bad_ones_are_refused(http, ops_http, skus):
    a, b = skus.take(2)
    kit = kit_id()
    got = define(ops_http, kit, [(a, 1), (b, 2)]).json()
    assert got == {"sku": kit, "name": "test kit",
                   "components": [{"sku": a, "qty": 1}, {"sku": b, "qty": 2}]}
    assert http.get(f"/v1/catalog/bundles/{kit}").json() == got
    assert got in http.get("/v1/catalog/bundles").json()["bundles"]
    assert_problem(http.put(f"/v1/catalog/bundles/{kit_id()}", json={
        "components": [{"sku": a, "qty": 1}]}), 403, "forbidden")
    for components, slug in (([("NOPE-1", 1)], "validation"),      # not a catalog SKU
                             ([(kit, 1)], "validation"),            # nested
                             ([(a, 1), (a, 2)], "validation"),      # twice
                             ([(a, 0)], "validation"),              # qty < 1
                             ([], "validation")):
        assert_problem(ops_http.put(f"/v1/catalog/bundles/{kit_id()}", json={
                           "components": [{"sku": s, "qty": q} for s, q in components]}),
                       422, slug)
    assert_problem(ops_http.put(f"/v1/catalog/bundles/{a}", json={
        "components": [{"sku": b, "qty": 1}]}), 422, "validation")  # a SKU is no bundle
    other = kit_id()
    define(ops_http, other, [(b, 1)])
    assert ops_http.delete(f"/v1/catalog/bundles/{other}").status_code == 204
    assert_problem(http.get(f"/v1/catalog/bundles/{other}"), 422, "unknown-sku")


def test_a_bundle_is_held_as_its_components_and_moves_whole(http, ops_http, skus):
    a, b = skus.take(2)
    kit = kit_id()
    define(ops_http, kit, [(a, 1), (b, 2)])
    restock(ops_http, a, WH, 3)
    restock(ops_http, b, WH, 4)
    restock(ops_http, a, "WH-BLR", 1)
    restock(ops_http, b, "WH-BLR", 2)
    avail = http.get(f"/v1/inventory/{kit}").json()
    assert avail["warehouses"][WH] == {"available": 2}
    assert avail["warehouses"]["WH-BLR"] == {"available": 1}
    assert avail["totals"] == {"available": 3} and avail["bundle"]["sku"] == kit
    # more kits than the components make: refused, nothing held
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": kit, "qty": 4}], "destination": DELHI})
    assert_problem(r, 409, "insufficient-stock")
    assert (stock(http, a)["held"], stock(http, b)["held"]) == (0, 0)
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": kit, "qty": 2}], "destination": DELHI})
    assert r.status_code == 201, r.text
    res = r.json()
    assert sorted((x["sku"], x["warehouse"], x["qty"]) for x in res["lines"]) == \
        sorted([(a, WH, 2), (b, WH, 4)])
    (bundle,) = res["bundles"]
    assert (bundle["sku"], bundle["qty"], bundle["state"], bundle["together"]) == \
        (kit, 2, "pending", True)
    assert [(c["sku"], c["qty"]) for c in bundle["components"]] == [(a, 1), (b, 2)]
    assert (stock(http, a)["held"], stock(http, b)["held"]) == (2, 4)
    assert http.get(f"/v1/inventory/{kit}").json()["warehouses"][WH] == {"available": 0}
    url = f"/v1/reservations/{res['id']}"
    # a component alone cannot be cancelled; kits are amended whole
    assert_problem(http.post(f"{url}/lines/cancel", headers=key(),
                             json={"lines": [{"sku": b, "qty": 2}]}), 409, "bundle-line")
    assert_problem(http.patch(url, headers=key(), json={
        "lines": [{"sku": kit, "qty": 1}, {"sku": a, "qty": 1}]}), 422, "validation")
    r = http.patch(url, headers=key(), json={"lines": [{"sku": kit, "qty": 1}]})
    assert r.status_code == 200, r.text
    assert (r.json()["bundles"][0]["qty"], r.json()["version"] > 0) == (1, True)
    assert (stock(http, a)["held"], stock(http, b)["held"]) == (1, 2)
    r = http.patch(url, headers=key(), json={"lines": [{"sku": kit, "qty": 2}]})
    assert r.status_code == 200, r.text
    assert (stock(http, a)["held"], stock(http, b)["held"]) == (2, 4)
    assert http.post(f"{url}/commit").status_code == 200
    assert (stock(http, a)["committed"], stock(http, b)["committed"]) == (2, 4)
    # one kit cancelled: every component's units for it, together
    r = http.post(f"{url}/lines/cancel", headers=key(), json={"lines": [{"sku": kit, "qty": 1}]})
    assert r.status_code == 200, r.text
    (bundle,) = r.json()["bundles"]
    assert (bundle["qty"], bundle["ordered"], bundle["state"]) == (1, 2, "committed")
    assert (stock(http, a)["committed"], stock(http, b)["committed"]) == (1, 2)
    assert_problem(http.post(f"{url}/lines/cancel", headers=key(),
                             json={"lines": [{"sku": kit, "qty": 2}]}), 422, "validation")
    r = http.post(f"{url}/lines/cancel", headers=key(), json={"lines": [{"sku": kit}]})
    assert r.status_code == 200, r.text
    assert r.json()["bundles"][0]["state"] == "cancelled"
    assert (stock(http, a)["committed"], stock(http, b)["committed"]) == (0, 0)
    view = http.get(url).json()
    assert view["bundles"][0]["qty"] == 0 and view["bundles"][0]["state"] == "cancelled"


def test_pre_routed_bundle_is_all_or_nothing_and_releases_whole(http, ops_http, skus):
    a, b, c = skus.take(3)
    kit = kit_id()
    define(ops_http, kit, [(a, 2), (b, 1), (c, 1)])
    for sku, qty in ((a, 10), (b, 10), (c, 1)):
        restock(ops_http, sku, "WH-BLR", qty)
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": kit, "qty": 2, "warehouse": "WH-BLR"}]})
    assert_problem(r, 409, "insufficient-stock")  # c is short: a and b stay untouched
    assert [stock(http, s, "WH-BLR")["held"] for s in (a, b, c)] == [0, 0, 0]
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": kit, "qty": 1, "warehouse": "WH-BLR"}]})
    assert r.status_code == 201, r.text
    assert [stock(http, s, "WH-BLR")["held"] for s in (a, b, c)] == [2, 1, 1]
    rid = r.json()["id"]
    assert http.post(f"/v1/reservations/{rid}/release").status_code == 200
    assert [stock(http, s, "WH-BLR")["held"] for s in (a, b, c)] == [0, 0, 0]
    assert http.get(f"/v1/reservations/{rid}").json()["bundles"][0]["state"] == "released"
    # a component in the same order as its kit: refused with the reason
    r = http.post("/v1/reservations", headers=key(), json={
        "lines": [{"sku": kit, "qty": 1}, {"sku": a, "qty": 1}], "destination": DELHI})
    assert_problem(r, 422, "validation")
    assert_problem(http.post("/v1/reservations", headers=key(), json={
        "lines": [{"sku": "KIT-nope", "qty": 1}], "destination": DELHI}), 422, "unknown-sku")
    plan = http.post("/v1/route", json={"lines": [{"sku": kit, "qty": 1}],
                                        "destination": DELHI}).json()
    assert plan["status"] == "planned"
    assert {l["sku"] for s in plan["shipments"] for l in s["lines"]} == {a, b, c}


def test_two_buyers_of_the_last_kit_one_wins_and_nothing_is_half_held(http, ops_http, skus):
    from concurrent.futures import ThreadPoolExecutor

    pool = skus.take(8)  # components on both shards: the hold spans shards
    a, c = pool[0], pool[1]
    b = next(s for s in pool[2:] if base_shard_of(s, 2) != base_shard_of(a, 2))
    kit = kit_id()
    define(ops_http, kit, [(a, 1), (b, 2), (c, 1)])
    for round_ in range(3):
        for sku, qty in ((a, 1), (b, 2), (c, 1)):
            restock(ops_http, sku, WH, qty)  # exactly one more kit
        with ThreadPoolExecutor(2) as pool:
            rs = list(pool.map(lambda _: http.post("/v1/reservations", headers=key(), json={
                "lines": [{"sku": kit, "qty": 1, "warehouse": WH}]}), range(2)))
        assert sorted(r.status_code for r in rs) == [201, 409], [r.text for r in rs]
        assert_problem(next(r for r in rs if r.status_code == 409), 409, "insufficient-stock")
        assert [stock(http, s)["held"] for s in (a, b, c)] == \
            [(round_ + 1) * q for q in (1, 2, 1)]
        assert http.get(f"/v1/inventory/{kit}").json()["totals"] == {"available": 0}


def test_a_kit_ships_whole_from_a_warehouse_that_can_make_it(http, ops_http, skus):
    a, b = skus.take(2)
    kit = kit_id()
    define(ops_http, kit, [(a, 1), (b, 1)])
    restock(ops_http, a, WH, 5)  # the nearest warehouse has only one component
    for sku in (a, b):
        restock(ops_http, sku, "WH-BOM", 5)
    plan = http.post("/v1/route", json={"lines": [{"sku": kit, "qty": 2}],
                                        "destination": DELHI}).json()
    assert [s["warehouse"] for s in plan["shipments"]] == ["WH-BOM"]
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": kit, "qty": 2}], "destination": DELHI})
    assert r.status_code == 201, r.text
    (bundle,) = r.json()["bundles"]
    assert bundle["together"] and {x["warehouse"] for x in r.json()["lines"]} == {"WH-BOM"}
    # no warehouse can make 4 more kits whole (WH-BOM has 3): the components come
    # from several
    restock(ops_http, b, "WH-BLR", 5)
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": kit, "qty": 4}], "destination": DELHI})
    assert r.status_code == 201, r.text
    assert not r.json()["bundles"][0]["together"], r.json()
