"""reserve = route + hold, on a real local Ray cluster with real Redis."""

from __future__ import annotations

import asyncio
import gc

import pytest

from allocator.errors import InsufficientStock, UnknownHold, UnknownSku
from routing import Order
from tests.support.cluster import assert_audit_clean, restock, stock_of

pytestmark = pytest.mark.integration
DELHI = "110001"


@pytest.fixture(scope="module")
def routed(svc):
    return svc


def order(*lines, dest=DELHI, **kw):
    return Order.from_dict({"lines": [{"sku": s, "qty": q} for s, q in lines],
                            "destination": dest, **kw})


def held_at(cluster, client, sku):
    return {wh: row["held"] for wh, row in stock_of(cluster, client, sku).items() if row["held"]}


def test_reserve_holds_the_cheapest_plan(cluster, client, routed, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 5)
    restock(client, sku, "WH-BLR", 5)
    # the service's view now, not a background refresh that fell between the restocks
    # (one showing DEL's units alone plans DEL with no runner-up)
    routed.run(routed.checkout.client.fresh([sku]))
    res = routed.reserve(order((sku, 2)), key="near-delhi", owner="k1")
    assert res.state.value == "pending"
    assert res.lines == [(sku, "WH-DEL", 2)]
    assert res.plan["shipments"][0]["warehouse"] == "WH-DEL"
    assert res.plan["runner_up"]["shipments"][0]["warehouse"] == "WH-BLR"
    assert held_at(cluster, client, sku) == {"WH-DEL": 2}
    # a replay of the same key returns the same reservation, holding nothing more
    again = routed.reserve(order((sku, 2)), key="near-delhi", owner="k1")
    assert again.id == res.id and held_at(cluster, client, sku) == {"WH-DEL": 2}
    assert routed.commit(res.id, owner="k1").state.value == "committed"
    routed.reserve(order((sku, 5)), key="takes-blr", owner="k2")
    routed.reserve(order((sku, 3)), key="takes-del", owner="k2")
    # sold out now, yet a replay still answers the first reservation
    assert routed.reserve(order((sku, 2)), key="near-delhi", owner="k1").id == res.id
    assert_audit_clean(cluster)


def test_fresh_rows_are_read_after_the_request_and_shared_while_one_is_in_flight(
        client, routed, skus):
    """A fresh read answers only requests that arrived before it was sent: one arriving
    while a read is in flight waits for the next (and sees what changed meanwhile);
    the many that arrive during one read share a single next read."""
    (sku,) = skus.take()
    views = routed.checkout.client
    wh = list(views.layout.warehouses).index("WH-DEL")

    async def scenario():
        first = asyncio.ensure_future(views.fresh([sku]))
        for _ in range(3):  # the read goes out on the next loop turn
            await asyncio.sleep(0)
        link = views._link(views.owner(sku))
        assert link.rows_reading, "the first read should be in flight"
        before = views.stats["row_reads"]
        restock(client, sku, "WH-DEL", 7)  # lands after the in-flight read was sent
        later = []
        for _ in range(20):  # arrivals on separate loop turns, all during that read
            later.append(asyncio.ensure_future(views.fresh([sku])))
            await asyncio.sleep(0)
        await first
        rows = await asyncio.gather(*later)
        return views.stats["row_reads"] - before, [int(r[sku][wh]) for r in rows]

    reads, seen = routed.run(scenario())
    assert seen == [7] * 20  # every later request saw the restock
    assert reads <= 3  # not one per arrival: one or two shared reads (3: a slow loop)


def test_reserve_splits_across_shards_when_no_warehouse_has_both(cluster, client, routed,
                                                                 skus):
    layout = client.refresh()
    a, b = skus.take(2)
    while layout.owner(a) == layout.owner(b):  # the two lines on different shards
        (b,) = skus.take()
    restock(client, a, "WH-DEL", 3)
    restock(client, b, "WH-JAI", 3)
    res = routed.reserve(order((a, 1), (b, 1)), key="split", owner="k1")
    assert sorted(res.lines) == sorted([(a, "WH-DEL", 1), (b, "WH-JAI", 1)])
    assert len(res.holds) == 2 and len(res.plan["shipments"]) == 2
    routed.release(res.id, owner="k1")
    assert held_at(cluster, client, a) == {} and held_at(cluster, client, b) == {}


def test_unfillable_order_explains_the_shortfall_and_holds_nothing(cluster, client, routed,
                                                                   skus):
    a, b = skus.take(2)
    restock(client, a, "WH-DEL", 3)
    with pytest.raises(InsufficientStock) as err:
        routed.reserve(order((a, 1), (b, 4)), key="short", owner="k1")
    shortfall = err.value.details["shortfall"]
    assert [s["sku"] for s in shortfall["short_lines"]] == [b]
    assert shortfall["backorder_option"]["backorder"] == [{"sku": b, "qty": 4}]
    assert held_at(cluster, client, a) == {}


def test_unknown_sku_is_rejected_before_anything_is_read(routed):
    with pytest.raises(UnknownSku):
        routed.reserve(order(("NOPE-1", 1)), key="bad", owner="k1")


def test_stock_taken_between_route_and_hold_reroutes(cluster, client, svc, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 2)
    restock(client, sku, "WH-BLR", 2)
    checkout = svc.checkout
    calls = []
    real_hold = checkout._hold

    async def racing_hold(rid, caller, lines, *args):
        if not calls:  # a rival takes the planned units before our hold lands
            await real_hold(rid + "-rival", caller, lines, *args)
        calls.append(lines)
        return await real_hold(rid, caller, lines, *args)

    checkout._hold = racing_hold
    try:
        res = svc.reserve(order((sku, 2)), key="raced", owner="k1")
    finally:
        del checkout._hold
    assert calls[0] == [(sku, "WH-DEL", 2)]
    assert res.lines == [(sku, "WH-BLR", 2)]
    assert held_at(cluster, client, sku) == {"WH-DEL": 2, "WH-BLR": 2}
    assert_audit_clean(cluster)


def test_bulk_rows_are_reservations_read_back_from_redis(cluster, client, svc, skus):
    from service.orders import Caller

    a, b = skus.take(2)
    restock(client, a, "WH-DEL", 2)
    out = svc.run(svc.services.batches.reserve_columns(
        [a, a, a, b, "NOPE"], ["WH-DEL"] * 4 + ["WH-DEL"], [1, 1, 1, 1, 1], None,
        Caller("k1"), "bulk-read-back", "fp"))
    ids, errors = out.value.ids(), out.value.errors()
    assert errors == [None, None, "insufficient_stock", "insufficient_stock", "unknown_sku"]
    svc.checkout.records._cache.clear()  # another process: nothing cached
    res = svc.get(ids[1], owner="k1")
    assert res.lines == [(a, "WH-DEL", 1)] and res.state.value == "pending"
    assert svc.commit(ids[1], owner="k1").state.value == "committed"
    with pytest.raises(UnknownHold):
        svc.get(ids[1], owner="k2")
    with pytest.raises(UnknownHold):
        svc.get(ids[1][:-1] + "9", owner="k1")  # a row that does not exist
    assert held_at(cluster, client, a) == {"WH-DEL": 1}


def test_a_split_line_is_held_in_parts_all_or_nothing(cluster, client, svc, skus):
    """Flash sale: no warehouse has 5, three have 2 each. Without splits the order is
    sold out; with ``split_lines`` its parts are held together, read back, committed —
    and when one part cannot be held, none is."""
    a, b = skus.take(2)
    for wh in ("WH-DEL", "WH-JAI", "WH-LKO"):
        restock(client, a, wh, 2)
    with pytest.raises(InsufficientStock) as err:
        svc.reserve(order((a, 5)), key="whole", owner="k1")
    assert err.value.details["shortfall"]["short_lines"][0]["split_would_fill"] is True
    res = svc.reserve(order((a, 5), split_lines=True), key="parts", owner="k1")
    assert sum(q for _, _, q in res.lines) == 5 and len({w for _, w, _ in res.lines}) == 3
    assert res.plan["splits"][0]["sku"] == a and res.plan["splits"][0]["qty"] == 5
    held = held_at(cluster, client, a)
    assert sum(held.values()) == 5 and set(held) <= {"WH-DEL", "WH-JAI", "WH-LKO"}
    got = svc.get(res.id, owner="k1")
    assert sorted(got.lines) == sorted(res.lines) and got.state.value == "pending"
    assert svc.commit(res.id, owner="k1").state.value == "committed"

    # all-or-nothing: a rival takes one part's units between route and hold
    for wh in ("WH-DEL", "WH-JAI"):
        restock(client, b, wh, 2)
    checkout = svc.checkout
    real_hold, calls = checkout._hold, []

    async def racing_hold(rid, caller, lines, *args):
        if not calls:
            await real_hold(rid + "-rival", caller, [lines[-1]], *args)
        calls.append(lines)
        return await real_hold(rid, caller, lines, *args)

    checkout._hold = racing_hold
    try:
        with pytest.raises(InsufficientStock):
            svc.reserve(order((b, 4), split_lines=True), key="raced-parts", owner="k1")
    finally:
        del checkout._hold
    assert len(calls[0]) == 2                       # the planned parts, two warehouses
    rival_part = calls[0][-1]
    # only the rival's part is held: this order's other part was given back
    assert held_at(cluster, client, b) == {rival_part[1]: rival_part[2]}
    assert_audit_clean(cluster)



def _view_shows_none(client, sku):
    """This client's view of ``sku`` says 0 everywhere, as a view behind its shard does
    after units came back (expired or released holds); the shard is unchanged."""
    shard = client.owner(sku)
    client._view[shard][client._rows[shard][sku]] = 0


@pytest.mark.parametrize("action", ["route", "reserve"])
def test_an_order_short_on_the_view_is_planned_once_on_fresh_rows(client, svc, skus, action):
    from service.orders import Caller, HoldRequest

    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 3)
    checkout = svc.checkout
    svc.run(checkout.route(order((sku, 1))))  # the view has the SKU's rows now
    before = dict(checkout.planner.stats)
    wanted = order((sku, 2), dest="560001")

    async def on_a_stale_view():
        _view_shows_none(checkout.client, sku)  # nothing awaited before the view is read
        if action == "route":
            return await checkout.route(wanted)
        return await checkout.reserve(HoldRequest(order=wanted), Caller("k1"), "stale-view",
                                      "fp")

    out = svc.run(on_a_stale_view())
    if action == "route":
        assert out["status"] == "planned"
        assert out["shipments"][0]["warehouse"] == "WH-DEL"
    else:
        assert out.error is None and out.value.lines == [(sku, "WH-DEL", 2)]
    # one plan, on the shards' rows (a miss: a new destination); none on the stale view
    assert checkout.planner.stats["misses"] == before["misses"] + 1
    assert checkout.planner.stats["unfillable_hits"] == before["unfillable_hits"]


def test_an_amend_replayed_from_another_process_answers_first_even_after_release(
        client, svc, skus):
    """An amend's first answer is looked up in Redis together with the reservation's
    state; the stored answer wins, whatever that read finds."""
    from service.lifecycle import Amendment
    from service.orders import Caller

    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 5)
    res = svc.reserve(order((sku, 1)), key="amend-me", owner="k1")
    checkout = svc.checkout
    change = Amendment(((sku, "WH-DEL", 2),))
    first = svc.run(checkout.amend(res.id, Caller("k1"), change, "amend-1", "fp-a"))
    assert first.error is None and first.value.lines == [(sku, "WH-DEL", 2)]
    svc.release(res.id, owner="k1")
    checkout._answers.clear()  # another API process: only Redis has the answer
    again = svc.run(checkout.amend(res.id, Caller("k1"), change, "amend-1", "fp-a"))
    assert again.replayed and again.value.lines == first.value.lines
    assert again.value.version == first.value.version
    # the record gone (retention) yet the answer kept: the answer still wins

    async def forget_record():
        await checkout.records.redis.run("DEL", checkout.records.record_key(res.id))

    svc.run(forget_record())
    checkout.records._cache.clear()
    checkout._answers.clear()
    late = svc.run(checkout.amend(res.id, Caller("k1"), change, "amend-1", "fp-a"))
    assert late.replayed and late.value.lines == first.value.lines
    with pytest.raises(UnknownHold):  # no answer, no reservation: unknown
        svc.run(checkout.amend(res.id + "0", Caller("k1"), change, "amend-2", "fp-b"))


def test_the_service_reaches_its_shards_by_unix_socket(routed):
    """The shards run on this machine: the links are unix sockets (cheaper than TCP)."""
    import socket
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("abstract unix sockets are Linux's")
    links = [link for link in routed.checkout.client._links.values() if link.writer]
    assert links, "the service has opened no link yet"
    assert {link.writer.get_extra_info("socket").family for link in links} == {socket.AF_UNIX}


def test_what_the_service_caches_is_invisible_to_the_cyclic_collector(client, routed, skus):
    """First answers, reservation records and memoised plans outlive their request; kept
    as dicts they filled every young collection of a busy API worker with tens of
    thousands of objects (20-100 ms pauses, longer the longer the sale ran). Kept as
    bytes under str/bytes keys, the collector never sees them — and a caller changing
    what it was given changes nothing cached."""
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 3)
    routed.run(routed.checkout.client.fresh([sku]))
    res = routed.reserve(order((sku, 2)), key="gc-filled", owner="gc")
    with pytest.raises(InsufficientStock):
        routed.reserve(order((sku, 5)), key="gc-refused", owner="gc")
    with pytest.raises(InsufficientStock):  # the refusal, replayed from the cache
        routed.reserve(order((sku, 5)), key="gc-refused", owner="gc")
    checkout = routed.checkout
    caches = {"answers": checkout._answers, "records": checkout.records._cache,
              "plans": checkout.planner._cache}
    for name, cache in caches.items():
        assert cache, name
        tracked = [k for k, v in cache.items() if gc.is_tracked(k) or gc.is_tracked(v)]
        assert not tracked, (name, tracked[:3])
    record = checkout.records.cached(res.id)
    record["lines"].clear()
    assert checkout.records.cached(res.id)["lines"] == [[sku, "WH-DEL", 2]]
    answer = checkout.cached_answer("gc", "gc-filled")
    answer["fp"] = "twisted"
    assert checkout.cached_answer("gc", "gc-filled")["fp"] != "twisted"
    assert routed.commit(res.id, owner="gc").state.value == "committed"
