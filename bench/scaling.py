"""``allocator bench actors --shards 1 2 4``: the same Zipf flash-sale lines through one
client into 1, 2, 4 … shard actors (journal on), one row per shard count, against the
1-shard row as baseline. Each row reports lines/s in total and per shard, how evenly
the lines spread, and what the journal cost: records, Redis bytes in, journal ms — the
inputs of docs/SCALING.md's model.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Sequence

import numpy as np
import ray

from actors.cluster import Cluster, ClusterConfig
from actors.shard_core import ShardConfig
from allocator.catalog import demo_catalog
from bench.actors import drive
from bench.core import zipf_skus
from storage.redis import connect


def _row(n_shards: int, lines: int, n_skus: int, seed: int, repeats: int) -> dict[str, Any]:
    catalog = demo_catalog(n_skus)
    nwh = len(catalog.warehouses)
    config = ClusterConfig(data_dir=tempfile.mkdtemp(prefix="allocator-scaling-"),
                           prefix=f"scale{n_shards}", n_shards=n_shards,
                           shard=ShardConfig(capacity=1 << 22, snapshot_every_records=2000))
    cluster = Cluster(config, catalog)
    try:  # stock enough that every line is accepted: each repeat does the same work
        cluster.seed({s: [10_000_000] * nwh for s in catalog.sku_ids})
        client = cluster.client(max_batch=4096, max_inflight=4)
        rng = np.random.default_rng(seed)
        order = {s: i for i, s in enumerate(client.sku_ids)}
        by_rank = np.array([order[s] for s in catalog.sku_ids])
        gidx = by_rank[zipf_skus(rng, len(by_rank), lines, 1.1)]
        wh = rng.integers(0, nwh, size=lines)
        drive(client, gidx[:20_000], wh[:20_000], 1)  # warm-up: connections, views
        shards = cluster.shards()
        info = lambda: dict(zip(shards, ray.get([a.info.remote()  # noqa: E731
                                                 for a in shards.values()])))
        before = info()
        redis = connect(cluster.redis_url)
        bytes0 = int(redis.info("stats")["total_net_input_bytes"])
        runs = [drive(client, gidx, wh, 10_000_000 * (r + 1)) for r in range(repeats)]
        bytes_in = int(redis.info("stats")["total_net_input_bytes"]) - bytes0
        after = info()
        owners = np.array([client.owner(s) for s in client.sku_ids])[gidx]
        client.close()
        audit = cluster.audit()
    finally:
        cluster.shutdown()
    per_shard = {n: int((owners == n).sum()) for n in sorted(shards)}
    records = sum(after[n]["batches"] - before[n]["batches"] for n in shards)
    journal_ms = sum(after[n]["journal_ms"] - before[n]["journal_ms"] for n in shards)
    rates = sorted(lines / sec for sec, _ in runs)
    rate, total = float(np.median(rates)), lines * repeats
    seconds = sum(sec for sec, _ in runs)
    return {"shards": n_shards, "lines": lines, "repeats": repeats,
            "accepted": sum(ok for _, ok in runs),
            "lines_per_s": round(rate), "lines_per_s_range": [round(rates[0]), round(rates[-1])],
            "lines_per_s_per_shard": round(rate / n_shards),
            "busiest_shard_share": round(max(per_shard.values()) / lines, 3),
            "journal_records": records,
            "lines_per_record": round(total / max(records, 1), 1),
            "journal_ms_per_record": round(journal_ms / max(records, 1), 3),
            "redis_bytes_in_per_s": round(bytes_in / seconds),
            "redis_bytes_per_line": round(bytes_in / total, 1),
            "audit_ok": audit["ok"], "oversold_units": audit["oversold_units"]}


def bench_scaling(shard_counts: Sequence[int], lines: int = 300_000, n_skus: int = 10_000,
                  seed: int = 11, repeats: int = 3) -> dict[str, Any]:
    """One row per shard count (each a fresh deployment on one Ray; the median of
    ``repeats`` timed runs), then the baseline (the first row) and each row's speedup
    and efficiency (speedup / shard ratio)."""
    counts = list(shard_counts)
    if not counts or any(n < 1 for n in counts) or len(set(counts)) != len(counts):
        raise ValueError(f"--shards {counts}: give distinct shard counts ≥ 1, e.g. 1 2 4")
    if lines < 20_000:
        raise ValueError(f"--scaling-lines {lines}: at least 20000 (one warm-up's worth)")
    if repeats < 1:
        raise ValueError(f"repeats {repeats}: at least 1")
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=os.cpu_count() or 2, logging_level="ERROR", log_to_driver=False,
                 include_dashboard=False)
    load0 = os.getloadavg()[0]
    try:
        rows = [_row(n, lines, n_skus, seed, repeats) for n in counts]
    finally:
        if started:
            ray.shutdown()
    base = rows[0]
    for r in rows:
        r["speedup"] = round(r["lines_per_s"] / base["lines_per_s"], 2)
        r["efficiency"] = round(r["speedup"] / (r["shards"] / base["shards"]), 2)
    return {"benchmark": "actors-scaling", "clients": 1, "cpus": os.cpu_count(),
            "load_avg_1m": {"before": round(load0, 2),
                            "after": round(os.getloadavg()[0], 2)},
            "baseline": {"shards": base["shards"], "lines_per_s": base["lines_per_s"]},
            "rows": rows, "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "audit_ok": all(r["audit_ok"] for r in rows)}
