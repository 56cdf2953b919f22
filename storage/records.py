"""Reservation records and first answers (idempotency), in Redis, one round trip each.

Keys (``{p}`` is the key prefix):

* ``{p}:res:{id}`` — a reservation record (msgpack): lines, holds per shard, times,
  owner, plan. Written once, never changed: a reservation's *state* lives in the
  shards' ledgers, so the record can never disagree with them;
* ``{p}:resb:{token}`` — a bulk batch's reservations: a header and fixed-width rows
  (see :mod:`service.bulk`), read by ``GETRANGE`` one row at a time;
* ``{p}:idem:{owner}:{key}`` — the first answer to an idempotency key (msgpack):
  the request's fingerprint and the outcome (a record, a batch, or an error).

:meth:`Records.settle` stores a first answer together with the records it created
in **one** script call (coalesced with other requests' into one pipeline), and
returns the answer already stored if another request with the same key got there
first. Records are immutable, so this process keeps the ones it saw in a bounded
cache and reads Redis only on a miss.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import msgpack

from storage.coalesce import Coalescer

RECORD_TTL_S = 7 * 24 * 3600

# KEYS[1]: the idempotency key, KEYS[2..]: records; ARGV[1]: answer, ARGV[2]: its TTL,
# ARGV[3]: the records' TTL, ARGV[4..]: the records. Returns the answer stored first.
SETTLE = """
local first = redis.call('GET', KEYS[1])
if first then return first end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
for i = 2, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 2], 'EX', ARGV[3])
end
return false
"""


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def unpack(raw: bytes) -> Any:
    return msgpack.unpackb(raw, raw=False, strict_map_key=False)


class Records:
    """Records and first answers over a :class:`Coalescer`."""

    def __init__(self, redis: Coalescer, prefix: str, answer_ttl_s: int,
                 record_ttl_s: int = RECORD_TTL_S, cache_size: int = 200_000) -> None:
        self.redis = redis
        self.prefix = prefix
        self.answer_ttl_s = int(answer_ttl_s)
        self.record_ttl_s = int(record_ttl_s)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def record_key(self, rid: str) -> str:
        return f"{self.prefix}:res:{rid}"

    def bulk_key(self, token: str) -> str:
        return f"{self.prefix}:resb:{token}"

    def answer_key(self, owner: str, key: str) -> str:
        return f"{self.prefix}:idem:{owner}:{key}"

    async def settle(self, owner: str, key: str, answer: dict[str, Any],
                     records: Sequence[tuple[str, bytes]] = ()) -> dict[str, Any] | None:
        """Store ``answer`` (and ``records``: (key, bytes)) unless a first answer to
        (owner, key) exists; returns that first answer, or None if ours is first."""
        keys = [self.answer_key(owner, key)] + [k for k, _ in records]
        args = [pack(answer), self.answer_ttl_s, self.record_ttl_s] + [v for _, v in records]
        first = await self.redis.script(SETTLE, keys, args)
        return None if first is None else unpack(first)

    async def answer(self, owner: str, key: str) -> dict[str, Any] | None:
        raw = await self.redis.run("GET", self.answer_key(owner, key))
        return None if raw is None else unpack(raw)

    def remember(self, rid: str, record: dict[str, Any]) -> None:
        cache = self._cache
        cache[rid] = record
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    def cached(self, rid: str) -> dict[str, Any] | None:
        return self._cache.get(rid)

    async def get(self, rid: str) -> dict[str, Any] | None:
        """A reservation record, from this process's cache or Redis."""
        hit = self._cache.get(rid)
        if hit is not None:
            return hit
        raw = await self.redis.run("GET", self.record_key(rid))
        if raw is None:
            return None
        record = unpack(raw)
        self.remember(rid, record)
        return record

    async def get_range(self, token: str, start: int, end: int) -> bytes:
        """Bytes ``start..end`` (inclusive) of a bulk batch's blob (b"" if none)."""
        return await self.redis.run("GETRANGE", self.bulk_key(token), start, end)
