"""The HTTP API end to end: a real uvicorn process, real Ray, real Redis."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.http import DELHI, PROBLEM, assert_problem, auth, key, restock

pytestmark = pytest.mark.integration
def reserve(http, sku, qty=1, **extra):
    body = {"lines": [{"sku": sku, "qty": qty}], "destination": DELHI, **extra}
    return http.post("/v1/reservations", headers=key(), json=body)


# ---------------------------------------------------------------- health, auth
def test_health_ready_metrics_and_problem_types(http):
    assert http.get("/healthz").json() == {"status": "ok"}
    ready = http.get("/readyz").json()
    assert ready["checks"] == {"redis": True, "ray": True}
    assert "allocator_http_requests_total" in http.get("/metrics").text
    assert http.get("/problems/insufficient-stock").json()["status"] == 409
    assert_problem(http.get("/problems/nope"), 404, "not-found")


def test_missing_unknown_and_underscoped_keys(server):
    body = {"lines": [{"sku": "SKU-00001", "qty": 1}], "destination": DELHI}
    assert_problem(httpx.post(f"{server}/v1/route", json=body), 401, "unauthorized")
    assert_problem(httpx.post(f"{server}/v1/route", json=body, headers=auth("wrong-key-123")),
                   401, "unauthorized")
    r = httpx.post(f"{server}/v1/route", json=body, headers=auth("test-ops-key"))
    assert assert_problem(r, 403, "forbidden")["required_scope"] == "checkout"
    r = httpx.get(f"{server}/v1/admin/shards", headers=auth("test-checkout-key"))
    assert_problem(r, 403, "forbidden")


def test_rate_limit_answers_429_with_retry_after(server, skus):
    body = {"lines": [{"sku": skus.take()[0], "qty": 1}], "destination": DELHI}
    codes = [httpx.post(f"{server}/v1/route", json=body, headers=auth("test-slow-key"))
             for _ in range(4)]
    limited = [r for r in codes if r.status_code == 429]
    assert limited and codes[0].status_code == 200
    assert_problem(limited[0], 429, "rate-limited")
    assert int(limited[0].headers["Retry-After"]) >= 1


def test_body_too_large_and_malformed_json(http):
    huge = {"lines": [{"sku": "S" * 60, "qty": 1}] * 5000, "destination": DELHI}
    assert_problem(http.post("/v1/route", json=huge), 413, "payload-too-large")
    r = http.post("/v1/route", content=b"{not json", headers={"content-type": "application/json"})
    assert_problem(r, 422, "validation")


# ----------------------------------------------------------------------- route
def test_route_quotes_a_plan_and_holds_nothing(http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 4)
    restock(ops_http, sku, "WH-BLR", 4)
    plan = http.post("/v1/route", json={"lines": [{"sku": sku, "qty": 2}],
                                        "destination": DELHI}).json()
    assert plan["status"] == "planned"
    assert plan["shipments"][0]["warehouse"] == "WH-DEL"
    assert plan["runner_up"]["shipments"][0]["warehouse"] == "WH-BLR"
    assert plan["cost"]["total"] > 0
    held = http.get(f"/v1/inventory/{sku}").json()["totals"]["held"]
    assert held == 0


def test_route_errors_are_precise(http, skus):
    (sku,) = skus.take()
    r = http.post("/v1/route", json={"lines": [{"sku": sku, "qty": 1}], "destination": "999999"})
    assert_problem(r, 422, "unknown-destination")
    r = http.post("/v1/route", json={"lines": [{"sku": "NOPE", "qty": 1}], "destination": DELHI})
    assert_problem(r, 422, "unknown-sku")
    r = http.post("/v1/route", json={"lines": [{"sku": sku, "qty": 0}], "destination": DELHI})
    assert "qty" in assert_problem(r, 422, "validation")["detail"]
    r = http.post("/v1/route", json={"lines": [], "destination": DELHI})
    assert_problem(r, 422, "validation")
    r = http.post("/v1/route", json={"lines": [{"sku": sku, "qty": 1}, {"sku": sku, "qty": 2}],
                                     "destination": DELHI})
    assert_problem(r, 422, "validation")
    plan = http.post("/v1/route", json={"lines": [{"sku": sku, "qty": 3}],
                                        "destination": DELHI}).json()
    assert plan["status"] == "unfillable" and plan["shortfall"]["short_lines"][0]["sku"] == sku


# ---------------------------------------------------------------- reservations
def test_reserve_commit_get_and_owner_binding(http, ops_http, server, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 5)
    r = reserve(http, sku, 2)
    assert r.status_code == 201, r.text
    res = r.json()
    assert res["state"] == "pending" and res["id"].startswith("res_") and len(res["id"]) > 30
    assert res["lines"] == [{"sku": sku, "warehouse": "WH-DEL", "qty": 2}]
    assert http.get(f"/v1/reservations/{res['id']}").json()["state"] == "pending"
    other = httpx.get(f"{server}/v1/reservations/{res['id']}", headers=auth("test-checkout-key-2"))
    assert_problem(other, 404, "not-found")
    other = httpx.post(f"{server}/v1/reservations/{res['id']}/commit",
                       headers=auth("test-checkout-key-2"))
    assert_problem(other, 404, "not-found")
    assert http.post(f"/v1/reservations/{res['id']}/commit").json()["state"] == "committed"
    assert http.post(f"/v1/reservations/{res['id']}/commit").json()["state"] == "committed"
    assert_problem(http.post(f"/v1/reservations/{res['id']}/release"), 409, "illegal-transition")
    inv = http.get(f"/v1/inventory/{sku}").json()["warehouses"]["WH-DEL"]
    assert (inv["on_hand"], inv["held"], inv["committed"], inv["available"]) == (5, 0, 2, 3)
    assert_problem(http.get("/v1/reservations/res_00000000000000000000000000000000"), 404,
                   "not-found")


def test_release_and_expiry(http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 3)
    res = reserve(http, sku, 3).json()
    assert http.post(f"/v1/reservations/{res['id']}/release").json()["state"] == "released"
    assert http.post(f"/v1/reservations/{res['id']}/release").json()["state"] == "released"
    short = reserve(http, sku, 1, ttl_s=0.3).json()
    time.sleep(0.8)
    assert http.get(f"/v1/reservations/{short['id']}").json()["state"] == "expired"
    assert_problem(http.post(f"/v1/reservations/{short['id']}/commit"), 410, "hold-expired")
    assert http.get(f"/v1/inventory/{sku}").json()["totals"]["available"] == 3


def test_insufficient_stock_says_what_is_available(http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 1)
    body = assert_problem(reserve(http, sku, 2), 409, "insufficient-stock")
    assert body["code"] == "insufficient_stock"
    short = body["shortfall"]["short_lines"][0]
    assert short["sku"] == sku and short["total_available"] == 1
    assert "substitutes" in short
    r = http.post("/v1/reservations", headers=key(), json={
        "lines": [{"sku": sku, "qty": 2, "warehouse": "WH-DEL"}]})
    body = assert_problem(r, 409, "insufficient-stock")
    assert body["available"] == 1


def plan_cache(http, result):
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'allocator_plan_cache_total{{result="{result}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no plan cache metric for {result}")


def waits_count(http, step):
    for line in http.get("/metrics").text.splitlines():
        if line.startswith(f'allocator_checkout_wait_seconds_count{{step="{step}"}}'):
            return float(line.split()[-1])
    raise AssertionError(f"no checkout wait metric for {step}")


def test_metrics_show_where_checkout_waited(http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 2)
    before = {s: waits_count(http, s) for s in ("shard_op", "settle", "fresh_rows")}
    r = reserve(http, sku, 1)
    assert r.status_code == 201
    assert http.post(f"/v1/reservations/{r.json()['id']}/commit").status_code == 200
    assert_problem(reserve(http, sku, 5), 409, "insufficient-stock")  # short: fresh rows
    after = {s: waits_count(http, s) for s in before}
    assert after["shard_op"] >= before["shard_op"] + 2  # the hold, the commit
    assert after["settle"] >= before["settle"] + 2  # both reserves' first answers
    assert after["fresh_rows"] >= before["fresh_rows"] + 1
    text = http.get("/metrics").text
    assert 'allocator_checkout_wait_seconds_bucket{le="+Inf",step="shard_op"}' in text


def test_a_sold_out_stampede_is_refused_alike_and_sees_units_come_back(http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 1)
    first = assert_problem(reserve(http, sku, 2), 409, "insufficient-stock")
    reused = plan_cache(http, "unfillable_hit")
    for _ in range(5):  # the same order on the same rows: the same refusal, not replanned
        again = assert_problem(reserve(http, sku, 2), 409, "insufficient-stock")
        assert again["shortfall"] == first["shortfall"]
    assert plan_cache(http, "unfillable_hit") >= reused + 5
    restock(ops_http, sku, "WH-DEL", 1)  # a unit back: planned again on what there is
    assert reserve(http, sku, 2).status_code == 201


def test_reserve_needs_an_idempotency_key(http, skus):
    (sku,) = skus.take()
    r = http.post("/v1/reservations", json={"lines": [{"sku": sku, "qty": 1}],
                                            "destination": DELHI})
    assert_problem(r, 400, "idempotency-key-missing")


def test_idempotency_replay_and_mismatch(http, ops_http, server, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 10)
    h = key()
    body = {"lines": [{"sku": sku, "qty": 1}], "destination": DELHI}
    first = http.post("/v1/reservations", headers=h, json=body)
    again = http.post("/v1/reservations", headers=h, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = http.post("/v1/reservations", headers=h, json={**body, "promise_days": 2})
    assert_problem(other, 422, "idempotency-key-reused")
    # the same key from another API key is another request
    mine = httpx.post(f"{server}/v1/reservations", headers={**h, **auth("test-checkout-key-2")},
                      json=body)
    assert mine.status_code == 201 and mine.json()["id"] != first.json()["id"]
    assert http.get(f"/v1/inventory/{sku}").json()["totals"]["held"] == 2


def test_concurrent_requests_with_one_key_hold_once(server, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 50)
    h = {**key(), **auth("test-checkout-key")}
    body = {"lines": [{"sku": sku, "qty": 1}], "destination": DELHI}

    def go(_):
        return httpx.post(f"{server}/v1/reservations", headers=h, json=body, timeout=30)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(go, range(12)))
    ok = [r for r in answers if r.status_code == 201]
    assert ok and all(r.status_code in (201, 409) for r in answers)
    assert len({r.json()["id"] for r in ok}) == 1
    held = httpx.get(f"{server}/v1/inventory/{sku}", headers=auth("test-ops-key")).json()
    assert held["totals"]["held"] == 1


def test_200_clients_race_for_50_units(server, ops_http, cluster, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 50)
    body = {"lines": [{"sku": sku, "qty": 1}], "destination": DELHI}

    def buyer(i):
        with httpx.Client(base_url=server, headers=auth("test-checkout-key"), timeout=60) as c:
            return c.post("/v1/reservations", headers={"Idempotency-Key": f"race-{sku}-{i}"},
                          json=body)

    with ThreadPoolExecutor(200) as pool:
        answers = list(pool.map(buyer, range(200)))
    won = [r for r in answers if r.status_code == 201]
    lost = [r for r in answers if r.status_code != 201]
    outcomes = Counter(f"{r.status_code} {r.json().get('type', '')}" for r in answers)
    assert len(won) == 50, outcomes
    for r in lost:
        assert_problem(r, 409, "insufficient-stock")
    inv = ops_http.get(f"/v1/inventory/{sku}").json()["totals"]
    assert (inv["held"], inv["available"]) == (50, 0)
    report = cluster.audit()
    assert report["ok"] and report["oversold_units"] == 0


def test_batch_reserves_each_order_on_its_own(http, ops_http, skus):
    a, b, c = skus.take(3)
    restock(ops_http, a, "WH-DEL", 3)
    restock(ops_http, b, "WH-BOM", 2)
    orders = ([{"lines": [{"sku": a, "qty": 1, "warehouse": "WH-DEL"}]} for _ in range(4)]
              + [{"lines": [{"sku": b, "qty": 1}], "destination": DELHI},
                 {"lines": [{"sku": c, "qty": 1}], "destination": DELHI},
                 {"lines": [{"sku": "NOPE", "qty": 1, "warehouse": "WH-DEL"}]}])
    h = key()
    r = http.post("/v1/reservations/batch", headers=h, json={"orders": orders})
    assert r.status_code == 200, r.text
    out = r.json()
    status = [x["status"] for x in out["results"]]
    assert status == ["reserved"] * 3 + ["failed", "reserved", "failed", "failed"]
    assert out["results"][3]["problem"]["type"] == "/problems/insufficient-stock"
    assert out["results"][6]["problem"]["type"] == "/problems/unknown-sku"
    assert (out["reserved"], out["failed"]) == (4, 3)
    again = http.post("/v1/reservations/batch", headers=h, json={"orders": orders})
    assert again.json() == out
    rid = out["results"][0]["reservation"]["id"]
    assert http.post(f"/v1/reservations/{rid}/commit").json()["state"] == "committed"
    too_many = {"orders": [orders[0]] * 501}
    assert_problem(http.post("/v1/reservations/batch", headers=key(), json=too_many), 422,
                   "validation")


# ------------------------------------------------------------------ inventory
def test_inventory_sync_versions_and_drift(ops_http, http, skus):
    (sku,) = skus.take()
    r = ops_http.put("/v1/inventory", json={"counts": [
        {"sku": sku, "warehouse": "WH-DEL", "on_hand": 10, "version": 5}]})
    assert r.json()["applied"] == 1
    res = reserve(http, sku, 4).json()
    http.post(f"/v1/reservations/{res['id']}/commit")
    stale = ops_http.put("/v1/inventory", json={"counts": [
        {"sku": sku, "warehouse": "WH-DEL", "on_hand": 99, "version": 5}]})
    assert assert_problem(stale, 409, "stale-version")["results"][0]["current_version"] == 5
    drift = ops_http.put("/v1/inventory", json={"counts": [
        {"sku": sku, "warehouse": "WH-DEL", "on_hand": 1, "version": 6}]})
    assert drift.status_code == 200
    inv = ops_http.get(f"/v1/inventory/{sku}").json()["warehouses"]["WH-DEL"]
    assert inv["available"] == 0 and inv["on_hand"] >= inv["committed"]
    assert_problem(ops_http.get("/v1/inventory/NOPE"), 422, "unknown-sku")
    bad = ops_http.put("/v1/inventory", json={"counts": [
        {"sku": sku, "warehouse": "WH-XXX", "on_hand": 1, "version": 9}]})
    assert_problem(bad, 422, "unknown-warehouse")
    assert_problem(http.put("/v1/inventory", json={"counts": []}), 403, "forbidden")


def test_movements_ship_restock_return(ops_http, http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 4)
    res = reserve(http, sku, 2).json()
    r = ops_http.post("/v1/inventory/movements", headers=key(), json={
        "movements": [{"type": "ship", "reservation_id": res["id"]}]})
    assert_problem(r, 409, "illegal-transition")  # not committed yet
    http.post(f"/v1/reservations/{res['id']}/commit")
    h = key()
    moves = {"movements": [{"type": "ship", "reservation_id": res["id"]},
                           {"type": "return", "sku": sku, "warehouse": "WH-DEL", "qty": 1}]}
    assert ops_http.post("/v1/inventory/movements", headers=h, json=moves).status_code == 200
    assert ops_http.post("/v1/inventory/movements", headers=h, json=moves).status_code == 200
    inv = ops_http.get(f"/v1/inventory/{sku}").json()["warehouses"]["WH-DEL"]
    assert (inv["on_hand"], inv["committed"], inv["available"]) == (3, 0, 3)
    assert http.get(f"/v1/reservations/{res['id']}").json()["state"] == "shipped"
    bad = ops_http.post("/v1/inventory/movements", headers=key(), json={
        "movements": [{"type": "restock", "sku": sku, "warehouse": "WH-DEL"}]})
    assert_problem(bad, 422, "validation")


# ---------------------------------------------------------------------- admin
def test_kill_switch_per_sku_and_global(ops_http, http, skus):
    a, b = skus.take(2)
    restock(ops_http, a, "WH-DEL", 5)
    restock(ops_http, b, "WH-DEL", 5)
    held = reserve(http, a, 1).json()
    state = ops_http.put("/v1/admin/kill-switch", json={"on": True, "skus": [a]}).json()
    assert state == {"global": False, "skus": [a], "channels": [], "brands": []}
    try:
        assert_problem(reserve(http, a, 1), 423, "kill-switch")
        assert reserve(http, b, 1).status_code == 201
        assert http.post(f"/v1/reservations/{held['id']}/commit").status_code == 200
        ops_http.put("/v1/admin/kill-switch", json={"on": True})
        assert_problem(reserve(http, b, 1), 423, "kill-switch")
    finally:
        ops_http.put("/v1/admin/kill-switch", json={"on": False})
        ops_http.put("/v1/admin/kill-switch", json={"on": False, "skus": [a]})
    assert ops_http.get("/v1/admin/kill-switch").json() == {"global": False, "skus": [],
                                                           "channels": [], "brands": []}
    assert reserve(http, a, 1).status_code == 201


def test_hot_skus_pin_and_shards(ops_http, http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 6)
    first = reserve(http, sku, 1).json()
    hot = ops_http.post("/v1/admin/hot-skus", json={"skus": [sku]}).json()
    assert hot["hot"][sku] == f"hot-{sku}" and sku in hot["pinned"]
    assert sku in ops_http.get("/v1/admin/hot-skus").json()["hot"]
    names = {s["name"] for s in ops_http.get("/v1/admin/shards").json()}
    assert {"shard-00", "shard-01", f"hot-{sku}"} <= names
    assert reserve(http, sku, 2).status_code == 201
    assert http.post(f"/v1/reservations/{first['id']}/commit").status_code == 200
    inv = ops_http.get(f"/v1/inventory/{sku}").json()["totals"]
    assert (inv["on_hand"], inv["held"], inv["committed"], inv["available"]) == (6, 2, 1, 3)
    assert_problem(ops_http.post("/v1/admin/hot-skus", json={"skus": ["NOPE"]}), 422,
                   "unknown-sku")


def test_split_lines_over_http_reserve_read_release(http, ops_http, skus):
    """``split_lines`` through the API: the route quotes the parts, the reservation holds
    them all (one held line per part), GET shows them, release gives every part back;
    a non-boolean is a 422 naming the field."""
    (sku,) = skus.take()
    for wh in ("WH-DEL", "WH-JAI"):
        restock(ops_http, sku, wh, 2)
    body = {"lines": [{"sku": sku, "qty": 4}], "destination": DELHI}
    assert http.post("/v1/route", json=body).json()["status"] == "unfillable"
    plan = http.post("/v1/route", json=body | {"split_lines": True}).json()
    assert plan["status"] == "planned" and plan["splits"][0]["qty"] == 4
    r = reserve(http, sku, 4, split_lines=True)
    assert r.status_code == 201, r.text
    res = r.json()
    assert sorted((l["warehouse"], l["qty"]) for l in res["lines"]) == [("WH-DEL", 2),
                                                                         ("WH-JAI", 2)]
    got = http.get(f"/v1/reservations/{res['id']}").json()
    assert got["state"] == "pending" and len(got["lines"]) == 2
    assert http.post(f"/v1/reservations/{res['id']}/release").json()["state"] == "released"
    r = http.post("/v1/route", json=body | {"split_lines": "yes"})
    assert r.status_code == 422 and "split_lines" in r.text
