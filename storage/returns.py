"""Returns by exchange of a shipped reservation, in Redis: ``{p}:returns:<id>``, a hash
of units returned per line (``u:<sku>|<warehouse>``) and one entry per exchange
(``x:<replacement id>``, JSON). A claim is one script, so two exchanges of the same
shipped units cannot both pass what shipped."""

from __future__ import annotations

import json
from typing import Any

from allocator.config import Keys
from storage.coalesce import Coalescer

# KEYS[1]: the hash; ARGV: line field, units, units shipped, exchange field, its JSON,
# TTL. Answers {1, returned} (claimed), {2, returned} (this exchange had claimed them:
# a retry) or {0, returned} (refused: fewer than ``units`` are left).
CLAIM = """
if redis.call('HEXISTS', KEYS[1], ARGV[4]) == 1 then
  return {2, tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')}
end
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if cur + tonumber(ARGV[2]) > tonumber(ARGV[3]) then return {0, cur} end
redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[4], ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[6])
return {1, cur + tonumber(ARGV[2])}
"""
# KEYS[1]: the hash; ARGV: line field, exchange field, units. Gives the units back
# once (only if the exchange's entry was still there).
UNCLAIM = """
if redis.call('HDEL', KEYS[1], ARGV[2]) == 1 then
  redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[3]))
end
return 1
"""


class ReturnClaims:
    def __init__(self, redis: Coalescer, keys: Keys, ttl_s: int) -> None:
        self.redis = redis
        self.keys = keys
        self.ttl_s = int(ttl_s)

    async def claim(self, rid: str, line: tuple[str, str], qty: int, shipped: int,
                    exchange_id: str, entry: dict[str, Any]) -> tuple[int, int]:
        """Claim ``qty`` of the ``shipped`` units of ``line`` (sku, warehouse) for the
        exchange ``exchange_id``: (1 claimed | 2 it had already | 0 refused, units
        returned of the line after it)."""
        code, returned = await self.redis.script(
            CLAIM, [self.keys.returns(rid)],
            [_line(line), qty, shipped, f"x:{exchange_id}", json.dumps(entry), self.ttl_s])
        return int(code), int(returned)

    async def unclaim(self, rid: str, line: tuple[str, str], qty: int,
                      exchange_id: str) -> None:
        await self.redis.script(UNCLAIM, [self.keys.returns(rid)],
                                [_line(line), f"x:{exchange_id}", qty])

    async def read(self, rid: str) -> tuple[dict[tuple[str, str], int], list[dict[str, Any]]]:
        """Units returned per line (sku, warehouse), and the exchanges' entries."""
        raw = await self.redis.run("HGETALL", self.keys.returns(rid))
        pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2])
        units: dict[tuple[str, str], int] = {}
        entries = []
        for k, v in pairs:
            k = k.decode() if isinstance(k, bytes) else str(k)
            if k.startswith("u:"):
                sku, _, wh = k[2:].rpartition("|")
                units[(sku, wh)] = int(v)
            elif k.startswith("x:"):
                entries.append(json.loads(v))
        return units, entries


def _line(line: tuple[str, str]) -> str:
    return f"u:{line[0]}|{line[1]}"
