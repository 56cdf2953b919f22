"""Per-key token bucket in Redis, so the limit holds across uvicorn workers."""

from __future__ import annotations

import time

import redis

from api.problems import Problem
from api.settings import ApiKey

# KEYS[1] bucket; ARGV: rate/s, burst, now (s), cost. Returns {allowed, wait_ms}.
TOKEN_BUCKET = """
local rate, burst, now, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens, ts = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate)
local allowed, wait_ms = 0, 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait_ms = math.ceil((cost - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return {allowed, wait_ms}
"""


class RateLimiter:
    """``take(key)`` spends one token of the key's bucket or raises 429 with Retry-After.
    A rate of 0 (default or per key) turns limiting off."""

    def __init__(self, client: redis.Redis, prefix: str, rate_per_s: float, burst: int) -> None:
        self.script = client.register_script(TOKEN_BUCKET)
        self.prefix = prefix
        self.rate = rate_per_s
        self.burst = burst

    def take(self, key: ApiKey, cost: int = 1) -> None:
        rate = self.rate if key.rate is None else key.rate
        burst = self.burst if key.burst is None else key.burst
        if rate <= 0:
            return
        allowed, wait_ms = self.script(keys=[f"{self.prefix}:rl:{key.name}"],
                                       args=[rate, burst, time.time(), cost])
        if not int(allowed):
            raise Problem("rate_limited", f"rate limit of {rate:g}/s (burst {burst}) for key "
                          f"{key.name!r} exceeded", retry_after_s=int(wait_ms) / 1000)
