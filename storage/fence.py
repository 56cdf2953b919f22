"""Per-reservation fences in Redis: a short lease that one request at a time holds
while it changes a committed reservation across shards, and the *intent* of a change
that must be finished by whoever comes next if its own process stops half way.

``{p}:fence:{<p>:<id>}`` is the lease (a random token, ``PX`` TTL: a crashed holder
blocks nobody longer than that); ``…:intent`` beside it (same hash tag, so one script
touches both on a Redis Cluster) is JSON, kept for as long as records are. Taking the
lease answers the intent left behind, in the same round trip.
"""

from __future__ import annotations

import json
import os
from typing import Any

from allocator.config import Keys
from storage.coalesce import Coalescer

# KEYS: lease, intent; ARGV: token, TTL ms. {1, intent or false} when taken, else
# {0, the lease's remaining ms}.
TAKE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {1, redis.call('GET', KEYS[2])}
end
return {0, redis.call('PTTL', KEYS[1])}
"""
# KEYS: lease, intent; ARGV: token, 1 to drop the intent. The lease goes only if it
# is still this holder's (it may have lapsed and been taken by another).
GIVE_BACK = """
if ARGV[2] == '1' then redis.call('DEL', KEYS[2]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Fences:
    """Take, note under and give back per-reservation leases (see the module)."""

    def __init__(self, redis: Coalescer, keys: Keys, ttl_ms: int, intent_ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_ms = int(ttl_ms)
        self.intent_ttl_s = int(intent_ttl_s)

    def _keys(self, rid: str) -> list[str]:
        lease = self.keys.fence(rid)
        return [lease, f"{lease}:intent"]

    async def take(self, rid: str) -> tuple[bytes | None, Any]:
        """(token, the intent left behind or None) when this caller now holds the
        fence; (None, ms until it lapses) when another does."""
        token = os.urandom(12).hex().encode()
        got, value = await self.redis.script(TAKE, self._keys(rid), [token, self.ttl_ms])
        if not got:
            return None, int(value)
        return token, (json.loads(value) if value else None)

    async def note(self, rid: str, intent: dict[str, Any]) -> None:
        """Record the change about to be made (finished by the next holder if this
        process stops before :meth:`give_back` with ``done``)."""
        await self.redis.run("SET", self._keys(rid)[1], json.dumps(intent), "EX",
                             self.intent_ttl_s)

    async def give_back(self, rid: str, token: bytes, done: bool) -> None:
        """Drop the lease (if still ours) and, when ``done``, the intent."""
        await self.redis.script(GIVE_BACK, self._keys(rid), [token, int(done)])
