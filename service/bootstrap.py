"""Wire the service layer in an API process: Ray (control), the shards' data plane,
Redis (records, first answers, kill switch, rate limits), catalog, network, planner."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from actors.client import ShardClient
from actors.cluster import join_cluster
from actors.wire import wire_token
from allocator.catalog import Catalog
from allocator.config import DAY_S, DEFAULT_HOLD_TTL_S, Keys, Settings, namespace_for
from allocator.errors import AllocatorError
from routing import Network, demo_network
from service.admin import Admin
from service.batches import Batches
from service.checkout import Checkout
from service.exchanges import Exchanges
from service.orders import CheckoutSettings
from service.ids import Ids
from service.inventory import Inventory
from service.channels import Channels
from service.killswitch import KillSwitch
from service.planner import RoutedPlanner
from service.reconcile import Reconciler
from service.review import ReviewRules, Reviews
from service.timeline import Timeline
from service.waves import Waves
from storage.coalesce import Coalescer
from storage.killswitch import KillSwitchStore
from storage.ratelimit import TokenLeases
from storage.records import Records
from storage.redis import connect_async


@dataclass
class ServiceConfig:
    """What an API process's services need; ``checkout`` overrides
    :class:`~service.checkout.CheckoutSettings` fields (tests tune timeouts with it)."""

    redis_url: str
    ray_address: str = "auto"
    keys: Keys = Keys()
    hold_ttl_s: float = DEFAULT_HOLD_TTL_S
    answer_ttl_s: int = DAY_S
    network_path: str = ""
    customer_cap: int = 0
    review: ReviewRules = field(default_factory=ReviewRules)
    reconcile_counts: str = ""
    reconcile_interval_s: float = 900.0
    reconcile_reports: str = ".allocator/reconcile"
    checkout: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ServiceConfig":
        return cls(redis_url=settings.redis_url, ray_address=settings.ray_address or "auto",
                   keys=settings.keys, hold_ttl_s=settings.hold_ttl_s,
                   answer_ttl_s=settings.api_idempotency_ttl_s,
                   network_path=settings.network, customer_cap=settings.customer_cap,
                   review=ReviewRules(settings.review_value_inr, settings.review_cod_rto,
                                      settings.review_hold_s),
                   reconcile_counts=settings.reconcile_counts,
                   reconcile_interval_s=settings.reconcile_interval_s,
                   reconcile_reports=settings.reconcile_reports)


@dataclass
class Services:
    checkout: Checkout
    batches: Batches
    inventory: Inventory
    admin: Admin
    catalog: Catalog
    client: ShardClient
    redis: Coalescer
    limiter: TokenLeases
    kill: KillSwitch
    timeline: Timeline
    reconciler: Reconciler
    waves: Waves | None = None
    exchanges: Exchanges | None = None
    channels: Channels | None = None

    async def close(self) -> None:
        await self.reconciler.stop()
        await self.kill.stop()
        await self.client.close()
        await self.redis.client.aclose()


def async_redis(url: str) -> aioredis.Redis:
    """An asyncio client for ``url`` (one server, Sentinel or Redis Cluster: see
    :mod:`storage.topology`) that fails fast when Redis is down (the caller answers 503)."""
    return connect_async(url)


async def connect(config: ServiceConfig) -> Services:
    namespace = namespace_for(config.keys.prefix)
    join_cluster(config.ray_address, namespace)
    redis = Coalescer(async_redis(config.redis_url))
    raw = await redis.run("GET", config.keys.catalog)
    if raw is None:
        raise AllocatorError("no catalog in Redis: start the cluster with 'allocator serve'")
    catalog = Catalog.from_dict(json.loads(raw))
    key = config.keys.secret
    await redis.run("SET", key, os.urandom(32), "NX")
    secret = bytes(await redis.run("GET", key))
    client = await ShardClient.connect(wire_token(secret), namespace=namespace)
    network = Network.load(config.network_path) if config.network_path else demo_network()
    planner = RoutedPlanner(network, catalog, client.warehouses)
    kill = KillSwitch(KillSwitchStore(redis, config.keys))
    await kill.start()
    records = Records(redis, config.keys, config.answer_ttl_s)
    settings = CheckoutSettings(hold_ttl_ms=int(config.hold_ttl_s * 1000),
                        customer_cap=config.customer_cap, **config.checkout)
    caps = {s.id: s.max_per_customer for s in catalog.skus if s.max_per_customer}
    reviews = Reviews(redis, config.keys, config.review, network)
    checkout = Checkout(client, records, Ids(secret), planner, kill, settings, caps, reviews)
    inventory = Inventory(client, checkout)
    reconciler = Reconciler(inventory, redis, config.keys)
    if config.reconcile_counts:
        reconciler.start(config.reconcile_counts, config.reconcile_interval_s,
                         Path(config.reconcile_reports))
    batches = Batches(checkout)
    return Services(checkout, batches, inventory, Admin(client, catalog, kill, redis),
                    catalog, client, redis, TokenLeases(redis, config.keys), kill,
                    Timeline(checkout, redis, config.keys), reconciler, Waves(batches),
                    Exchanges(checkout, redis, config.keys), channels=Channels(client))
