"""``POST /v1/allocations/wave`` over HTTP against the real stack: joint allocation that
beats greedy, each order all-or-nothing, never oversold (also under concurrent waves),
idempotent replay, precise problems."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.http import DELHI, assert_problem, auth, key, restock

WAVE = "/v1/allocations/wave"


def held(ops_http, sku):
    """Per warehouse: (on_hand, held + committed, available) of ``sku``."""
    rows = ops_http.get(f"/v1/inventory/{sku}").json()["warehouses"]
    return {w: (r["on_hand"], r["held"] + r["committed"], r["available"])
            for w, r in rows.items()}


def test_wave_fills_what_greedy_cannot_and_explains_it(http, ops_http, skus):
    a, b, c = skus.take(3)
    restock(ops_http, a, "WH-DEL", 1)
    restock(ops_http, a, "WH-BOM", 1)
    restock(ops_http, b, "WH-DEL", 5)
    restock(ops_http, c, "WH-DEL", 1)
    orders = [
        # first come: greedy gives it Delhi's only unit, the nearest...
        {"key": "any", "lines": [{"sku": a, "qty": 1}], "destination": DELHI},
        # ...which this one needed: only Delhi meets its hard 2-day promise
        {"key": "urgent", "lines": [{"sku": a, "qty": 1}], "destination": DELHI,
         "promise_days": 2, "hard_promise": True},
        # all-or-nothing: c is short, so b is not held either
        {"key": "short", "lines": [{"sku": b, "qty": 2}, {"sku": c, "qty": 2}],
         "destination": DELHI},
        {"key": "pre", "lines": [{"sku": b, "qty": 1, "warehouse": "WH-DEL"}]},
        {"key": "nowhere", "lines": [{"sku": b, "qty": 1}], "destination": "999999"},
    ]
    h = key()
    r = http.post(WAVE, headers=h, json={"orders": orders, "budget_ms": 150})
    assert r.status_code == 200, r.text
    out = r.json()
    res = {x["key"]: x for x in out["results"]}
    assert [x["status"] for x in out["results"]] == ["reserved", "reserved", "failed",
                                                     "failed", "failed"]
    assert res["any"]["reservation"]["lines"] == [{"sku": a, "warehouse": "WH-BOM", "qty": 1}]
    assert res["urgent"]["reservation"]["lines"] == [{"sku": a, "warehouse": "WH-DEL",
                                                      "qty": 1}]
    why = res["urgent"]["allocation"]
    assert why["filled"] and not why["greedy"]["filled"] and "greedy" in why["why"]
    assert res["any"]["allocation"]["greedy"]["lines"][0]["warehouse"] == "WH-DEL"
    assert res["any"]["allocation"]["cost_delta_inr"] > 0          # dearer, so urgent fills
    assert res["short"]["problem"]["type"] == "/problems/insufficient-stock"
    assert res["pre"]["problem"]["type"] == "/problems/validation"
    assert res["nowhere"]["problem"]["type"] == "/problems/unknown-destination"
    assert res["pre"]["allocation"] is None
    wave = out["wave"]
    assert (wave["filled"], wave["greedy_filled"], wave["orders"]) == (2, 1, 3)
    assert (out["reserved"], out["failed"]) == (2, 3)
    assert held(ops_http, b)["WH-DEL"] == (5, 0, 5)                 # nothing of "short"
    assert held(ops_http, a)["WH-DEL"][2] == 0 and held(ops_http, a)["WH-BOM"][2] == 0

    again = http.post(WAVE, headers=h, json={"orders": orders, "budget_ms": 150})
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == out
    assert held(ops_http, a)["WH-DEL"][1] == 1                      # not held twice
    other = http.post(WAVE, headers=h, json={"orders": orders[:1]})
    assert_problem(other, 422, "idempotency-key-reused")
    rid = res["urgent"]["reservation"]["id"]
    assert http.post(f"/v1/reservations/{rid}/commit").json()["state"] == "committed"


def test_concurrent_waves_never_oversell(server, ops_http, skus):
    (sku,) = skus.take()
    stock = {"WH-DEL": 3, "WH-BOM": 2, "WH-BLR": 2}
    for wh, q in stock.items():
        restock(ops_http, sku, wh, q)
    destinations = [DELHI, "400001", "560001", "600001"]
    orders = [{"lines": [{"sku": sku, "qty": 1 + i % 2}], "destination": destinations[i % 4]}
              for i in range(8)]                                    # 12 units wanted, 7 held

    def one(_: int) -> dict:
        with httpx.Client(base_url=server, headers=auth("test-checkout-key"), timeout=60) as c:
            r = c.post(WAVE, headers=key(), json={"orders": orders})
            assert r.status_code == 200, r.text
            return r.json()

    with ThreadPoolExecutor(3) as pool:
        outs = list(pool.map(one, range(3)))
    lines = [l for o in outs for x in o["results"] if x["status"] == "reserved"
             for l in x["reservation"]["lines"]]
    for wh, q in stock.items():
        taken = sum(l["qty"] for l in lines if l["warehouse"] == wh)
        on_hand, held_units, available = held(ops_http, sku)[wh]
        assert taken == held_units <= q == on_hand and available >= 0
    for o in outs:
        for x, want in zip(o["results"], orders):
            if x["status"] == "reserved":                           # whole, never partial
                assert sum(l["qty"] for l in x["reservation"]["lines"]) == \
                    want["lines"][0]["qty"]
            else:
                assert x["problem"]["type"] == "/problems/insufficient-stock"


def test_wave_refuses_bad_requests_precisely(http, server):
    body = {"orders": [{"lines": [{"sku": "SKU-00001", "qty": 1}], "destination": DELHI}]}
    assert_problem(http.post(WAVE, json=body), 400, "idempotency-key-missing")
    assert_problem(http.post(WAVE, headers=key(), json={**body, "budget_ms": 1}), 422,
                   "validation")
    assert_problem(http.post(WAVE, headers=key(), json={"orders": []}), 422, "validation")
    dup = {"orders": [{**body["orders"][0], "key": "k"}] * 2}
    assert "appears more than once" in assert_problem(
        http.post(WAVE, headers=key(), json=dup), 422, "validation")["detail"]
    with httpx.Client(base_url=server, headers=auth("test-ops-key"), timeout=30) as ops:
        assert_problem(ops.post(WAVE, headers=key(), json=body), 403, "forbidden")
