"""Inventory reads and warehouse-side changes over the shards: stock per SKU,
absolute syncs, restocks, returns, and the kill switch.

A hot SKU lives on two shards while its base shard drains (the base keeps the
units it already held or committed); reads sum both, and a sync of an absolute
count gives the owner ``count − units still on the base shard``.
"""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, Sequence

import ray
import redis

from actors.client import AllocatorClient, ShardResult
from allocator.errors import InvalidRequest, StaleVersion
from allocator.ops import Code, OpKind, op_key

FIELDS = ("on_hand", "held", "committed", "available")


class Inventory:
    """Stock reads and warehouse movements for the API and ops tools."""

    def __init__(self, client: AllocatorClient) -> None:
        self.client = client

    def shards_of(self, sku: str) -> list[str]:
        """Every shard that may hold units of ``sku`` (its owner first)."""
        layout = self.client.layout
        owner = layout.owner(sku)
        return [owner] + [n for n, skus in layout.shards.items() if n != owner and sku in skus]

    def stock(self, sku: str) -> dict[str, dict[str, int]]:
        """Per warehouse: on_hand, held, committed, available (summed over shards)."""
        self.client.check(sku)
        refs = [self.client.actor(n).stock.remote(sku) for n in self.shards_of(sku)]
        total: dict[str, dict[str, int]] = {}
        for part in ray.get(refs):
            for wh, row in part.items():
                t = total.setdefault(wh, {k: 0 for k in FIELDS} | {"version": 0})
                for k in FIELDS:
                    t[k] += int(row[k])
                t["version"] = max(t["version"], int(row.get("version", 0)))
        return total

    def sync(self, counts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Absolute on-hand counts ``{sku, warehouse, on_hand, version}`` from a
        warehouse system. All are validated first; each is applied on its own and
        answers ok or stale (a count below held+committed is recorded as drift). A count
        sent again (same SKU, warehouse, version and units) replays its first answer."""
        for c in counts:
            self.client.check(c["sku"], c["warehouse"])
        futs: list[Future] = []
        for c in counts:
            sku, wh = c["sku"], c["warehouse"]
            owner, *others = self.shards_of(sku)
            residual = sum(ray.get(self.client.actor(n).stock.remote(sku))[wh]["on_hand"]
                           for n in others)
            target = max(0, int(c["on_hand"]) - residual)
            op = op_key(f"sync:{sku}:{wh}:{c['version']}:{c['on_hand']}")
            futs.append(self.client.submit(OpKind.SYNC, op,
                                           [(sku, wh, target)], arg=int(c["version"])))
        out = []
        for c, fut in zip(counts, futs):
            res: ShardResult = fut.result(timeout=30)
            item = {"sku": c["sku"], "warehouse": c["warehouse"], "version": c["version"]}
            if res.code == Code.STALE_VERSION:
                item.update(status="stale", current_version=res.value)
            else:
                _raise_unless_ok(res)
                item["status"] = "ok"
            out.append(item)
        return out

    def move(self, kind: str, sku: str, warehouse: str, qty: int, key: str) -> None:
        """``restock`` or ``return``: ``qty`` units arrive at ``warehouse``."""
        self.client.check(sku, warehouse)
        op = {"restock": OpKind.RESTOCK, "return": OpKind.RETURN}[kind]
        res = self.client.submit(op, op_key(f"move:{key}"), [(sku, warehouse, qty)]).result(30)
        _raise_unless_ok(res)


def _raise_unless_ok(res: ShardResult) -> None:
    if res.code == Code.OK:
        return
    if res.code == Code.STALE_VERSION:
        raise StaleVersion(f"version is not newer than {res.value}", current_version=res.value)
    raise InvalidRequest(f"the shard refused the change: {res.code.name.lower()}")


class KillSwitch:
    """No new reservations, globally or per SKU (commits and releases still work).
    Kept in Redis so every API worker sees the same switch."""

    def __init__(self, client: redis.Redis, prefix: str = "alloc") -> None:
        self.redis = client
        self.global_key = f"{prefix}:kill:global"
        self.skus_key = f"{prefix}:kill:skus"

    def set(self, on: bool, skus: Sequence[str] = ()) -> dict[str, Any]:
        if skus:
            (self.redis.sadd if on else self.redis.srem)(self.skus_key, *skus)
        elif on:
            self.redis.set(self.global_key, "1")
        else:
            self.redis.delete(self.global_key)
        return self.state()

    def state(self) -> dict[str, Any]:
        pipe = self.redis.pipeline()
        pipe.exists(self.global_key)
        pipe.smembers(self.skus_key)
        on, skus = pipe.execute()
        return {"global": bool(on), "skus": sorted(s.decode() if isinstance(s, bytes) else s
                                                   for s in skus)}

    def blocked(self, skus: Sequence[str]) -> list[str] | None:
        """None if reservations of ``skus`` may go ahead; else what is switched off
        (``["*"]`` for the global switch)."""
        pipe = self.redis.pipeline()
        pipe.exists(self.global_key)
        pipe.smismember(self.skus_key, list(skus))
        on, member = pipe.execute()
        if on:
            return ["*"]
        hit = [s for s, m in zip(skus, member) if m]
        return hit or None
