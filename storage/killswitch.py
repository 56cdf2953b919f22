"""The kill switch in Redis: ``{p}:kill:global`` (a flag), and sets of what is switched
off: ``{p}:kill:skus``, ``{p}:kill:channels``, ``{p}:kill:brands``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Sequence

from allocator.config import Keys
from storage.coalesce import Coalescer


@dataclass(frozen=True)
class KillState:
    """What the switch stops: everything (``on``), or these SKUs, channels, brands."""

    on: bool = False
    skus: frozenset[str] = field(default_factory=frozenset)
    channels: frozenset[str] = field(default_factory=frozenset)
    brands: frozenset[str] = field(default_factory=frozenset)


class KillSwitchStore:
    def __init__(self, redis: Coalescer, keys: Keys) -> None:
        self.redis = redis
        self.global_key = keys.kill_global
        self.sets = {"skus": keys.kill_skus, "channels": keys.kill_channels,
                     "brands": keys.kill_brands}

    async def read(self) -> KillState:
        on, *members = await asyncio.gather(
            self.redis.run("EXISTS", self.global_key),
            *(self.redis.run("SMEMBERS", key) for key in self.sets.values()))
        return KillState(bool(on), *(frozenset(s.decode() if isinstance(s, bytes) else s
                                               for s in m) for m in members))

    async def set(self, on: bool, skus: Sequence[str] = (), channels: Sequence[str] = (),
                  brands: Sequence[str] = ()) -> None:
        """Switch SKUs, channels and brands off (``on``) or back on; with none named,
        the global switch."""
        named = {"skus": skus, "channels": channels, "brands": brands}
        if not any(named.values()):
            await self.redis.run(*(("SET", self.global_key, "1") if on
                                   else ("DEL", self.global_key)))
            return
        await asyncio.gather(*(self.redis.run("SADD" if on else "SREM", self.sets[k], *v)
                               for k, v in named.items() if v))
