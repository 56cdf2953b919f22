"""The actor layer on a real local Ray cluster and a real Redis."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import ray

from allocator.errors import HoldExpired, InsufficientStock
from allocator.ops import Code, OpKind, op_key

pytestmark = pytest.mark.integration
WHS = ["WH-DEL", "WH-BOM"]


def restock(client, sku, wh, qty):
    res = client.submit(OpKind.RESTOCK, op_key(f"restock:{sku}:{wh}:{time.time_ns()}"),
                        [(sku, wh, qty)]).result(30)
    assert res.ok, res


def stock_of(cluster, client, sku):
    """Per warehouse on_hand/held/committed summed over every shard that has the SKU."""
    total: dict[str, dict[str, int]] = {}
    for name, skus in client.refresh().shards.items():
        if sku in skus:
            for wh, row in ray.get(cluster.shard(name).stock.remote(sku)).items():
                t = total.setdefault(wh, {"on_hand": 0, "held": 0, "committed": 0})
                for k in t:
                    t[k] += row[k]
    return total


def call_when_up(cluster, shard, method, *args, timeout_s=30.0):
    """Call a shard method, waiting out a restart in progress."""
    deadline = time.time() + timeout_s
    while True:
        try:
            return ray.get(getattr(cluster.shard(shard), method).remote(*args), timeout=5)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError, ValueError):
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def assert_audit_clean(cluster):
    report = cluster.audit()
    assert report["ok"], report
    assert report["oversold_units"] == 0


def test_many_concurrent_reservers_on_one_hot_sku_never_oversell(cluster, client,
                                                                 reservations, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 120)

    def buyer(i):
        try:
            reservations.hold([(sku, "WH-DEL", 1 + i % 2)], key=f"hot-buyer-{i}")
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
    gidx = client.sku_ids.index(sku)
    n = 3000
    ops = np.array([op_key(f"bulk:{sku}:{i}") for i in range(n)], np.int64)
    out = client.hold_bulk(np.full(n, gidx), np.full(n, client._wh["WH-BOM"]),
                           np.ones(n, np.int64), ops, 60_000).result(60)
    ok = out["code"] == Code.OK
    assert ok.sum() == 1000 and ok[:1000].all()  # first come, first served
    assert stock_of(cluster, client, sku)["WH-BOM"]["held"] == 1000
    again = client.hold_bulk(np.full(n, gidx), np.full(n, client._wh["WH-BOM"]),
                             np.ones(n, np.int64), ops, 60_000).result(60)
    assert np.array_equal(again["code"], out["code"])  # replays: the first answers
    assert np.array_equal(again["value"], out["value"])


def test_multi_shard_order_that_fails_on_one_shard_leaves_no_hold(cluster, client,
                                                                  reservations, skus):
    pool = skus.take(12)
    a = pool[0]
    b = next(s for s in pool[1:] if client.owner(s) != client.owner(a))
    restock(client, a, "WH-DEL", 5)
    restock(client, b, "WH-DEL", 1)
    with pytest.raises(InsufficientStock) as err:
        reservations.hold([(a, "WH-DEL", 2), (b, "WH-DEL", 3)], key="multi-fail")
    assert err.value.details["sku"] == b
    assert stock_of(cluster, client, a)["WH-DEL"]["held"] == 0
    assert stock_of(cluster, client, b)["WH-DEL"]["held"] == 0
    res = reservations.hold([(a, "WH-DEL", 2), (b, "WH-DEL", 1)], key="multi-ok")
    assert len({s for s, _ in res.holds}) == 2
    assert reservations.commit(res.id).state == "committed"
    assert stock_of(cluster, client, b)["WH-DEL"]["committed"] == 1
    assert_audit_clean(cluster)


def test_holds_expire_and_release_their_units(cluster, client, reservations, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 3)
    res = reservations.hold([(sku, "WH-DEL", 3)], key="short", ttl_ms=300)
    assert stock_of(cluster, client, sku)["WH-DEL"]["held"] == 3
    deadline = time.time() + 10
    while stock_of(cluster, client, sku)["WH-DEL"]["held"] and time.time() < deadline:
        time.sleep(0.1)
    assert stock_of(cluster, client, sku)["WH-DEL"]["held"] == 0  # the sweep ran
    assert reservations.get(res.id).state == "expired"
    with pytest.raises(HoldExpired):
        reservations.commit(res.id)
    reservations.hold([(sku, "WH-DEL", 3)], key="after-expiry")  # units are back


def test_reservation_ids_are_bound_to_their_owner(reservations, client, skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 2)
    res = reservations.hold([(sku, "WH-DEL", 1)], key="owned", owner="key-a")
    assert reservations.hold([(sku, "WH-DEL", 1)], key="owned", owner="key-a").id == res.id
    from allocator.errors import UnknownHold
    with pytest.raises(UnknownHold):
        reservations.get(res.id, owner="key-b")
    assert reservations.get(res.id, owner="key-a").state == "pending"


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
                                arg=600_000)
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


def test_hot_sku_promotion_mid_burst_keeps_every_invariant(cluster, client, reservations,
                                                           skus):
    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 150)
    restock(client, sku, "WH-BOM", 50)
    early = reservations.hold([(sku, "WH-DEL", 5)], key="before-promotion")
    sold = []
    lock = threading.Lock()

    def buyer(i):
        wh = WHS[i % 2]
        try:
            reservations.hold([(sku, wh, 1)], key=f"promo-{i}")
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
    assert reservations.commit(early.id).state == "committed"  # old holds finish at home
    st = stock_of(cluster, client, sku)
    on_hand = sum(v["on_hand"] for v in st.values())
    held = sum(v["held"] for v in st.values())
    committed = sum(v["committed"] for v in st.values())
    assert on_hand == 200  # units conserved across the move
    assert committed == 5 and held == len(sold)
    assert len(sold) == 195  # demand exceeded stock: everything sold, nothing twice
    assert_audit_clean(cluster)
