"""Wire the service layer in an API process: Ray (control), the shards' data plane,
Redis (records, first answers, kill switch, rate limits), catalog, network, planner."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from actors.client import ShardClient
from actors.cluster import join_cluster
from actors.wire import wire_token
from allocator.catalog import Catalog
from allocator.config import DAY_S, DEFAULT_HOLD_TTL_S, Keys, Settings, namespace_for
from allocator.errors import AllocatorError
from routing import Network, demo_network
from service.admin import Admin
from service.batches import Batches
from service.checkout import Checkout, CheckoutSettings
from service.ids import Ids
from service.inventory import Inventory
from service.killswitch import KillSwitch
from service.planner import RoutedPlanner
from storage.coalesce import Coalescer
from storage.killswitch import KillSwitchStore
from storage.ratelimit import TokenLeases
from storage.records import Records


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
    checkout: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> "ServiceConfig":
        return cls(redis_url=settings.redis_url, ray_address=settings.ray_address or "auto",
                   keys=settings.keys, hold_ttl_s=settings.hold_ttl_s,
                   answer_ttl_s=settings.api_idempotency_ttl_s,
                   network_path=settings.network, customer_cap=settings.customer_cap)


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

    async def close(self) -> None:
        await self.kill.stop()
        await self.client.close()
        await self.redis.client.aclose()


def async_redis(url: str) -> aioredis.Redis:
    """An asyncio client that fails fast when Redis is down (the caller answers 503)."""
    return aioredis.from_url(url, max_connections=64, socket_timeout=2.0,
                             socket_connect_timeout=2.0, retry=Retry(NoBackoff(), 1),
                             health_check_interval=10)


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
    checkout = Checkout(client, records, Ids(secret), planner, kill, settings, caps)
    return Services(checkout, Batches(checkout), Inventory(client, checkout), Admin(client, catalog, kill, redis),
                    catalog, client, redis, TokenLeases(redis, config.keys), kill)
