"""Which shard owns which SKU: a stable hash over base shards, plus hot-SKU overrides."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import msgpack

from allocator.config import DEFAULT_PREFIX, Keys


def base_shard_name(i: int) -> str:
    return f"shard-{i:02d}"


def hot_shard_name(sku: str) -> str:
    return f"hot-{sku}"


def base_shard_of(sku: str, n_shards: int) -> int:
    """Stable across processes and runs (crc32, not Python's salted hash)."""
    return zlib.crc32(sku.encode()) % n_shards


@dataclass
class Layout:
    """A snapshot of the directory: epoch, every shard's SKUs (in ledger row order)
    and the hot overrides. Clients cache it and refresh when a shard says stale."""

    epoch: int
    warehouses: list[str]
    shards: dict[str, list[str]]  # shard name -> SKU ids, row order
    hot: dict[str, str] = field(default_factory=dict)  # sku -> hot shard name
    n_base: int = 1

    def owner(self, sku: str) -> str:
        """The shard that takes new holds for ``sku``."""
        return self.hot.get(sku) or base_shard_name(base_shard_of(sku, self.n_base))

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "warehouses": self.warehouses, "shards": self.shards,
                "hot": self.hot, "n_base": self.n_base}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Layout":
        return cls(int(d["epoch"]), list(d["warehouses"]), dict(d["shards"]),
                   dict(d.get("hot", {})), int(d["n_base"]))


def base_layout(sku_ids: list[str], warehouses: list[str], n_shards: int) -> Layout:
    shards: dict[str, list[str]] = {base_shard_name(i): [] for i in range(n_shards)}
    for sku in sku_ids:
        shards[base_shard_name(base_shard_of(sku, n_shards))].append(sku)
    return Layout(1, list(warehouses), shards, {}, n_shards)


def load_layout(redis_client: Any, prefix: str = DEFAULT_PREFIX) -> Layout:
    """The layout the directory last saved in Redis."""
    raw = redis_client.get(Keys(prefix).directory)
    if raw is None:
        raise RuntimeError("no directory state in Redis: start the cluster first")
    return Layout.from_dict(msgpack.unpackb(raw, raw=False)["layout"])
