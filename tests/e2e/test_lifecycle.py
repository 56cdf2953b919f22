"""A reservation's life over HTTP: amend (PATCH), cancel lines, and their races."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.http import DELHI, assert_problem, key, restock

pytestmark = pytest.mark.integration
WH = "WH-DEL"


def reserve(http, lines, **extra):
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": lines, "destination": DELHI, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def stock(http, sku, wh=WH):
    return http.get(f"/v1/inventory/{sku}").json()["warehouses"][wh]


def lines_of(body):
    return {(x["sku"], x["warehouse"]): (x["qty"], x["state"]) for x in body["lines"]}


def test_amend_changes_quantities_adds_and_removes_lines(http, ops_http, skus):
    a, b, c = skus.take(3)
    for sku in (a, b, c):
        restock(ops_http, sku, WH, 5)
    res = reserve(http, [{"sku": a, "qty": 2}, {"sku": b, "qty": 1}])
    idem = key()
    body = {"lines": [{"sku": a, "qty": 4}, {"sku": c, "qty": 1}]}
    r = http.patch(f"/v1/reservations/{res['id']}", headers=idem, json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["state"] == "pending" and got["version"] > 0
    assert lines_of(got) == {(a, WH): (4, "pending"), (b, WH): (0, "released"),
                             (c, WH): (1, "pending")}
    assert [stock(http, s)["held"] for s in (a, b, c)] == [4, 0, 1]
    again = http.patch(f"/v1/reservations/{res['id']}", headers=idem, json=body)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert [stock(http, s)["held"] for s in (a, b, c)] == [4, 0, 1]  # nothing twice
    assert_problem(http.patch(f"/v1/reservations/{res['id']}", headers=idem,
                              json={"lines": [{"sku": a, "qty": 1}]}), 422,
                   "idempotency-key-reused")
    # commit follows the current version: every amended line is committed
    done = http.post(f"/v1/reservations/{res['id']}/commit")
    assert done.status_code == 200, done.text
    assert [stock(http, s)["committed"] for s in (a, b, c)] == [4, 0, 1]
    assert [stock(http, s)["held"] for s in (a, b, c)] == [0, 0, 0]
    view = http.get(f"/v1/reservations/{res['id']}").json()
    assert view["state"] == "committed" and lines_of(view)[(a, WH)] == (4, "committed")
    assert_problem(http.patch(f"/v1/reservations/{res['id']}", headers=key(), json=body),
                   409, "illegal-transition")


def test_amend_refusals_are_precise_and_change_nothing(http, ops_http, skus):
    (a,) = skus.take(1)
    restock(ops_http, a, WH, 3)
    res = reserve(http, [{"sku": a, "qty": 2}])
    url = f"/v1/reservations/{res['id']}"
    assert_problem(http.patch(url, headers=key(), json={"lines": [{"sku": a, "qty": 9}]}),
                   409, "insufficient-stock")
    assert_problem(http.patch(url, headers=key(), json={"lines": []}), 422, "validation")
    assert_problem(http.patch(url, headers=key(), json={"lines": [{"sku": a, "qty": "2"}]}),
                   422, "validation")
    assert_problem(http.patch(url, headers=key(), json={
        "lines": [{"sku": a, "qty": 1}, {"sku": a, "qty": 1}]}), 422, "validation")
    assert_problem(http.patch(url, json={"lines": [{"sku": a, "qty": 1}]}), 400,
                   "idempotency-key-missing")
    assert_problem(http.patch("/v1/reservations/res_nope", headers=key(),
                              json={"lines": [{"sku": a, "qty": 1}]}), 404, "not-found")
    assert stock(http, a)["held"] == 2


def test_two_amendments_at_once_one_wins_the_other_409(http, ops_http, skus):
    a, b = skus.take(2)
    restock(ops_http, a, WH, 20)
    restock(ops_http, b, WH, 20)
    for _ in range(3):
        res = reserve(http, [{"sku": a, "qty": 1}])
        bodies = [{"lines": [{"sku": a, "qty": 3}]}, {"lines": [{"sku": b, "qty": 2}]}]
        with ThreadPoolExecutor(2) as pool:
            rs = list(pool.map(lambda body: http.patch(
                f"/v1/reservations/{res['id']}", headers=key(), json=body), bodies))
        codes = sorted(r.status_code for r in rs)
        assert codes in ([200, 200], [200, 409]), [r.text for r in rs]
        for r in rs:
            if r.status_code == 409:
                assert_problem(r, 409, "reservation-changed")
        view = http.get(f"/v1/reservations/{res['id']}").json()
        live = {s: q for (s, _), (q, _) in lines_of(view).items() if q}
        last = [r.json() for r in rs if r.status_code == 200][-1]
        if codes == [200, 409]:
            assert live == {s: q for (s, _), (q, _) in lines_of(last).items() if q}
        http.post(f"/v1/reservations/{res['id']}/release")
    assert stock(http, a)["held"] == 0 and stock(http, b)["held"] == 0


def test_amend_racing_commit_never_disagrees_with_the_ledger(http, ops_http, skus):
    a, b = skus.take(2)
    restock(ops_http, a, WH, 30)
    restock(ops_http, b, WH, 30)
    outcomes = set()
    for _ in range(4):
        res = reserve(http, [{"sku": a, "qty": 1}])
        before = (stock(http, a)["committed"], stock(http, b)["committed"])
        with ThreadPoolExecutor(2) as pool:
            amend = pool.submit(http.patch, f"/v1/reservations/{res['id']}", headers=key(),
                                json={"lines": [{"sku": a, "qty": 2}, {"sku": b, "qty": 1}]})
            commit = pool.submit(http.post, f"/v1/reservations/{res['id']}/commit")
            ra, rc = amend.result(), commit.result()
        assert rc.status_code == 200, rc.text
        outcomes.add(ra.status_code)
        after = (stock(http, a)["committed"], stock(http, b)["committed"])
        if ra.status_code == 200:  # the amendment first: the commit took the amended order
            assert (after[0] - before[0], after[1] - before[1]) == (2, 1)
        else:
            assert_problem(ra, 409, "illegal-transition")
            assert (after[0] - before[0], after[1] - before[1]) == (1, 0)
        view = http.get(f"/v1/reservations/{res['id']}").json()
        assert view["state"] == "committed"
        assert sum(x["qty"] for x in view["lines"]) == sum(after) - sum(before)
    assert stock(http, a)["held"] == 0 and stock(http, b)["held"] == 0


def test_cancel_lines_pending_releases_committed_cancels(http, ops_http, skus):
    a, b = skus.take(2)
    restock(ops_http, a, WH, 5)
    restock(ops_http, b, WH, 5)
    res = reserve(http, [{"sku": a, "qty": 3}, {"sku": b, "qty": 2}])
    url = f"/v1/reservations/{res['id']}"
    r = http.post(f"{url}/lines/cancel", headers=key(), json={"lines": [{"sku": a, "qty": 1}]})
    assert r.status_code == 200, r.text
    assert lines_of(r.json())[(a, WH)] == (2, "pending")
    assert stock(http, a)["held"] == 2
    assert http.post(f"{url}/commit").status_code == 200
    idem = key()
    r = http.post(f"{url}/lines/cancel", headers=idem, json={"lines": [{"sku": b}]})
    assert r.status_code == 200, r.text
    got = {x["sku"]: x for x in r.json()["lines"]}
    assert got[b]["state"] == "cancelled" and got[b]["cancelled"] == 2 and got[b]["qty"] == 0
    assert got[a]["state"] == "committed" and got[a]["released"] == 1
    again = http.post(f"{url}/lines/cancel", headers=idem, json={"lines": [{"sku": b}]})
    assert again.status_code == 200  # the same request again: nothing more cancelled
    assert stock(http, b)["committed"] == 0 and stock(http, b)["available"] == 5
    assert_problem(http.post(f"{url}/lines/cancel", headers=key(),
                             json={"lines": [{"sku": a, "qty": 3}]}), 422, "validation")
    assert_problem(http.post(f"{url}/lines/cancel", headers=key(),
                             json={"lines": [{"sku": b}]}), 422, "validation")


def ship(ops_http, rid):
    return ops_http.post("/v1/inventory/movements", headers=key(), json={
        "movements": [{"type": "ship", "reservation_id": rid}]})


def test_reallocate_moves_a_committed_line_to_the_runner_up(http, ops_http, skus):
    (a,) = skus.take(1)
    restock(ops_http, a, WH, 2)
    restock(ops_http, a, "WH-BLR", 5)
    # held at WH as given: routed, the cost model may prefer WH-BLR's deeper stock for
    # some SKUs (taking WH's last units costs stock health), and this test needs WH
    res = reserve(http, [{"sku": a, "qty": 2, "warehouse": WH}])
    url = f"/v1/reservations/{res['id']}"
    assert_problem(ops_http.post(f"{url}/reallocate", json={"sku": a, "warehouse": WH}),
                   409, "illegal-transition")  # pending: nothing to move yet
    assert http.post(f"{url}/commit").status_code == 200
    assert_problem(http.post(f"{url}/reallocate", json={"sku": a, "warehouse": WH}),
                   403, "forbidden")
    assert_problem(ops_http.post(f"{url}/reallocate", json={"sku": a, "warehouse": "WH-BOM"}),
                   422, "validation")  # no such line there
    r = ops_http.post(f"{url}/reallocate", json={"sku": a, "warehouse": WH,
                                                 "destination": DELHI, "reason": "damaged"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["from"], body["qty"]) == (WH, 2) and body["to"] != WH
    assert body["plan"]["shipments"][0]["warehouse"] == body["to"]
    assert lines_of(body["reservation"]) == {(a, body["to"]): (2, "committed")}
    assert (stock(http, a)["committed"], stock(http, a)["available"]) == (0, 2)
    assert stock(http, a, body["to"])["committed"] == 2
    # nowhere else to go: the answer says why, nothing moves
    again = ops_http.post(f"{url}/reallocate", json={"sku": a, "warehouse": body["to"],
                                                     "destination": DELHI,
                                                     "promise_days": 0})
    assert again.status_code in (409, 422), again.text
    assert stock(http, a, body["to"])["committed"] == 2
    assert ship(ops_http, res["id"]).status_code == 200
    assert stock(http, a, body["to"])["on_hand"] == 3


def test_reallocate_racing_ship_one_wins(http, ops_http, skus):
    (a,) = skus.take(1)
    restock(ops_http, a, WH, 10)
    restock(ops_http, a, "WH-BLR", 10)
    seen = set()
    for _ in range(3):
        res = reserve(http, [{"sku": a, "qty": 1}])
        assert http.post(f"/v1/reservations/{res['id']}/commit").status_code == 200
        with ThreadPoolExecutor(2) as pool:
            move = pool.submit(ops_http.post, f"/v1/reservations/{res['id']}/reallocate",
                               json={"sku": a, "warehouse": WH})
            shipped = pool.submit(ship, ops_http, res["id"])
            rm, rs = move.result(), shipped.result()
        assert rs.status_code == 200, rs.text
        if rm.status_code != 200:
            assert_problem(rm, 409, "illegal-transition")
        seen.add(rm.status_code)
        view = http.get(f"/v1/reservations/{res['id']}").json()
        assert view["state"] == "shipped"
        (line,) = view["lines"]
        assert line["warehouse"] == (rm.json()["to"] if rm.status_code == 200 else WH)
    total = stock(http, a)["on_hand"] + stock(http, a, "WH-BLR")["on_hand"]
    assert total == 17 and stock(http, a)["committed"] == 0
