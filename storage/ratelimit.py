"""Token buckets in Redis, leased in slices so that most requests never wait on Redis.

The bucket ``{p}:rl:{name}`` (rate/s, burst) is shared by every API process. A
process takes a *lease* of up to ``lease_s`` worth of tokens at once (one script
call) and spends it locally; it asks again only when the lease is spent. So a key's
limit holds across processes, give or take one lease per process, and a request
costs a Redis round trip only once per lease.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from allocator.config import Keys
from storage.coalesce import Coalescer

# KEYS[1] bucket; ARGV: rate/s, burst, now (s), least, most. Takes between least and
# most tokens if at least `least` are there. Returns {granted, wait_ms}.
LEASE = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local least, most = tonumber(ARGV[4]), tonumber(ARGV[5])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local granted, wait_ms = 0, 0
if tokens >= least then
  granted = math.min(most, math.floor(tokens))
  tokens = tokens - granted
else
  wait_ms = math.ceil((least - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {granted, wait_ms}
"""


@dataclass
class _Lease:
    tokens: float = 0.0


class TokenLeases:
    """``await take(name, rate, burst, cost)`` → 0 if allowed, else seconds to wait."""

    def __init__(self, redis: Coalescer, keys: Keys, lease_s: float = 0.05) -> None:
        self.redis = redis
        self.keys = keys
        self.lease_s = lease_s
        self._leases: dict[str, _Lease] = {}

    async def take(self, name: str, rate: float, burst: int, cost: float = 1.0) -> float:
        lease = self._leases.setdefault(name, _Lease())
        if lease.tokens >= cost:
            lease.tokens -= cost
            return 0.0
        least = max(1, math.ceil(cost - lease.tokens))
        most = max(least, min(burst, math.ceil(rate * self.lease_s)))
        granted, wait_ms = await self.redis.script(
            LEASE, [self.keys.rate_limit(name)], [rate, burst, time.time(), least, most])
        if int(granted) <= 0:
            return int(wait_ms) / 1000
        lease.tokens += int(granted) - cost
        return 0.0
