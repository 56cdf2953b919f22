"""Per-reservation fences on a real Redis (any sequence of takes, notes and give-backs
agrees with a plain model; one of many concurrent takers wins; a lapsed lease is
free), and a line cancel that stopped half way is finished by the next holder on a
real cluster (service.fencing)."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from hypothesis import given, settings, strategies as st

from actors.layout import base_shard_of
from allocator.config import Keys
from allocator.errors import ReservationChanged
from service.bootstrap import async_redis
from service.fencing import cancel_intent
from service.orders import Caller
from storage.coalesce import Coalescer
from storage.fence import Fences
from tests.support.cluster import assert_audit_clean, restock, stock_of

pytestmark = pytest.mark.integration
KEYS = Keys("tfence")


def run(redis_url, fn, ttl_ms=60_000):
    async def main():
        clients = [async_redis(redis_url) for _ in range(2)]
        try:
            return await fn(*[Fences(Coalescer(c), KEYS, ttl_ms, 60) for c in clients])
        finally:
            for c in clients:
                await c.aclose()
    return asyncio.run(main())


steps = st.lists(st.tuples(st.sampled_from(["take", "note", "give", "done"]),
                           st.integers(0, 2)), max_size=30)


@settings(max_examples=40, deadline=None)
@given(steps=steps)
def test_leases_agree_with_the_model(redis_url, steps):
    rid = f"res_{uuid.uuid4().hex}"  # a fresh fence for every example

    async def go(fences, _):
        holder, intent = None, None  # model: who holds it (0-2), the intent noted
        tokens: dict[int, bytes] = {}  # each process's last token (maybe stale)
        for op, who in steps:
            if op == "take":
                token, found = await fences.take(rid)
                if holder is None:
                    assert token is not None and found == intent
                    holder, tokens[who] = who, token
                else:
                    assert token is None and 0 < found <= 60_000
            elif op == "note" and holder == who:
                intent = {"by": who, "n": len(tokens)}
                await fences.note(rid, intent)
            elif op in ("give", "done") and who in tokens:
                await fences.give_back(rid, tokens.pop(who), done=op == "done")
                if op == "done":
                    intent = None
                if holder == who:
                    holder = None
    run(redis_url, go)


def test_one_of_many_concurrent_takers_wins_across_processes(redis_url):
    rid = f"res_{uuid.uuid4().hex}"

    async def go(a, b):
        got = await asyncio.gather(*(f.take(rid) for f in [a, b] * 10))
        assert sum(token is not None for token, _ in got) == 1
    run(redis_url, go)


def test_a_lapsed_lease_is_free_and_its_intent_waits(redis_url):
    rid = f"res_{uuid.uuid4().hex}"

    async def go(a, b):
        crashed, _ = await a.take(rid)
        await a.note(rid, {"cut": [1]})
        assert (await b.take(rid))[0] is None
        await asyncio.sleep(0.25)  # the holder never gave it back: it lapses
        token, found = await b.take(rid)
        assert token is not None and found == {"cut": [1]}
        await a.give_back(rid, crashed, done=False)  # stale: not b's lease
        assert (await a.take(rid))[0] is None
        await b.give_back(rid, token, done=True)
        assert (await a.take(rid))[1] is None
    run(redis_url, go, ttl_ms=150)


def test_a_cancel_stopped_half_way_is_finished_before_the_ship(cluster, client, svc, skus):
    pool = skus.take(8)
    a = pool[0]
    b = next(s for s in pool[1:] if base_shard_of(s, 2) != base_shard_of(a, 2))
    for sku in (a, b):
        restock(client, sku, "WH-DEL", 3)
    res = svc.hold([(a, "WH-DEL", 2), (b, "WH-DEL", 2)], key=f"fence-{a}", owner="k")
    assert len(res.holds) == 2
    svc.commit(res.id)
    co = svc.checkout
    lines, key, fp = [(a, None, 1), (b, None, 1)], f"cancel-{a}", "fp-cancel"
    cut = co._cut(svc.run(co.current(res)), lines)
    assert len(cut) == 2
    # a cancel noted its intent and applied one hold's part, then its process died
    svc.run(co.fences.note(res.id, cancel_intent(res.id, "k", key, fp, cut)))
    first = next(iter(cut))
    assert all(r.ok for r in svc.run(co._cancel_cut(res.id, key, {first: cut[first]})))
    # a crashed holder's lease blocks the ship (past its wait) until it lapses
    short = Fences(co.records.redis, co.records.keys, 1500, 60)
    taken = time.monotonic()
    svc.run(short.take(res.id))
    with pytest.raises(ReservationChanged) as refused:
        svc.run(co.ship(res.id))
    assert refused.value.details["retry_after_s"] > 0
    assert time.monotonic() - taken >= co.settings.fence_wait_ms / 1000 * 0.9
    time.sleep(max(0.0, 1.6 - (time.monotonic() - taken)))
    shipped = svc.run(co.ship(res.id))  # finishes the cancel, then ships the rest
    assert shipped.state.value == "shipped"
    view = svc.get(res.id)
    assert sorted((x["sku"], x["qty"], x["state"], x["cancelled"]) for x in
                  view.line_states) == sorted([(a, 1, "shipped", 1), (b, 1, "shipped", 1)])
    for sku in (a, b):  # the books: one unit shipped, one back on sale
        assert stock_of(cluster, client, sku)["WH-DEL"] == \
            {"on_hand": 2, "held": 0, "committed": 0}
    # the buyer's retry gets the cancel's answer (stored by whoever finished it)
    again = svc.run(co.drop_lines(res.id, "k", lines, key, fp, Caller("k")))
    assert again.replayed and again.error is None
    assert_audit_clean(cluster)
