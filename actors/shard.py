"""ShardActor: the Ray actor around :class:`ShardCore`, named ``shard-NN`` / ``hot-…``.

Ray runs its methods one at a time on the actor's thread; a background thread sweeps
expiries, takes snapshots and publishes events under the same lock.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import ray

from actors.layout import load_layout
from actors.metrics import ShardMetrics
from actors.shard_core import ShardConfig, ShardCore
from actors.wire import WireServer, wire_token
from allocator.config import DEFAULT_PREFIX, Keys
from storage.journal import EventLog, Journal
from storage.redis import cluster_secret, connect


@ray.remote(max_restarts=-1, max_task_retries=0, num_cpus=0)
class ShardActor:
    """One shard. ``max_restarts=-1``: Ray restarts it after a crash, and it recovers
    from Redis (snapshot + journal tail) before serving again."""

    def __init__(self, name: str, redis_url: str, config: dict[str, Any],
                 sweep_interval_s: float = 0.2, prefix: str = DEFAULT_PREFIX) -> None:
        self.redis = connect(redis_url)
        cfg = ShardConfig(**config)
        layout = load_layout(self.redis, prefix)  # small args: a restart needs no object store
        self.core = ShardCore(name, layout.shards[name], layout.warehouses,
                              Journal(connect(redis_url, single=True), name, prefix,
                                      cfg.journal_replicas, cfg.journal_replica_wait_ms),
                              EventLog(self.redis, prefix),
                              cfg)
        self.core.background_snapshots = True
        self.metrics = ShardMetrics(name)
        self.started = time.time()
        self.wire = WireServer({"apply": self._wire_apply, "avail": self._wire_avail,
                                "holds": self._wire_holds, "stock": self._wire_stock,
                                "channels": self._wire_channels},
                               wire_token(cluster_secret(self.redis, Keys(prefix))),
                               ray.util.get_node_ip_address(), name)
        self._stop = threading.Event()
        self._sweeper = threading.Thread(target=self._background, args=(sweep_interval_s,),
                                         name=f"{name}-sweeper", daemon=True)
        self._sweeper.start()

    def _background(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                expired = self.core.expire_due()
                if expired:
                    self.metrics.expired.inc(expired)
                self.core.snapshot_if_due()
                self.core.publish_events()
            except Exception:  # noqa: BLE001 - Redis down: retried next tick
                pass

    def endpoint(self) -> tuple[str, int, str | None]:
        """Where this shard's data plane listens (see :mod:`actors.wire`): host, port,
        and the unix socket that clients on the same machine may use instead."""
        return (*self.wire.address, self.wire.unix_path)

    def _wire_apply(self, req: dict[str, Any]) -> dict[str, Any]:
        return self.apply(req["cols"], int(req["epoch"]))

    def _wire_avail(self, req: dict[str, Any]) -> dict[str, Any]:
        rows = req.get("rows")
        return self.core.available_all() if rows is None else self.core.available_rows(rows)

    def _wire_stock(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"stock": self.core.stock(str(req["sku"]))}

    def _wire_channels(self, req: dict[str, Any]) -> dict[str, Any]:
        return self.core.channel_view(str(req["sku"]), [int(c) for c in req["channels"]])

    def _wire_holds(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"holds": self.core.holds([int(h) for h in req["ids"]])}

    def apply(self, columns: dict[str, np.ndarray], epoch: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        out, counts = self.core.apply_counted(columns, epoch)
        if counts is not None:
            self.metrics.observe_batch(counts, (time.perf_counter() - t0) * 1000)
        return out

    def ping(self) -> dict[str, Any]:
        """Name, start time and the Ray node this incarnation runs on."""
        return {"name": self.core.name, "started": self.started,
                "node": ray.get_runtime_context().get_node_id()}

    def available(self, skus: list[str]) -> dict[str, list[int]]:
        return self.core.available(skus)

    def stock(self, sku: str) -> dict[str, dict[str, int]]:
        return self.core.stock(sku)

    def holds(self, hold_ids: list[int]) -> list[dict[str, Any] | None]:
        return self.core.holds(hold_ids)

    def receive_stock(self, qty: np.ndarray) -> None:
        self.core.receive_stock(qty)

    def set_accepting(self, sku: str, on: bool, epoch: int) -> None:
        self.core.set_accepting(sku, on, epoch)

    def set_channel_rules(self, rules: list[list[Any]]) -> None:
        self.core.set_channel_rules(rules)

    def channel_view(self, sku: str, channels: list[int]) -> dict[str, Any]:
        return self.core.channel_view(sku, channels)

    def hot_skus(self, min_per_s: float) -> list[tuple[str, float]]:
        return self.core.hot_skus(min_per_s)

    def expire_due(self) -> int:
        return self.core.expire_due()

    def publish_events(self) -> int:
        return self.core.publish_events()

    def snapshot(self) -> None:
        self.core.snapshot()

    def totals(self) -> dict[str, int]:
        return self.core.totals()

    def info(self) -> dict[str, Any]:
        return self.core.info()

    def pending_expiries(self) -> list[int]:
        return self.core.pending_expiries()

    def audit(self) -> dict[str, Any]:
        from allocator.audit import audit

        with self.core.lock:
            report = audit(self.core._ready())
        return {"ok": report.ok, "problems": report.problems,
                "oversold_units": report.oversold_units}
