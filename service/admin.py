"""Admin: hot SKUs (pin), shards and their load, the kill switch, readiness."""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

from actors.client import ShardClient
from allocator.catalog import Catalog
from service.killswitch import KillSwitch
from storage.coalesce import Coalescer


class Admin:
    def __init__(self, client: ShardClient, catalog: Catalog, kill: KillSwitch,
                 redis: Coalescer) -> None:
        self.client = client
        self.catalog = catalog
        self.kill = kill
        self.redis = redis

    @property
    def directory(self) -> Any:
        return self.client.actor("directory")

    async def hot(self) -> dict[str, Any]:
        return await self.directory.hot.remote()

    async def pin(self, skus: Sequence[str]) -> dict[str, Any]:
        """Move these SKUs to their own actors now, and keep them there."""
        for sku in skus:
            self.catalog.sku(sku)  # UnknownSku before anything moves
        out = await self.directory.pin.remote(list(skus))
        await self.client.refresh()
        return out

    async def shards(self) -> list[dict[str, Any]]:
        names = await self.directory.shard_names.remote()

        async def info(name: str) -> dict[str, Any]:
            try:
                return await asyncio.wait_for(self.client.actor(name).info.remote(), 5)
            except Exception as exc:  # noqa: BLE001 - a shard down is a row, not a failure
                return {"name": name, "skus": 0, "ready": False, "error": type(exc).__name__}

        return list(await asyncio.gather(*(info(n) for n in names)))

    async def set_kill_switch(self, on: bool, skus: Sequence[str] = (),
                              channels: Sequence[str] = (), brands: Sequence[str] = ()
                              ) -> dict[str, Any]:
        """Switch new reservations off (or back on): globally when nothing is named,
        else for these SKUs, sales channels and brands."""
        for sku in skus:
            self.catalog.sku(sku)
        return await self.kill.set(on, skus, channels, brands)

    async def ready(self) -> dict[str, bool]:
        """Whether Redis and Ray answer (each within 2 s)."""
        async def redis_ok() -> bool:
            return bool(await asyncio.wait_for(self.redis.run("PING"), 2))

        async def ray_ok() -> bool:
            await asyncio.wait_for(self.directory.shard_names.remote(), 2)
            return True

        checks = {}
        for name, probe in (("redis", redis_ok), ("ray", ray_ok)):
            try:
                checks[name] = await probe()
            except Exception:  # noqa: BLE001 - any failure means not ready
                checks[name] = False
        return checks
