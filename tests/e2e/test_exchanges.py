"""Exchanges over HTTP: a shipped line's return and its replacement's hold in one
request, linked both ways and in events; all-or-nothing; two at once, one wins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.http import DELHI, assert_problem, key, restock

pytestmark = pytest.mark.integration
WH = "WH-DEL"


def stock(http, sku, wh=WH):
    return http.get(f"/v1/inventory/{sku}").json()["warehouses"][wh]


def shipped(http, ops_http, lines):
    r = http.post("/v1/reservations", headers=key(), json={"lines": lines,
                                                           "destination": DELHI})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert http.post(f"/v1/reservations/{rid}/commit").status_code == 200
    s = ops_http.post("/v1/inventory/movements", headers=key(), json={
        "movements": [{"type": "ship", "reservation_id": rid}]})
    assert s.status_code == 200, s.text
    return rid


def exchange(http, rid, sku, qty, repl, repl_qty, headers=None):
    return http.post(f"/v1/reservations/{rid}/exchanges", headers=headers or key(), json={
        "sku": sku, "qty": qty, "reason": "size",
        "replacement": {"sku": repl, "qty": repl_qty}})


def test_exchange_returns_a_shipped_line_and_holds_its_replacement(http, ops_http, skus):
    a, b = skus.take(2)
    restock(ops_http, a, WH, 5)
    restock(ops_http, b, WH, 5)
    pending = http.post("/v1/reservations", headers=key(), json={
        "lines": [{"sku": a, "qty": 1}], "destination": DELHI}).json()
    assert_problem(exchange(http, pending["id"], a, 1, b, 1), 409, "illegal-transition")
    rid = shipped(http, ops_http, [{"sku": a, "qty": 2}])
    on_hand = stock(http, a)["on_hand"]
    idem = key()
    r = exchange(http, rid, a, 1, b, 1, idem)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["state"] == "pending" and new["id"] != rid
    assert new["exchange_of"] == {"reservation_id": rid, "sku": a, "warehouse": WH, "qty": 1}
    assert [(x["sku"], x["qty"]) for x in new["lines"]] == [(b, 1)]
    assert stock(http, b)["held"] == 1
    assert stock(http, a)["on_hand"] == on_hand  # to inspection, not back on sale
    again = exchange(http, rid, a, 1, b, 1, idem)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == new["id"] and stock(http, b)["held"] == 1
    view = http.get(f"/v1/reservations/{rid}").json()
    assert view["state"] == "shipped"
    assert [e["reservation_id"] for e in view["exchanges"]] == [new["id"]]
    assert view["lines"][0]["returned"] == 1
    # the replacement cannot be held: nothing recorded, the units may still be returned
    assert_problem(exchange(http, rid, a, 1, b, 99), 409, "insufficient-stock")
    assert len(http.get(f"/v1/reservations/{rid}").json()["exchanges"]) == 1
    assert_problem(exchange(http, rid, a, 2, b, 1), 409, "already-returned")
    assert exchange(http, rid, a, 1, b, 1).status_code == 201
    body = assert_problem(exchange(http, rid, a, 1, b, 1), 409, "already-returned")
    assert (body["returned"], body["shipped"]) == (2, 2)
    assert_problem(exchange(http, rid, "NOPE", 1, b, 1), 422, "validation")
    assert_problem(http.post(f"/v1/reservations/{rid}/exchanges", json={
        "sku": a, "qty": 1, "replacement": {"sku": b, "qty": 1}}), 400,
        "idempotency-key-missing")
    # linked in events, both ways
    events = http.get(f"/v1/reservations/{rid}/events").json()["events"]
    returned = [e for e in events if e["type"] == "exchange_returned"]
    assert {e["exchange_id"] for e in returned} >= {new["id"]}
    events = http.get(f"/v1/reservations/{new['id']}/events").json()["events"]
    assert any(e["type"] == "exchange_reserved" and e["exchange_of"] == rid for e in events)
    # the replacement lives like any reservation
    assert http.post(f"/v1/reservations/{new['id']}/commit").status_code == 200
    assert stock(http, b)["committed"] == 1


def test_two_exchanges_of_one_shipped_line_one_wins(http, ops_http, skus):
    a, b = skus.take(2)
    restock(ops_http, a, WH, 10)
    restock(ops_http, b, WH, 10)
    for _ in range(3):
        rid = shipped(http, ops_http, [{"sku": a, "qty": 1}])
        held = stock(http, b)["held"]
        with ThreadPoolExecutor(2) as pool:
            rs = list(pool.map(lambda _: exchange(http, rid, a, 1, b, 1), range(2)))
        assert sorted(r.status_code for r in rs) == [201, 409], [r.text for r in rs]
        loser = next(r for r in rs if r.status_code == 409)
        assert_problem(loser, 409, "already-returned")
        winner = next(r for r in rs if r.status_code == 201).json()
        assert stock(http, b)["held"] == held + 1  # the loser holds nothing
        view = http.get(f"/v1/reservations/{rid}").json()
        assert [e["reservation_id"] for e in view["exchanges"]] == [winner["id"]]
