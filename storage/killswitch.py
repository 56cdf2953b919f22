"""The kill switch in Redis: ``{p}:kill:global`` (a flag) and ``{p}:kill:skus`` (a set)."""

from __future__ import annotations

import asyncio
from typing import Sequence

from allocator.config import Keys
from storage.coalesce import Coalescer


class KillSwitchStore:
    def __init__(self, redis: Coalescer, keys: Keys) -> None:
        self.redis = redis
        self.global_key = keys.kill_global
        self.skus_key = keys.kill_skus

    async def read(self) -> tuple[bool, frozenset[str]]:
        """(global switch on, SKUs switched off)."""
        on, skus = await asyncio.gather(self.redis.run("EXISTS", self.global_key),
                                        self.redis.run("SMEMBERS", self.skus_key))
        return bool(on), frozenset(s.decode() if isinstance(s, bytes) else s for s in skus)

    async def set(self, on: bool, skus: Sequence[str] = ()) -> None:
        if skus:
            await self.redis.run("SADD" if on else "SREM", self.skus_key, *skus)
        elif on:
            await self.redis.run("SET", self.global_key, "1")
        else:
            await self.redis.run("DEL", self.global_key)
