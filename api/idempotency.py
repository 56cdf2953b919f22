"""Idempotency-Key with Stripe's semantics, kept in Redis for 24 h.

The first request with a key claims it (``SET NX`` of an in-flight marker holding the
request's fingerprint); its response (status and body) then replaces the marker.
A replay with the same body gets that response back; a different body gets 422; a
replay while the first is still running gets 409. A first request that fails with a
5xx, 423 or 429 frees the key, so the client may retry it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import redis

from api.problems import Problem

MAX_KEY_LENGTH = 255
IN_FLIGHT_TTL_S = 60
RETRYABLE = frozenset({423, 429})  # kill switch, rate limited: the key stays usable


@dataclass(frozen=True)
class Stored:
    status: int
    body: Any


class IdempotencyStore:
    def __init__(self, client: redis.Redis, prefix: str, ttl_s: int) -> None:
        self.redis = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    @staticmethod
    def fingerprint(method: str, path: str, body: Any) -> str:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()

    def _key(self, owner: str, key: str) -> str:
        return f"{self.prefix}:idem:{owner}:{key}"

    @staticmethod
    def check_key(key: str | None) -> str:
        if not key:
            raise Problem("idempotency_key_missing",
                          "this endpoint needs an 'Idempotency-Key' header (e.g. a UUID)")
        if len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise Problem("invalid_request",
                          f"Idempotency-Key must be 1..{MAX_KEY_LENGTH} printable characters")
        return key

    def begin(self, owner: str, key: str, fingerprint: str) -> Stored | None:
        """Claim ``key``; or the stored response of its first use; or raise 409/422."""
        rkey = self._key(owner, key)
        marker = json.dumps({"fp": fingerprint, "state": "in_flight"})
        if self.redis.set(rkey, marker, nx=True, ex=IN_FLIGHT_TTL_S):
            return None
        raw = self.redis.get(rkey)
        if raw is None:  # expired between the two calls: claim again
            return self.begin(owner, key, fingerprint)
        entry = json.loads(raw)
        if entry["state"] == "in_flight":
            raise Problem("idempotency_in_flight", "the first request with this "
                          "Idempotency-Key is still being processed; retry shortly",
                          retry_after_s=1)
        if entry["fp"] != fingerprint:
            raise Problem("idempotency_mismatch", "this Idempotency-Key was first used with a "
                          "different request; use a new key for a new request")
        return Stored(entry["status"], entry["body"])

    def finish(self, owner: str, key: str, fingerprint: str, status: int, body: Any) -> None:
        """Store the response (or free the key after a server-side failure)."""
        rkey = self._key(owner, key)
        if status >= 500 or status in RETRYABLE:
            self.redis.delete(rkey)
            return
        self.redis.set(rkey, json.dumps({"fp": fingerprint, "state": "done", "status": status,
                                         "body": body}), ex=self.ttl_s)
