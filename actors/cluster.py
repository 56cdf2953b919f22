"""Start (or join) the cluster: Ray, Redis (embedded unless a URL is given), the
directory and its shards. Used by ``allocator serve``, the demo, benches and tests."""

from __future__ import annotations

import json
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import ray

from actors.shard_core import ShardConfig
from allocator.catalog import Catalog
from allocator.config import DEFAULT_PREFIX, Keys, Settings, namespace_for
from storage.redis import (EmbeddedRedis, check_topology, cluster_secret, connect,
                           wait_for_redis)


@dataclass
class ClusterConfig:
    """How to run. ``address`` None starts a local Ray head; ``redis_url`` empty embeds
    Redis (data in ``data_dir``). Shards default to one per CPU of a 2-core machine."""

    address: str | None = None
    redis_url: str = ""
    data_dir: Path = field(default_factory=lambda: Path(Settings().data_dir) / "redis")
    prefix: str = DEFAULT_PREFIX
    n_shards: int = 2
    dashboard: bool = False
    dashboard_port: int = 8265
    num_cpus: int | None = None
    hot_min_rate: float = 0.0  # holds/s that make a SKU hot; 0 = only pinned SKUs
    max_hot: int = 4
    shard_cpus: float = 0.0  # CPUs reserved per shard actor: 0 on one small box, 1 on a cluster
    shard_resource: str = ""  # custom Ray resource a shard needs 1 of: which nodes host shards
    shard: ShardConfig = field(default_factory=ShardConfig)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> "ClusterConfig":
        """From :class:`~allocator.config.Settings` (address, Redis, data dir, prefix,
        shard count, retention, low-stock threshold); ``overrides`` not None win."""
        shard = ShardConfig(retention_ms=int(settings.idempotency_retention_s * 1000),
                            low_stock_threshold=settings.low_stock_threshold,
                            journal_replicas=settings.journal_replicas)
        cfg = cls(address=settings.ray_address or None, redis_url=settings.redis_url,
                  data_dir=Path(settings.data_dir) / "redis", prefix=settings.prefix,
                  n_shards=settings.shards, shard_cpus=settings.shard_cpus,
                  shard_resource=settings.shard_resource, shard=shard)
        for k, v in overrides.items():
            if v is not None:
                setattr(cfg, k, v)
        return cfg


def join_cluster(address: str, namespace: str) -> None:
    """Join a running Ray cluster as a driver (idempotent); keeps the SIGTERM handler
    of the process (a server's), which ``ray.init`` would replace."""
    if not ray.is_initialized():
        keep = signal.getsignal(signal.SIGTERM)
        ray.init(address=address, namespace=namespace, logging_level="ERROR",
                 log_to_driver=False)
        if keep is not None:
            signal.signal(signal.SIGTERM, keep)


class Cluster:
    """A running (or joined) allocator cluster."""

    def __init__(self, config: ClusterConfig, catalog: Catalog) -> None:
        self.config = config
        self.keys = Keys(config.prefix)
        self.namespace = namespace_for(config.prefix)
        self.embedded: EmbeddedRedis | None = None
        self.started_ray = not ray.is_initialized()
        if self.started_ray:
            kwargs: dict[str, Any] = {"namespace": self.namespace, "logging_level": "ERROR",
                                      "log_to_driver": False}
            if config.address:
                kwargs["address"] = config.address
            else:
                kwargs.update(include_dashboard=config.dashboard,
                              dashboard_port=config.dashboard_port,
                              num_cpus=config.num_cpus)
            ray.init(**kwargs)
        if config.redis_url:
            self.redis_url = config.redis_url
        else:
            self.embedded = EmbeddedRedis(config.data_dir)
            self.redis_url = self.embedded.url
        redis_client = connect(self.redis_url)
        wait_for_redis(redis_client)
        check_topology(redis_client, self.redis_url)
        redis_client.set(self.keys.catalog, json.dumps(catalog.to_dict()), nx=True)
        from actors.directory import Directory

        # detached: the directory and its shards outlive the process that started them
        # (an `allocator serve --detach` job, an API process); shutdown() kills them
        self.directory = Directory.options(
            name="directory", namespace=self.namespace, get_if_exists=True,
            lifetime="detached").remote(
            config.n_shards, self.redis_url, asdict(config.shard), config.hot_min_rate,
            config.max_hot, prefix=config.prefix, shard_cpus=config.shard_cpus,
            shard_resource=config.shard_resource)
        ray.get(self.directory.get_layout.remote())

    def seed(self, stock: dict[str, list[int]], force: bool = False) -> bool:
        return ray.get(self.directory.seed.remote(stock, force))

    def client(self, **kwargs: Any) -> Any:
        """A :class:`~actors.blocking.BlockingClient` on this cluster's data plane."""
        from actors.blocking import BlockingClient
        from actors.wire import wire_token

        secret = cluster_secret(connect(self.redis_url), self.keys)
        return BlockingClient(wire_token(secret), namespace=self.namespace, **kwargs)

    def shard(self, name: str):
        return ray.get_actor(name, namespace=self.namespace)

    def shards(self) -> dict[str, Any]:
        return {n: self.shard(n) for n in ray.get(self.directory.shard_names.remote())}

    @property
    def gcs_address(self) -> str:
        """The Ray address other processes join (``RAY_ADDRESS``)."""
        return ray.get_runtime_context().gcs_address

    def pin(self, skus: list[str]) -> None:
        """Isolate ``skus`` on their own shard actors."""
        ray.get(self.directory.pin.remote(skus))

    def status(self) -> dict[str, Any]:
        """SKUs per shard and the hot SKUs."""
        shards = self.shards()
        infos = ray.get([a.info.remote() for a in shards.values()])
        return {"shards": {n: i["skus"] for n, i in zip(shards, infos)},
                "hot": ray.get(self.directory.hot.remote())["hot"]}

    def totals(self) -> dict[str, int]:
        """Units held, committed and on hand, and pending holds, over every shard."""
        shards = list(self.shards().values())
        out = {"held": 0, "committed": 0, "on_hand": 0, "pending_holds": 0}
        for t in ray.get([a.totals.remote() for a in shards]):
            for k in ("held", "committed", "on_hand"):
                out[k] += t[k]
        for i in ray.get([a.info.remote() for a in shards]):
            out["pending_holds"] += i.get("pending_holds") or 0
        return out

    def pending_expiries(self) -> list[int]:
        """Expiry (ms) of every pending hold on every shard."""
        shards = self.shards().values()
        return [e for lst in ray.get([a.pending_expiries.remote() for a in shards]) for e in lst]

    def audit(self) -> dict[str, Any]:
        """Audit every shard's ledger; ``ok`` only if all are clean."""
        reports = {n: ray.get(a.audit.remote()) for n, a in self.shards().items()}
        return {"ok": all(r["ok"] for r in reports.values()),
                "oversold_units": sum(r["oversold_units"] for r in reports.values()),
                "shards": reports}

    def shutdown(self) -> None:
        """Stop the actors, Ray (if we started it) and the embedded Redis."""
        try:
            for actor in self.shards().values():
                ray.kill(actor, no_restart=True)
            ray.kill(self.directory, no_restart=True)
        finally:
            if self.started_ray and not self.config.address:
                ray.shutdown()
            if self.embedded is not None:
                self.embedded.stop()
