"""API configuration: keys and scopes, limits, rate limits (``ALLOCATOR_API_*``)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping

from allocator.errors import InvalidRequest

SCOPES = ("checkout", "ops", "admin", "read")
DEV_KEYS: dict[str, dict[str, object]] = {
    "dev-checkout-key": {"name": "dev-checkout", "scopes": ["checkout", "read"]},
    "dev-ops-key": {"name": "dev-ops", "scopes": ["ops", "read"]},
    "dev-admin-key": {"name": "dev-admin", "scopes": ["admin", "ops", "checkout", "read"]},
}


@dataclass(frozen=True)
class ApiKey:
    """One caller. ``name`` identifies it in logs and owns its reservations;
    ``rate``/``burst`` override the default token bucket."""

    name: str
    scopes: frozenset[str]
    rate: float | None = None
    burst: int | None = None
    max_share: float = 0.0  # at most this share of a SKU's on-hand units held at once


@dataclass(frozen=True)
class ApiSettings:
    """Everything the HTTP layer needs. :meth:`from_env` reads ``ALLOCATOR_API_KEYS``
    (JSON ``{"<secret>": {"name": .., "scopes": [..], "rate": .., "burst": ..}}``, or
    ``@path`` to a file holding it), ``ALLOCATOR_API_RATE``/``_BURST`` and the limits."""

    keys: Mapping[str, ApiKey]
    redis_url: str = ""
    ray_address: str = "auto"
    prefix: str = "alloc"
    rate_per_s: float = 2000.0
    burst: int = 4000
    max_body_bytes: int = 1_048_576
    max_orders_per_batch: int = 10_000
    idempotency_ttl_s: int = 24 * 3600
    hold_ttl_s: float = 600.0
    dev_keys: bool = False
    max_share: float = 0.0
    customer_cap: int = 0
    network_path: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ApiSettings":
        env = os.environ if env is None else env
        raw = env.get("ALLOCATOR_API_KEYS", "")
        dev = not raw
        if raw.startswith("@"):
            with open(raw[1:], encoding="utf-8") as fh:
                raw = fh.read()
        num = lambda name, default: type(default)(env.get(f"ALLOCATOR_API_{name}", default))  # noqa: E731
        max_share = num("MAX_SHARE", 0.0)
        keys = parse_keys(json.loads(raw) if raw else DEV_KEYS, max_share)
        return cls(keys=keys, redis_url=env.get("REDIS_URL", ""),
                   ray_address=env.get("RAY_ADDRESS", "auto"),
                   prefix=env.get("ALLOCATOR_PREFIX", "alloc"),
                   rate_per_s=num("RATE", 2000.0), burst=num("BURST", 4000),
                   max_body_bytes=num("MAX_BODY_BYTES", 1_048_576),
                   max_orders_per_batch=num("MAX_BATCH_ORDERS", 10_000),
                   idempotency_ttl_s=num("IDEMPOTENCY_TTL_S", 24 * 3600),
                   hold_ttl_s=float(env.get("ALLOCATOR_HOLD_TTL_S", 600.0)),
                   dev_keys=dev, max_share=max_share,
                   customer_cap=int(env.get("ALLOCATOR_CUSTOMER_CAP", 0)),
                   network_path=env.get("ALLOCATOR_NETWORK", ""))


def parse_keys(data: object, max_share: float = 0.0) -> dict[str, ApiKey]:
    """Validate the key table; :class:`InvalidRequest` names the first bad entry (by
    its name or position, never by its secret)."""
    if not isinstance(data, dict) or not data:
        raise InvalidRequest("ALLOCATOR_API_KEYS must be a non-empty JSON object")
    out = {}
    names: set[str] = set()
    for i, (secret, spec) in enumerate(data.items()):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                or not spec["name"].strip():
            raise InvalidRequest(f"API key #{i + 1}: needs a \"name\" (it owns the key's "
                                 "reservations and appears in logs and errors)")
        if spec["name"] in names:
            raise InvalidRequest(f"API key {spec['name']!r}: two keys share this name; "
                                 "names must be unique (they own reservations)")
        names.add(spec["name"])
        share = spec.get("max_share", max_share)
        if not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise InvalidRequest(f"API key {spec['name']!r}: max_share is a fraction 0..1")
        if not isinstance(spec.get("scopes"), list):
            raise InvalidRequest(f"API key {spec['name']!r}: needs a list of scopes")
        bad = sorted(set(spec["scopes"]) - set(SCOPES))
        if bad:
            raise InvalidRequest(f"API key {spec['name']!r}: unknown scopes {bad}; "
                                 f"known {SCOPES}")
        if len(secret) < 8:
            raise InvalidRequest(f"API key {spec['name']!r}: a key needs at least 8 characters")
        out[secret] = ApiKey(name=spec["name"], scopes=frozenset(spec["scopes"]),
                             rate=spec.get("rate"), burst=spec.get("burst"),
                             max_share=float(share))
    return out
