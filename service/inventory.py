"""Inventory: stock reads, warehouse syncs and movements (ship, restock, return).

A hot SKU lives on two shards while its base shard drains (the base keeps the units it
already held or committed): reads sum both, and a sync of an absolute count gives the
owner ``count − units still on the base shard``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from actors.client import ShardClient
from allocator.bundles import Bundle, kits_available
from allocator.errors import AllocatorError, IllegalTransition
from allocator.ops import Code, OpKind
from allocator.outcomes import error_for
from service.checkout import Checkout
from service.orders import Outcome
from service.ids import op_id
from service.reservation import State

UNIT_FIELDS = ("on_hand", "held", "committed", "available")


@dataclass(frozen=True)
class Count:
    """An absolute on-hand count from a warehouse system."""

    sku: str
    warehouse: str
    on_hand: int
    version: int


@dataclass(frozen=True)
class Movement:
    """``ship`` (a committed reservation left the warehouse) or ``restock``/``return``
    (units arrived)."""

    type: str
    reservation_id: str = ""
    sku: str = ""
    warehouse: str = ""
    qty: int = 0


class Inventory:
    def __init__(self, client: ShardClient, checkout: Checkout) -> None:
        self.client = client
        self.checkout = checkout

    def shards_of(self, sku: str) -> list[str]:
        """Every shard that may hold units of ``sku`` (its owner first)."""
        layout = self.client.layout
        owner = layout.owner(sku)
        return [owner] + [n for n, skus in layout.shards.items() if n != owner and sku in skus]

    async def _parts(self, sku: str) -> list[dict[str, dict[str, int]]]:
        answers = await asyncio.gather(*(self.client.read(n, "stock", sku=sku)
                                         for n in self.shards_of(sku)))
        return [a["stock"] for a in answers]

    async def stock(self, sku: str) -> dict[str, dict[str, int]]:
        """Per warehouse: on_hand, held, committed, available, version (all shards)."""
        self.client.check(sku)
        total: dict[str, dict[str, int]] = {}
        for part in await self._parts(sku):
            for wh, row in part.items():
                t = total.setdefault(wh, {k: 0 for k in UNIT_FIELDS} | {"version": 0})
                for k in UNIT_FIELDS:
                    t[k] += int(row[k])
                t["version"] = max(t["version"], int(row.get("version", 0)))
        return total

    async def kit_stock(self, bundle: Bundle) -> dict[str, Any]:
        """A bundle's availability from its components': whole kits per warehouse
        (min over components of floor(available / units per kit)) and in total (the
        same over the components' totals: a kit's components may come from several
        warehouses)."""
        stocks = await asyncio.gather(*(self.stock(s) for s, _ in bundle.components))
        whs = sorted(set().union(*stocks))
        rows = {s: np.array([st.get(w, {}).get("available", 0) for w in whs] +
                            [sum(r["available"] for r in st.values())], np.int64)
                for (s, _), st in zip(bundle.components, stocks)}
        kits = kits_available(bundle.components, rows)
        return {"sku": bundle.id, "bundle": bundle.to_dict(),
                "warehouses": {w: {"available": int(k)} for w, k in zip(whs, kits)},
                "totals": {"available": int(kits[-1])}}

    async def sync(self, counts: Sequence[Count]) -> list[dict[str, Any]]:
        """Apply absolute counts; each answers ok or stale (a count below
        held + committed is recorded as drift). All are validated first. A count sent
        again (same SKU, warehouse, version and units) replays its first answer."""
        for c in counts:
            self.client.check(c.sku, c.warehouse)

        async def one(c: Count) -> dict[str, Any]:
            parts = await self._parts(c.sku) if len(self.shards_of(c.sku)) > 1 else []
            residual = sum(int(p[c.warehouse]["on_hand"]) for p in parts[1:])
            target = max(0, c.on_hand - residual)
            res = await self.client.submit(
                OpKind.SYNC, op_id("sync", c.sku, c.warehouse, c.version, c.on_hand),
                [(c.sku, c.warehouse, target)], version=c.version)
            item: dict[str, Any] = {"sku": c.sku, "warehouse": c.warehouse,
                                    "version": c.version}
            if res.code == Code.STALE_VERSION:
                item.update(status="stale", current_version=res.value)
                return item
            _raise_unless_ok(OpKind.SYNC, res)
            item["status"] = "ok"
            return item

        return list(await asyncio.gather(*(one(c) for c in counts)))

    async def movements(self, moves: Sequence[Movement], owner: str, key: str,
                        fingerprint: str) -> Outcome:
        """Apply every movement or none: all are validated (SKUs, warehouses, and that
        each shipped reservation exists and is committed) before any applies; then
        ships, then arrivals. Op ids derive from (owner, key), so a retry after a
        failure (503) replays what was applied and applies the rest, once."""
        first = await self.checkout.records.answer(owner, key)
        if first is not None:
            return self.checkout.replay(first, fingerprint)
        try:
            await self._validate(moves)
            for m in moves:
                if m.type == "ship":
                    await self.checkout.ship(m.reservation_id)
            arrivals = [self.client.submit(
                OpKind.RESTOCK if m.type == "restock" else OpKind.RETURN,
                op_id("move", owner, key, i), [(m.sku, m.warehouse, m.qty)])
                for i, m in enumerate(moves) if m.type != "ship"]
            for res in await self.checkout.wait(arrivals):
                _raise_unless_ok(OpKind.RESTOCK, res)
            answer: dict[str, Any] = {"fp": fingerprint, "value": {"applied": len(moves)}}
        except AllocatorError as exc:
            if exc.code not in ("unknown_sku", "unknown_warehouse", "unknown_hold",
                                "illegal_transition", "invalid_request", "hold_expired"):
                raise
            answer = {"fp": fingerprint, "error": [exc.code, exc.message, exc.details]}
        first = await self.checkout.settle(owner, key, answer)
        if first is not None:
            return self.checkout.replay(first, fingerprint)
        if "error" in answer:
            return self.checkout.outcome_of(answer)
        return Outcome(answer["value"])

    async def _validate(self, moves: Sequence[Movement]) -> None:
        ships = []
        for m in moves:
            if m.type == "ship":
                ships.append(self.checkout.get(m.reservation_id, None))
            else:
                self.client.check(m.sku, m.warehouse)
        for res in await asyncio.gather(*ships):
            if res.state not in (State.COMMITTED, State.SHIPPED):
                raise IllegalTransition(f"cannot ship reservation {res.id}: it is "
                                        f"{res.state.value}", reservation_id=res.id,
                                        state=res.state.value)


def _raise_unless_ok(kind: OpKind, res: Any) -> None:
    exc = error_for(kind, res.code, res.value, res.detail)
    if exc is not None:
        raise exc
