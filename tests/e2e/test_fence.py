"""A committed kit spread over two shards: a line cancel and the shipment, sent at once
from two API processes, never leave the kit half shipped and half cancelled — one
wins, the other answers a 409 that says why, and the books agree (service.fencing)."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from actors.layout import base_shard_of
from tests.support.cluster import assert_audit_clean
from tests.support.http import DELHI, assert_problem, auth, key, restock

pytestmark = pytest.mark.integration
WH = "WH-DEL"
ROUNDS = 20
RACES = 4  # reservations raced at once per round


@pytest.fixture
def clients(server, second_server):
    """Checkout and ops clients of each API process."""
    made = {(url, k): httpx.Client(base_url=url, headers=auth(k), timeout=30)
            for url in (server, second_server)
            for k in ("test-checkout-key", "test-admin-key")}
    yield [(made[(u, "test-checkout-key")], made[(u, "test-admin-key")])
           for u in (server, second_server)]
    for c in made.values():
        c.close()


def books(http, skus):
    """(on_hand, held, committed) of each SKU at WH."""
    out = []
    for sku in skus:
        w = http.get(f"/v1/inventory/{sku}").json()["warehouses"][WH]
        out.append((w["on_hand"], w["held"], w["committed"]))
    return out


def test_a_kit_cancel_racing_its_shipment_has_one_winner(clients, http, ops_http, skus,
                                                          cluster):
    pool = skus.take(8)
    a, c = pool[0], pool[1]  # a kit component and a plain line
    b = next(s for s in pool[2:] if base_shard_of(s, 2) != base_shard_of(a, 2))
    kit = f"KIT-FENCE-{a}"
    r = ops_http.put(f"/v1/catalog/bundles/{kit}", json={
        "name": "fenced kit", "components": [{"sku": a, "qty": 1}, {"sku": b, "qty": 2}]})
    assert r.status_code == 200, r.text
    rng = random.Random(18)
    outcomes = {"ship first": 0, "cancel first": 0, "cancel fenced the ship": 0}
    for round_ in range(ROUNDS):
        for sku, qty in ((a, 2), (b, 4), (c, 1)):
            restock(ops_http, sku, WH, qty * RACES)
        before = books(http, (a, b, c))
        rids = []
        for _ in range(RACES):
            r = http.post("/v1/reservations", headers=key(), json={"lines": [
                {"sku": kit, "qty": 2, "warehouse": WH}, {"sku": c, "qty": 1, "warehouse": WH}]})
            assert r.status_code == 201, r.text
            rids.append(r.json()["id"])
            assert http.post(f"/v1/reservations/{rids[-1]}/commit").status_code == 200
        start = threading.Barrier(2 * RACES)

        def cancel(i, rid):  # one process cancels, the other ships (swapped each race)
            buyer = clients[(round_ + i) % 2][0]
            start.wait()
            threading.Event().wait(rng.uniform(0, 0.004))
            return buyer.post(f"/v1/reservations/{rid}/lines/cancel", headers=key(),
                              json={"lines": [{"sku": kit, "qty": 1}]})

        def ship(i, rid):
            ops = clients[(round_ + i + 1) % 2][1]
            start.wait()
            threading.Event().wait(rng.uniform(0, 0.004))
            return ops.post("/v1/inventory/movements", headers=key(), json={
                "movements": [{"type": "ship", "reservation_id": rid}]})

        with ThreadPoolExecutor(2 * RACES) as ex:
            futs = [(ex.submit(cancel, i, rid), ex.submit(ship, i, rid))
                    for i, rid in enumerate(rids)]
            answers = [(fc.result(), fs.result()) for fc, fs in futs]
        shipped = [0, 0, 0]
        for rid, (rc, rs) in zip(rids, answers):
            kits = _settle(rid, rc, rs, http, ops_http, outcomes)
            for i, n in enumerate((2 - kits, 4 - 2 * kits, 1)):
                shipped[i] += n
        # the books: shipped units left on_hand, nothing stays held or committed
        after = books(http, (a, b, c))
        assert after == [(on - s, h, co) for (on, h, co), s in zip(before, shipped)], \
            (before, after)
    assert sum(outcomes.values()) == ROUNDS * RACES
    assert_audit_clean(cluster)
    print("outcomes:", outcomes)


def _settle(rid, rc, rs, http, ops_http, outcomes):
    """Check one race (cancel answer ``rc``, ship answer ``rs``): one winner, the
    loser's 409, a consistent reservation; the kits cancelled."""
    codes = (rc.status_code, rs.status_code)
    assert 200 in codes, (rc.text, rs.text)  # never both refused
    if rs.status_code != 200:  # the cancel held the fence: the ship said so
        assert_problem(rs, 409, "reservation-changed")
        assert rs.headers["Retry-After"]
        outcomes["cancel fenced the ship"] += 1
        r = ops_http.post("/v1/inventory/movements", headers=key(), json={
            "movements": [{"type": "ship", "reservation_id": rid}]})
        assert r.status_code == 200, r.text  # and a retry ships the rest
    elif rc.status_code != 200:  # shipped first: the cancel found it shipping
        slug = rc.json()["type"].rsplit("/", 1)[1]
        assert slug in ("illegal-transition", "reservation-changed"), rc.text
        assert_problem(rc, 409, slug)
        outcomes["ship first"] += 1
    else:
        outcomes["cancel first"] += 1
    view = http.get(f"/v1/reservations/{rid}").json()
    assert view["state"] == "shipped", view
    kits = 1 if rc.status_code == 200 else 0
    # every component: the same kits cancelled, the others shipped — never half
    lines = {x["sku"]: (x["qty"], x["state"], x.get("cancelled", 0)) for x in view["lines"]}
    comps = view["bundles"][0]["components"]
    (a, qa), (b, qb) = [(x["sku"], x["qty"]) for x in comps]
    assert lines[a] == (qa * (2 - kits), "shipped", qa * kits), (codes, view)
    assert lines[b] == (qb * (2 - kits), "shipped", qb * kits), (codes, view)
    assert view["bundles"][0]["qty"] == 2 - kits, view
    return kits


def test_a_held_fence_answers_409_reservation_changed_and_changes_nothing(
        http, ops_http, skus, cluster):
    """A holder that does not let go (a process stopped while holding it): after the
    short wait, ship, cancel and reallocate answer 409 with Retry-After; once the
    lease lapses, the ship goes through."""
    import redis

    a, b = skus.take(2)
    for sku in (a, b):
        restock(ops_http, sku, WH, 2)
    restock(ops_http, a, "WH-BLR", 2)  # somewhere to reallocate to
    r = http.post("/v1/reservations", headers=key(), json={"lines": [
        {"sku": a, "qty": 1, "warehouse": WH}, {"sku": b, "qty": 1, "warehouse": WH}]})
    rid = r.json()["id"]
    assert http.post(f"/v1/reservations/{rid}/commit").status_code == 200
    before = books(http, (a, b))
    lease = redis.Redis.from_url(cluster.redis_url)
    assert lease.set(cluster.keys.fence(rid), b"someone-else", nx=True, px=5000)
    ship = ops_http.post("/v1/inventory/movements", headers=key(), json={
        "movements": [{"type": "ship", "reservation_id": rid}]})
    body = assert_problem(ship, 409, "reservation-changed")
    assert body["retry_after_s"] > 0 and ship.headers["Retry-After"] == "1"
    assert_problem(http.post(f"/v1/reservations/{rid}/lines/cancel", headers=key(),
                             json={"lines": [{"sku": a}]}), 409, "reservation-changed")
    assert_problem(ops_http.post(f"/v1/reservations/{rid}/reallocate",
                                 json={"sku": a, "warehouse": WH, "destination": DELHI}),
                   409, "reservation-changed")
    assert books(http, (a, b)) == before  # nothing changed
    assert http.get(f"/v1/reservations/{rid}").json()["state"] == "committed"
    while lease.exists(cluster.keys.fence(rid)):
        threading.Event().wait(0.1)
    ship = ops_http.post("/v1/inventory/movements", headers=key(), json={
        "movements": [{"type": "ship", "reservation_id": rid}]})
    assert ship.status_code == 200, ship.text
    assert http.get(f"/v1/reservations/{rid}").json()["state"] == "shipped"
    lease.close()
