"""Regression tests for what adversarial testing found (issue #12), over HTTP against a
real uvicorn process, real Ray shards and a real Redis."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.http import CUSTOMER_CAP, DELHI, assert_problem, auth, key, restock

pytestmark = pytest.mark.integration


def two_shard_pair(skus, client):
    a = skus.take()[0]
    b = skus.take()[0]
    while client.owner(a) == client.owner(b):
        (b,) = skus.take()
    return a, b


def race(server, rid, n=2):
    """Commit and release the same reservation at the same moment."""
    barrier = threading.Barrier(n)

    def go(verb):
        with httpx.Client(base_url=server, headers=auth("test-checkout-key"), timeout=30) as c:
            barrier.wait()
            return verb, c.post(f"/v1/reservations/{rid}/{verb}")

    with ThreadPoolExecutor(n) as pool:
        return dict(pool.map(go, ["commit", "release"]))


@pytest.mark.parametrize("shards", [1, 2])
def test_commit_racing_release_has_one_winner_and_the_books_agree(
        server, http, ops_http, client, skus, shards):
    if shards == 1:
        lines_skus = [skus.take()[0]]
    else:
        lines_skus = list(two_shard_pair(skus, client))
    for s in lines_skus:
        restock(ops_http, s, "WH-DEL", 200)
    outcomes = Counter()
    for i in range(40):
        body = {"lines": [{"sku": s, "qty": 1, "warehouse": "WH-DEL"} for s in lines_skus]}
        res = http.post("/v1/reservations", headers=key(), json=body).json()
        got = race(server, res["id"])
        commit, release = got["commit"], got["release"]
        winners = [v for v, r in got.items() if r.status_code == 200]
        assert len(winners) == 1, (commit.text, release.text)
        loser = got["release" if winners == ["commit"] else "commit"]
        assert_problem(loser, 409, "illegal-transition")
        final = http.get(f"/v1/reservations/{res['id']}").json()["state"]
        assert final == ("committed" if winners == ["commit"] else "released")
        outcomes[winners[0]] += 1
    committed = outcomes["commit"]
    for s in lines_skus:  # the ledger agrees with what clients were told
        inv = ops_http.get(f"/v1/inventory/{s}").json()["warehouses"]["WH-DEL"]
        assert (inv["held"], inv["committed"]) == (0, committed), (inv, outcomes)


def test_movements_apply_all_or_nothing(http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 10)
    before = ops_http.get(f"/v1/inventory/{sku}").json()["warehouses"]["WH-DEL"]["on_hand"]
    r = ops_http.post("/v1/inventory/movements", headers=key(), json={"movements": [
        {"type": "restock", "sku": sku, "warehouse": "WH-DEL", "qty": 5},
        {"type": "ship", "reservation_id": "res_" + "0" * 32}]})
    assert_problem(r, 404, "not-found")
    pending = http.post("/v1/reservations", headers=key(), json={
        "lines": [{"sku": sku, "qty": 1, "warehouse": "WH-DEL"}]}).json()
    r = ops_http.post("/v1/inventory/movements", headers=key(), json={"movements": [
        {"type": "return", "sku": sku, "warehouse": "WH-DEL", "qty": 2},
        {"type": "ship", "reservation_id": pending["id"]}]})
    assert_problem(r, 409, "illegal-transition")
    after = ops_http.get(f"/v1/inventory/{sku}").json()["warehouses"]["WH-DEL"]["on_hand"]
    assert after == before  # neither the restock nor the return applied
    # the corrected request applies once, however often it is retried
    http.post(f"/v1/reservations/{pending['id']}/commit")
    h = key()
    fixed = {"movements": [{"type": "return", "sku": sku, "warehouse": "WH-DEL", "qty": 2},
                           {"type": "ship", "reservation_id": pending["id"]}]}
    for _ in range(3):
        assert ops_http.post("/v1/inventory/movements", headers=h, json=fixed).status_code == 200
    inv = ops_http.get(f"/v1/inventory/{sku}").json()["warehouses"]["WH-DEL"]
    assert (inv["on_hand"], inv["committed"]) == (before + 2 - 1, 0)


def test_reservation_ids_cannot_collide(server, http, ops_http, skus):
    a, b = skus.take(2)
    restock(ops_http, a, "WH-DEL", 10)
    restock(ops_http, b, "WH-DEL", 10)
    batch_key = str(uuid.uuid4())
    body = {"orders": [
        {"key": "1", "lines": [{"sku": a, "qty": 1, "warehouse": "WH-DEL"}]},
        {"lines": [{"sku": b, "qty": 1, "warehouse": "WH-DEL"}]},
        {"lines": [{"sku": a, "qty": 1}], "destination": DELHI},
        {"lines": [{"sku": b, "qty": 1}, {"sku": a, "qty": 1}], "destination": DELHI}]}
    out = http.post("/v1/reservations/batch", headers={"Idempotency-Key": batch_key},
                    json=body).json()
    ids = [x["reservation"]["id"] for x in out["results"]]
    assert len(set(ids)) == 4 and out["reserved"] == 4
    assert [x["key"] for x in out["results"]] == ["1", None, None, None]
    # a single reserve whose key looks like the batch's order is its own reservation
    single = http.post("/v1/reservations", headers={"Idempotency-Key": f"{batch_key}:0"},
                       json={"lines": [{"sku": a, "qty": 1, "warehouse": "WH-DEL"}]})
    assert single.status_code == 201 and single.json()["id"] not in ids
    for rid in ids + [single.json()["id"]]:  # every one of them holds its own units
        assert http.post(f"/v1/reservations/{rid}/commit").status_code == 200
    inv_a = ops_http.get(f"/v1/inventory/{a}").json()["totals"]
    inv_b = ops_http.get(f"/v1/inventory/{b}").json()["totals"]
    assert (inv_a["committed"], inv_b["committed"]) == (4, 2)
    dup = {"orders": [{"key": "x", "lines": [{"sku": a, "qty": 1, "warehouse": "WH-DEL"}]},
                      {"key": "x", "lines": [{"sku": b, "qty": 1, "warehouse": "WH-DEL"}]}]}
    r = http.post("/v1/reservations/batch", headers=key(), json=dup)
    assert "appears more than once" in assert_problem(r, 422, "validation")["detail"]


def test_bodies_are_validated_strictly(http, skus):
    (sku,) = skus.take()
    for bad in ({"lines": [{"sku": sku, "qty": "5", "warehouse": "WH-DEL"}]},
                {"lines": [{"sku": sku, "qty": True, "warehouse": "WH-DEL"}]},
                {"lines": [{"sku": sku, "qty": 1, "warehouse": "WH-DEL"}], "ttl_s": 0.0004},
                {"lines": [{"sku": sku, "qty": 1, "warehouse": "WH-DEL"}], "ttl_s": "10"}):
        assert_problem(http.post("/v1/reservations", headers=key(), json=bad), 422,
                       "validation")


def test_one_customer_cannot_hold_more_than_the_purchase_limit(server, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 100)

    def buyer(i):
        with httpx.Client(base_url=server, headers=auth("test-checkout-key"), timeout=60) as c:
            return c.post("/v1/reservations", headers=key(), json={
                "lines": [{"sku": sku, "qty": 1, "warehouse": "WH-DEL"}],
                "customer_id": "scalper-1"})

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(buyer, range(200)))
    codes = Counter(r.status_code for r in answers)
    assert codes == {201: CUSTOMER_CAP, 409: 200 - CUSTOMER_CAP}, codes
    refusal = next(r for r in answers if r.status_code == 409)
    body = assert_problem(refusal, 409, "purchase-limit")
    assert body["limit"] == "customer" and body["allowed"] == 0
    # another customer is not affected
    with httpx.Client(base_url=server, headers=auth("test-checkout-key"), timeout=30) as c:
        r = c.post("/v1/reservations", headers=key(), json={
            "lines": [{"sku": sku, "qty": 1, "warehouse": "WH-DEL"}], "customer_id": "c-2"})
        assert r.status_code == 201
        held = ops_http.get(f"/v1/inventory/{sku}").json()["totals"]["held"]
        assert held == CUSTOMER_CAP + 1


def test_one_api_key_cannot_hold_more_than_its_share(server, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 100)  # max_share 0.1: 10 units at once

    def buyer(i):
        with httpx.Client(base_url=server, headers=auth("test-share-key"), timeout=60) as c:
            return c.post("/v1/reservations", headers=key(), json={
                "lines": [{"sku": sku, "qty": 1, "warehouse": "WH-DEL"}]})

    with ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(buyer, range(200)))
    codes = Counter(r.status_code for r in answers)
    assert codes == {201: 10, 429: 190}, codes
    body = assert_problem(next(r for r in answers if r.status_code == 429), 429,
                          "key-share-limit")
    assert body["limit"] == "api_key_share"
    # committed units no longer count as held: the key may hold again
    with httpx.Client(base_url=server, headers=auth("test-share-key"), timeout=30) as c:
        ok = [r.json()["id"] for r in answers if r.status_code == 201]
        for rid in ok[:5]:
            assert c.post(f"/v1/reservations/{rid}/commit").status_code == 200
        again = c.post("/v1/reservations", headers=key(), json={
            "lines": [{"sku": sku, "qty": 5, "warehouse": "WH-DEL"}]})
        assert again.status_code == 201, again.text


def test_expensive_requests_cost_more_of_the_rate_limit(server, skus):
    pool = skus.take(12)
    big = {"lines": [{"sku": s, "qty": 1} for s in pool], "destination": DELHI,
           "allow_substitutes": True}  # 1 + 0.5 × 11 + 1 = 7.5 tokens
    with httpx.Client(base_url=server, headers=auth("test-small-key"), timeout=30) as c:
        assert c.post("/v1/route", json=big).status_code == 200
        r = c.post("/v1/route", json=big)  # 2.5 tokens left of a burst of 10
        body = assert_problem(r, 429, "rate-limited")
        assert body["cost"] == 7.5 and int(r.headers["Retry-After"]) >= 1
        huge = {"lines": [{"sku": s, "qty": 1} for s in skus.take(30)], "destination": DELHI}
        body = assert_problem(c.post("/v1/route", json=huge), 429, "rate-limited")
        assert "split it" in body["detail"]  # 15.5 tokens: more than the burst
