"""``allocator bench actors``: holds through the shard client → shard actors, journal on,
against the usual flash-sale practice on the same Redis: a Lua check-and-decrement
script per order, pipelined from Python.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np
import ray

from actors.blocking import BlockingClient
from actors.cluster import Cluster, ClusterConfig
from actors.shard_core import ShardConfig
from bench.core import zipf_skus
from allocator.catalog import demo_catalog
from allocator.ops import Code
from storage.redis import connect

LUA_HOLD = """
local left = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local want = tonumber(ARGV[2])
if left >= want then
  redis.call('HINCRBY', KEYS[1], ARGV[1], -want)
  return 1
end
return 0
"""


def drive(client: BlockingClient, gidx: np.ndarray, wh: np.ndarray, op_base: int,
           chunk: int = 16_384, window: int = 16) -> tuple[float, int]:
    """Submit every line in chunks, ``window`` chunks in flight at a time (the client's
    queue is bounded); return seconds and holds ok."""
    n = len(gidx)
    ones = np.ones(n, np.int64)
    ops = np.arange(op_base, op_base + n, dtype=np.int64)
    t0 = time.perf_counter()
    ok = 0
    pending: list = []
    for s in range(0, n, chunk):
        pending.append(client.hold_bulk(gidx[s:s + chunk], wh[s:s + chunk], ones[s:s + chunk],
                                        ops[s:s + chunk], 600_000))
        if len(pending) >= window:
            ok += int((pending.pop(0).result(600)["code"] == Code.OK).sum())
    ok += sum(int((f.result(600)["code"] == Code.OK).sum()) for f in pending)
    return time.perf_counter() - t0, ok


def _lua_baseline(redis_url: str, n: int, stock: int, pipeline: int = 1000) -> float:
    """Lines per second for ``n`` single-unit orders of one hot SKU via EVALSHA."""
    r = connect(redis_url)
    key = "bench:lua:stock"
    r.delete(key)
    r.hset(key, "HOT@WH-DEL", stock)
    sha = r.script_load(LUA_HOLD)
    t0 = time.perf_counter()
    for s in range(0, n, pipeline):
        pipe = r.pipeline(transaction=False)
        for _ in range(min(pipeline, n - s)):
            pipe.evalsha(sha, 1, key, "HOT@WH-DEL", 1)
        pipe.execute()
    return n / (time.perf_counter() - t0)


def _recovery_s(cluster: Cluster, client: BlockingClient, shard: str) -> float:
    """Kill a shard (Ray restarts it) and time until it answers a call again."""
    actor = cluster.shard(shard)
    ray.get(actor.ping.remote())
    t0 = time.perf_counter()
    ray.kill(actor, no_restart=False)
    while True:
        try:
            ray.get(cluster.shard(shard).info.remote(), timeout=5)
            info = ray.get(cluster.shard(shard).ping.remote(), timeout=5)
            if info["started"] > time.time() - 60 and time.perf_counter() - t0 > 0:
                return time.perf_counter() - t0
        except Exception:  # noqa: BLE001 - still restarting
            time.sleep(0.01)


def bench_actors(n_skus: int = 10_000, zipf_lines: int = 1_000_000,
                 hot_lines: int = 600_000, shards: int = 2, events: bool = False,
                 max_inflight: int = 4) -> dict[str, Any]:
    catalog = demo_catalog(n_skus)
    nwh = len(catalog.warehouses)
    config = ClusterConfig(data_dir=tempfile.mkdtemp(prefix="allocator-bench-"),
                           n_shards=shards, num_cpus=2,
                           shard=ShardConfig(events=events, capacity=1 << 21,
                                             snapshot_every_records=2000))
    cluster = Cluster(config, catalog)
    try:
        hot_sku = catalog.sku_ids[0]
        stock = {s: [1_000] * nwh for s in catalog.sku_ids}
        stock[hot_sku] = [hot_lines // nwh + 1] * nwh  # every hot line can succeed, as in Lua
        cluster.seed(stock)
        ray.get(cluster.directory.pin.remote([hot_sku]))
        client = cluster.client(max_batch=4096, max_inflight=max_inflight)
        rng = np.random.default_rng(11)
        order = {s: i for i, s in enumerate(client.sku_ids)}
        by_rank = np.array([order[s] for s in catalog.sku_ids[1:]])
        gidx = by_rank[zipf_skus(rng, len(by_rank), zipf_lines, 1.1)]
        wh = rng.integers(0, nwh, size=zipf_lines)
        drive(client, gidx[:20_000], wh[:20_000], 1)  # warm-up
        zipf_s, zipf_ok = drive(client, gidx, wh, 10_000_000)
        hot = np.full(hot_lines, order[hot_sku])
        hot_s, hot_ok = drive(client, hot, rng.integers(0, nwh, size=hot_lines), 50_000_000)
        lua = _lua_baseline(cluster.redis_url, hot_lines, stock=hot_lines)
        recovery = _recovery_s(cluster, client, client.owner(catalog.sku_ids[1]))
        audit = cluster.audit()
        client.close()
    finally:
        cluster.shutdown()
    zipf_rate, hot_rate = zipf_lines / zipf_s, hot_lines / hot_s
    result = {
        "benchmark": "actors", "shards": shards, "skus": n_skus, "warehouses": nwh,
        "journal": True, "events": events, "max_inflight": max_inflight,
        "zipf_lines": zipf_lines, "zipf_accepted": zipf_ok,
        "zipf_lines_per_s": round(zipf_rate),
        "hot_lines": hot_lines, "hot_accepted": hot_ok, "hot_lines_per_s": round(hot_rate),
        "redis_lua_lines_per_s": round(lua),
        "ratio_hot_vs_lua": round(hot_rate / lua, 2),
        "recovery_s": round(recovery, 3),
        "audit_ok": audit["ok"], "oversold_units": audit["oversold_units"],
        "targets": {"zipf_lines_per_s": 500_000, "hot_lines_per_s": 300_000,
                    "ratio_hot_vs_lua": 5, "recovery_s": 2},
    }
    result["met"] = bool(zipf_rate >= 500_000 and hot_rate >= 300_000
                         and hot_rate / lua >= 5 and recovery <= 2)
    return result
