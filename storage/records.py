"""Reservation records and first answers (idempotency), in Redis, one round trip each.

Keys (``{p}`` is the key prefix):

* ``{p}:res:{id}`` — a reservation record (msgpack): lines, holds per shard, times,
  owner, plan. Written once, never changed: a reservation's *state* lives in the
  shards' ledgers, so the record can never disagree with them;
* ``{p}:resb:{token}`` — a bulk batch's reservations: fixed-width rows
  (:data:`BULK_ROW`), read back by ``GETRANGE`` one row at a time, and
  ``{p}:resb:{token}:meta``, its header (owner, shard names);
* ``{p}:idem:{owner}:{key}`` — the first answer to an idempotency key (msgpack):
  the request's fingerprint and the outcome (a record, a batch, or an error).

:meth:`Records.settle` stores a first answer together with the records it created
in **one** script call (coalesced with other requests' into one pipeline), and
returns the answer already stored if another request with the same key got there
first. Records are immutable, so this process keeps the ones it saw in a bounded
cache and reads Redis only on a miss.
"""

from __future__ import annotations

import asyncio
import struct
from collections import OrderedDict
from typing import Any, Sequence

import msgpack
import numpy as np

from allocator.config import Keys
from storage.coalesce import Coalescer

RECORD_TTL_S = 7 * 24 * 3600
#: One bulk row: code, value (hold id), shard, sku, warehouse, qty, created_ms, expires_ms.
BULK_ROW = struct.Struct("<8q")

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

    def __init__(self, redis: Coalescer, keys: Keys, answer_ttl_s: int,
                 record_ttl_s: int = RECORD_TTL_S, cache_size: int = 200_000) -> None:
        self.redis = redis
        self.keys = keys
        self.answer_ttl_s = int(answer_ttl_s)
        self.record_ttl_s = int(record_ttl_s)
        self.cache_size = cache_size
        # records kept packed: bytes are invisible to the cyclic collector, whose young
        # collections would otherwise scan every record cached since the last one
        self._cache: OrderedDict[str, bytes] = OrderedDict()

    def record_key(self, rid: str) -> str:
        return self.keys.reservation(rid)

    def bulk_key(self, token: str) -> str:
        return self.keys.bulk(token)

    def answer_key(self, owner: str, key: str) -> str:
        return self.keys.answer(owner, key)

    async def settle(self, owner: str, key: str, answer: dict[str, Any] | bytes,
                     records: Sequence[tuple[str, bytes]] = ()) -> dict[str, Any] | None:
        """Store ``answer`` (or the same :func:`pack`-ed; and ``records``: (key, bytes))
        unless a first answer to (owner, key) exists; returns that first answer, or None
        if ours is first."""
        keys = [self.answer_key(owner, key)] + [k for k, _ in records]
        packed = answer if isinstance(answer, bytes) else pack(answer)
        args = [packed, self.answer_ttl_s, self.record_ttl_s] + [v for _, v in records]
        first = await self.redis.script(SETTLE, keys, args)
        return None if first is None else unpack(first)

    async def answer(self, owner: str, key: str) -> dict[str, Any] | None:
        raw = await self.redis.run("GET", self.answer_key(owner, key))
        return None if raw is None else unpack(raw)

    def remember(self, rid: str, record: dict[str, Any] | bytes) -> None:
        """Keep a record (or the same :func:`pack`-ed) in this process's cache."""
        cache = self._cache
        cache[rid] = record if isinstance(record, bytes) else pack(record)
        if len(cache) > self.cache_size:
            cache.popitem(last=False)

    def cached(self, rid: str) -> dict[str, Any] | None:
        """A record from this process's cache (a new dict each time), or None."""
        hit = self._cache.get(rid)
        return None if hit is None else unpack(hit)

    async def get(self, rid: str) -> dict[str, Any] | None:
        """A reservation record, from this process's cache or Redis."""
        hit = self._cache.get(rid)
        if hit is None:
            hit = await self.redis.run("GET", self.record_key(rid))
            if hit is None:
                return None
            self.remember(rid, hit)
        return unpack(hit)

    def bulk_records(self, token: str, rows: np.ndarray, meta: dict[str, Any]
                     ) -> list[tuple[str, bytes]]:
        """A bulk batch as records for :meth:`settle`: its rows (``(n, 8)`` int64, see
        :data:`BULK_ROW`) as one blob, and its header (owner, shard names)."""
        key = self.bulk_key(token)
        return [(key, np.ascontiguousarray(rows, np.int64).tobytes()),
                (key + ":meta", pack(meta))]

    async def bulk(self, token: str) -> tuple[np.ndarray, dict[str, Any]] | None:
        """A bulk batch's rows and header (None if it is no longer stored)."""
        key = self.bulk_key(token)
        blob, meta = await asyncio.gather(self.redis.run("GET", key),
                                          self.redis.run("GET", key + ":meta"))
        if blob is None or meta is None:
            return None
        return np.frombuffer(blob, np.int64).reshape(-1, 8).copy(), unpack(meta)

    async def bulk_row(self, token: str, index: int
                       ) -> tuple[tuple[int, ...], dict[str, Any]] | None:
        """Row ``index`` of a bulk batch and the batch's header, in one round trip
        (``GETRANGE``: the blob is not read whole)."""
        key, size = self.bulk_key(token), BULK_ROW.size
        blob, meta = await asyncio.gather(
            self.redis.run("GETRANGE", key, index * size, index * size + size - 1),
            self.redis.run("GET", key + ":meta"))
        if meta is None or len(blob) != size:
            return None
        return BULK_ROW.unpack(blob), unpack(meta)
