"""The allocator on a multi-node Ray cluster on one machine (``ray.cluster_utils.Cluster``):
a head (the directory, API driver 0) and two worker nodes advertising the
``allocator_shard`` resource (the shards; worker 1 also runs API driver 1). Both API
drivers hold stock on every shard; mid-burst the worker that runs only shards is
removed. Its shards restart on the surviving worker and recover from the journal.

Run as ``python -m tests.support.multinode [--json]`` (its own process: a test session
already has a Ray of its own); prints one JSON report, which
``tests/integration/test_multinode.py`` checks.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import ray
from ray.cluster_utils import Cluster as RayCluster

from actors.cluster import Cluster, ClusterConfig
from actors.wire import wire_token
from allocator.catalog import demo_catalog
from allocator.ops import Code, OpKind, op_key
from storage.redis import cluster_secret, connect

SHARD_RESOURCE = "allocator_shard"
FAST_NODE_DEATH = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 500,
                   "health_check_timeout_ms": 500, "health_check_failure_threshold": 3}


@ray.remote(num_cpus=0, max_concurrency=4)
class ApiDriver:
    """What an API process does to the shards (a ShardClient on its node), scripted."""

    def __init__(self, namespace: str, token: bytes) -> None:
        from actors.blocking import BlockingClient

        self.client = BlockingClient(token, namespace=namespace)
        self.acked: list[tuple[str, str, int, float]] = []  # sku, shard, hold id, time
        self.answered: dict[str, list[float]] = {}  # shard -> when it answered (any code)
        self.lock = threading.Lock()

    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()

    def progress(self) -> int:
        return len(self.acked)

    def burst(self, tag: str, skus: list[str], wh: str, n: int, wave: int,
              deadline_s: float, pause_s: float = 0.05) -> dict[str, Any]:
        """``n`` one-unit holds in waves ``pause_s`` apart (so that the burst outlasts
        the poll that removes a node mid-way: unpaced, it could end before it); an op
        that found its shard unavailable is resent with the same op id (as a client
        retries with its Idempotency-Key)."""
        todo = [(op_key(f"{tag}:{i}"), skus[i % len(skus)]) for i in range(n)]
        refused = resent = 0
        deadline = time.time() + deadline_s
        waves = 0
        while todo and time.time() < deadline:
            if waves:  # every wave but the first
                time.sleep(pause_s)
            waves += 1
            batch, todo = todo[:wave], todo[wave:]
            futs = [(oid, sku, self.client.submit(OpKind.HOLD, oid, [(sku, wh, 1)],
                                                  ttl_ms=600_000)) for oid, sku in batch]
            for oid, sku, fut in futs:
                try:
                    res = fut.result(60)
                except Exception:  # noqa: BLE001 - unavailable / overloaded: resend later
                    resent += 1
                    todo.append((oid, sku))
                    continue
                now = time.time()
                self.answered.setdefault(res.shard, []).append(now)
                if res.ok:
                    with self.lock:
                        self.acked.append((sku, res.shard, res.value, now))
                elif res.code == Code.INSUFFICIENT:
                    refused += 1
                else:
                    raise AssertionError(f"unexpected answer {res}")
        return {"acked": list(self.acked), "answered": self.answered, "refused": refused,
                "resent": resent, "unresolved": len(todo),
                "client": dict(self.client.stats)}

    def hold(self, sku: str, wh: str, key: str) -> dict[str, Any]:
        res = self.client.submit(OpKind.HOLD, op_key(key), [(sku, wh, 1)], ttl_ms=600_000
                                 ).result(60)
        return {"ok": res.ok, "shard": res.shard}


def _pings(cluster: Cluster) -> dict[str, dict[str, Any]]:
    names = ray.get(cluster.directory.shard_names.remote())
    return {n: ray.get(cluster.shard(n).ping.remote(), timeout=60) for n in names}


def run(workdir: Path, n_shards: int = 4, per_driver: int = 1500, units: int = 60,
        n_skus: int = 24, wave: int = 48) -> dict[str, Any]:
    """Start the nodes, place, burst, remove a node mid-burst, verify; the report."""
    t_start = time.time()
    nodes = RayCluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "resources": {"api-0": 1}, "include_dashboard": False,
        "_system_config": FAST_NODE_DEATH})
    cluster = None
    try:
        worker = nodes.add_node(num_cpus=1, resources={SHARD_RESOURCE: 8, "api-1": 1})
        victim = nodes.add_node(num_cpus=1, resources={SHARD_RESOURCE: 8})
        nodes.wait_for_nodes()
        catalog = demo_catalog(60)
        skus, wh = catalog.sku_ids[:n_skus], catalog.warehouse_ids[0]
        cluster = Cluster(ClusterConfig(address=nodes.address, data_dir=workdir / "redis",
                                        n_shards=n_shards, shard_resource=SHARD_RESOURCE),
                          catalog)
        stock = [0] * len(catalog.warehouse_ids)
        stock[0] = units
        cluster.seed({s: stock for s in catalog.sku_ids})
        before = _pings(cluster)
        token = wire_token(cluster_secret(connect(cluster.redis_url), cluster.keys))
        drivers = [ApiDriver.options(resources={f"api-{i}": 1}).remote(cluster.namespace,
                                                                       token)
                   for i in range(2)]
        driver_nodes = ray.get([d.node.remote() for d in drivers])
        t_ready = time.time()
        runs = [d.burst.remote(f"d{i}", skus, wh, per_driver, wave, 120)
                for i, d in enumerate(drivers)]
        while min(ray.get([d.progress.remote() for d in drivers])) < per_driver // 5:
            time.sleep(0.05)
        moved = sorted(n for n, p in before.items() if p["node"] == victim.node_id)
        t_removed = time.time()
        nodes.remove_node(victim, allow_graceful=False)
        restarted = _wait_restarted(cluster, moved, before)
        results = ray.get(runs, timeout=240)
        t_burst = time.time()
        after = _pings(cluster)
        report = _verify(cluster, results, skus, wh, units)
        # recovered: the first answer a moved shard's new incarnation gave a driver
        first = {n: min((t for r in results for t in r["answered"].get(n, [])
                         if t >= after[n]["started"]), default=None) for n in moved}
        pinned = _directory_still_serves(cluster, drivers[1], catalog.sku_ids[-1], wh)
        directory_crash = _directory_crash(cluster)
        return {
            "nodes": {"head": nodes.head_node.node_id, "worker": worker.node_id,
                      "victim": victim.node_id},
            "placement_before": {n: p["node"] for n, p in before.items()},
            "placement_after": {n: p["node"] for n, p in after.items()},
            "driver_nodes": driver_nodes, "moved_shards": moved,
            "restart_s": {n: round(t - t_removed, 2) for n, t in restarted.items()},
            "recover_s": {n: None if t is None else round(t - t_removed, 2)
                          for n, t in first.items()},
            "clients": [r["client"] for r in results],
            "driver_shards": [sorted(r["answered"]) for r in results],
            "after_directory": pinned, "directory_crash": directory_crash, **report,
            "timings_s": {"start": round(t_ready - t_start, 1),
                          "burst": round(t_burst - t_ready, 1),
                          "total": round(time.time() - t_start, 1)},
        }
    finally:
        if cluster is not None:
            cluster.shutdown()
        ray.shutdown()
        nodes.shutdown()


def _wait_restarted(cluster: Cluster, moved: list[str], before: dict[str, Any],
                    timeout_s: float = 120) -> dict[str, float]:
    """When each moved shard answers again from a new incarnation."""
    out: dict[str, float] = {}
    deadline = time.time() + timeout_s
    while len(out) < len(moved) and time.time() < deadline:
        for n in moved:
            if n in out:
                continue
            try:
                p = ray.get(cluster.shard(n).ping.remote(), timeout=2)
            except (ray.exceptions.RayError, ValueError):
                continue
            if p["started"] > before[n]["started"]:
                out[n] = time.time()
        time.sleep(0.05)
    return out


def _verify(cluster: Cluster, results: list[dict[str, Any]], skus: list[str], wh: str,
            units: int) -> dict[str, Any]:
    """Every acknowledged hold is pending where it was acknowledged; per SKU, units held
    equal units acknowledged and never exceed stock; the ledgers audit clean."""
    acked = [a for r in results for a in r["acked"]]
    by_shard: dict[str, list[int]] = {}
    for _, shard, hid, _ in acked:
        by_shard.setdefault(shard, []).append(hid)
    lost = 0
    for shard, hids in by_shard.items():
        views = ray.get(cluster.shard(shard).holds.remote(hids), timeout=60)
        lost += sum(1 for v in views if v is None or v["state"] != "pending")
    acked_per_sku = Counter(sku for sku, _, _, _ in acked)
    held_per_sku = dict.fromkeys(skus, 0)
    for name, owned in ray.get(cluster.directory.get_layout.remote())["shards"].items():
        for sku in set(owned) & set(skus):
            row = ray.get(cluster.shard(name).stock.remote(sku), timeout=60)[wh]
            held_per_sku[sku] += int(row["held"])
    audit = cluster.audit()
    return {"acked": len(acked), "refused": sum(r["refused"] for r in results),
            "resent": sum(r["resent"] for r in results),
            "unresolved": sum(r["unresolved"] for r in results),
            "acked_lost": lost,
            "held_minus_acked": sum(held_per_sku.values()) - len(acked),
            "sku_mismatch": sorted(s for s in skus if held_per_sku[s] != acked_per_sku[s]),
            "oversold_skus": sorted(s for s in skus if held_per_sku[s] > units),
            "sold_out_skus": sum(1 for s in skus if held_per_sku[s] == units),
            "audit_ok": audit["ok"], "oversold_units": audit["oversold_units"]}


def _directory_still_serves(cluster: Cluster, driver: Any, sku: str, wh: str
                            ) -> dict[str, Any]:
    """After the loss, the directory still places actors: pin a SKU (a new ``hot-``
    actor on a surviving node) and hold it from a driver."""
    cluster.pin([sku])
    hot = ray.get(cluster.shard(f"hot-{sku}").ping.remote(), timeout=60)
    held = ray.get(driver.hold.remote(sku, wh, f"after:{sku}"), timeout=60)
    return {"hot_shard_node": hot["node"], "hold_ok": held["ok"], "hold_shard": held["shard"]}


def _directory_crash(cluster: Cluster) -> dict[str, Any]:
    """Kill the directory's process: Ray restarts it from Redis, and the shards (detached,
    not fate-shared with it) keep running."""
    before = _pings(cluster)
    ray.kill(cluster.directory, no_restart=False)
    deadline = time.time() + 60
    while True:
        try:
            layout = ray.get(cluster.directory.get_layout.remote(), timeout=5)
            break
        except ray.exceptions.RayError:
            assert time.time() < deadline, "the directory did not come back"
            time.sleep(0.1)
    after = _pings(cluster)
    return {"layout_shards": sorted(layout["shards"]),
            "shards_restarted": sorted(n for n in before
                                       if after[n]["started"] != before[n]["started"])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--per-driver", type=int, default=1500)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="allocator-multinode-") as d:
        report = run(Path(d), per_driver=args.per_driver)
    print(json.dumps(report) if args.json else json.dumps(report, indent=2), flush=True)


if __name__ == "__main__":
    main()
