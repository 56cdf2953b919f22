"""The actor layer on a real local Ray cluster and a real Redis."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import ray

from allocator.errors import HoldExpired, InsufficientStock, UnknownHold
from allocator.ops import Code, OpKind, op_key
from tests.support.cluster import assert_audit_clean, call_when_up, restock, stock_of

pytestmark = pytest.mark.integration
WHS = ["WH-DEL", "WH-BOM"]


def test_many_concurrent_reservers_on_one_hot_sku_never_oversell(cluster, client,
                                                                 svc, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 120)

    def buyer(i):
        try:
            svc.hold([(sku, "WH-DEL", 1 + i % 2)], key=f"hot-buyer-{i}")
            return 1 + i % 2
        except InsufficientStock:
            return 0

    with ThreadPoolExecutor(64) as pool:
        sold = sum(pool.map(buyer, range(400)))
    st = stock_of(cluster, client, sku)["WH-DEL"]
    assert st["held"] == sold
    assert 119 <= sold <= 120  # demand far above stock; a last 2-unit order may not fit
    assert st["on_hand"] - st["held"] - st["committed"] == 120 - sold
    assert_audit_clean(cluster)


def test_bulk_holds_are_fcfs_and_exact(cluster, client, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-BOM", 1000)
    gidx = client.sku_index[sku]
    n = 3000
    ops = np.array([op_key(f"bulk:{sku}:{i}") for i in range(n)], np.int64)
    out = client.hold_bulk(np.full(n, gidx), np.full(n, client.wh_index["WH-BOM"]),
                           np.ones(n, np.int64), ops, 60_000).result(60)
    ok = out["code"] == Code.OK
    assert ok.sum() == 1000 and ok[:1000].all()  # first come, first served
    assert stock_of(cluster, client, sku)["WH-BOM"]["held"] == 1000
    again = client.hold_bulk(np.full(n, gidx), np.full(n, client.wh_index["WH-BOM"]),
                             np.ones(n, np.int64), ops, 60_000).result(60)
    assert np.array_equal(again["code"], out["code"])  # replays: the first answers
    assert np.array_equal(again["value"], out["value"])


def test_multi_shard_order_that_fails_on_one_shard_leaves_no_hold(cluster, client,
                                                                  svc, skus):
    pool = skus.take(12)
    a = pool[0]
    b = next(s for s in pool[1:] if client.owner(s) != client.owner(a))
    restock(client, a, "WH-DEL", 5)
    restock(client, b, "WH-DEL", 1)
    with pytest.raises(InsufficientStock) as err:
        svc.hold([(a, "WH-DEL", 2), (b, "WH-DEL", 3)], key="multi-fail")
    assert err.value.details["sku"] == b
    assert stock_of(cluster, client, a)["WH-DEL"]["held"] == 0
    assert stock_of(cluster, client, b)["WH-DEL"]["held"] == 0
    res = svc.hold([(a, "WH-DEL", 2), (b, "WH-DEL", 1)], key="multi-ok")
    assert len({s for s, _ in res.holds}) == 2
    assert svc.commit(res.id).state.value == "committed"
    assert stock_of(cluster, client, b)["WH-DEL"]["committed"] == 1
    assert_audit_clean(cluster)


def test_holds_expire_and_release_their_units(cluster, client, svc, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 3)
    res = svc.hold([(sku, "WH-DEL", 3)], key="short", ttl_ms=300)
    assert stock_of(cluster, client, sku)["WH-DEL"]["held"] == 3
    deadline = time.time() + 10
    while stock_of(cluster, client, sku)["WH-DEL"]["held"] and time.time() < deadline:
        time.sleep(0.1)
    assert stock_of(cluster, client, sku)["WH-DEL"]["held"] == 0  # the sweep ran
    assert svc.get(res.id).state.value == "expired"
    with pytest.raises(HoldExpired):
        svc.commit(res.id)
    svc.hold([(sku, "WH-DEL", 3)], key="after-expiry")  # units are back


def test_reservation_ids_are_bound_to_their_owner(svc, client, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 2)
    res = svc.hold([(sku, "WH-DEL", 1)], key="owned", owner="key-a")
    assert svc.hold([(sku, "WH-DEL", 1)], key="owned", owner="key-a").id == res.id
    with pytest.raises(UnknownHold):
        svc.get(res.id, owner="key-b")
    assert svc.get(res.id, owner="key-a").state.value == "pending"


def test_killing_a_shard_mid_burst_loses_nothing_acknowledged(cluster, client, skus):
    pool = skus.take(40)
    shard = client.owner(pool[0])
    mine = [s for s in pool if client.owner(s) == shard][:10]
    for s in mine:
        restock(client, s, "WH-DEL", 50)
    acked: list[tuple[str, int, int]] = []  # (sku, hold id, qty)
    lock = threading.Lock()
    stop = threading.Event()

    def buyer(t):
        i = 0
        while not stop.is_set() and i < 60:
            sku = mine[(t + i) % len(mine)]
            fut = client.submit(OpKind.HOLD, op_key(f"kill:{t}:{i}"), [(sku, "WH-DEL", 1)],
                                ttl_ms=600_000)
            res = fut.result(60)
            if res.ok:
                with lock:
                    acked.append((sku, res.value, 1))
            i += 1

    threads = [threading.Thread(target=buyer, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    ray.kill(cluster.shard(shard), no_restart=False)  # crash; Ray restarts it
    killed_at = time.time()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert time.time() - killed_at < 60
    views = call_when_up(cluster, shard, "holds", [h for _, h, _ in acked])
    assert all(v is not None and v["state"] == "pending" for v in views)  # every ack is there
    held = sum(stock_of(cluster, client, s)["WH-DEL"]["held"] for s in mine)
    assert held == len(acked)  # and nothing that was not acknowledged
    assert call_when_up(cluster, shard, "info")["recoveries"] >= 1
    assert_audit_clean(cluster)


def test_hot_sku_promotion_mid_burst_keeps_every_invariant(cluster, client, svc,
                                                           skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 150)
    restock(client, sku, "WH-BOM", 50)
    early = svc.hold([(sku, "WH-DEL", 5)], key="before-promotion")
    sold = []
    lock = threading.Lock()

    def buyer(i):
        wh = WHS[i % 2]
        try:
            svc.hold([(sku, wh, 1)], key=f"promo-{i}")
            with lock:
                sold.append(1)
        except InsufficientStock:
            pass

    with ThreadPoolExecutor(32) as pool:
        futs = [pool.submit(buyer, i) for i in range(150)]
        time.sleep(0.2)
        ray.get(cluster.directory.pin.remote([sku]))  # promote while buyers buy
        futs += [pool.submit(buyer, i) for i in range(150, 400)]
        for f in futs:
            f.result(120)
    assert client.refresh().hot[sku] == f"hot-{sku}"
    assert svc.commit(early.id).state.value == "committed"  # old holds finish at home
    st = stock_of(cluster, client, sku)
    on_hand = sum(v["on_hand"] for v in st.values())
    held = sum(v["held"] for v in st.values())
    committed = sum(v["committed"] for v in st.values())
    assert on_hand == 200  # units conserved across the move
    assert committed == 5 and held == len(sold)
    assert len(sold) == 195  # demand exceeded stock: everything sold, nothing twice
    assert_audit_clean(cluster)


def test_an_op_its_shard_cannot_place_fails_instead_of_looping(client, skus):
    from allocator.errors import AllocatorError

    (sku,) = skus.take()
    fut = client.submit(OpKind.HOLD, op_key(f"nowhere:{sku}"), [(sku, "WH-NOWHERE", 1)],
                        ttl_ms=60_000)
    with pytest.raises(AllocatorError, match="lacks"):
        fut.result(10)
    restock(client, sku, "WH-DEL", 1)  # the shard's queue still flows


@ray.remote(max_restarts=-1, num_cpus=0)
class _Pinged:
    def ping(self) -> int:
        import os
        return os.getpid()


def test_await_actors_waits_for_a_restart_and_fails_fast_on_a_dead_actor(cluster):
    """A directory starting while a shard restarts waits for it (ActorUnavailableError
    is retried); an actor dead for good fails at once, not after the timeout."""
    from actors.directory import await_actors

    restarting = _Pinged.remote()
    first = ray.get(restarting.ping.remote())
    ray.kill(restarting, no_restart=False)  # Ray starts it again in a new process
    deadline = time.monotonic() + 60
    while await_actors([restarting], timeout_s=60) == [first]:  # never "unavailable"
        assert time.monotonic() < deadline, "the actor did not come back"
        time.sleep(0.01)

    dead = _Pinged.remote()
    ray.get(dead.ping.remote())
    ray.kill(dead, no_restart=True)
    deadline = time.monotonic() + 30
    while True:  # ray.kill is asynchronous: a ping just after it may still be answered
        try:
            ray.get(dead.ping.remote())
        except ray.exceptions.ActorDiedError:
            break
        except ray.exceptions.ActorUnavailableError:
            pass
        assert time.monotonic() < deadline, "the actor was not killed"
        time.sleep(0.05)
    t0 = time.monotonic()
    with pytest.raises(ray.exceptions.RayActorError):
        await_actors([dead], timeout_s=60)
    assert time.monotonic() - t0 < 10
