"""Bundles in the catalog: defined by ops, kept in Redis (one hash, bundle SKU → JSON),
and how checkout expands a request's bundle lines into their components.

Every API process keeps a copy of the bundles, read again when it is older than
``refresh_s`` (1 s) and a request names a bundle, or when a request names an id that
is neither a SKU nor a bundle it knows (at most every 50 ms): a bundle defined through
one worker is known to every worker at once, a redefinition or deletion within a
second. Reservations already made keep the components they were made with.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any, Sequence

from actors.client import ShardClient
from allocator.bundles import Bundle, Kit, expand, validate
from allocator.config import Keys
from allocator.errors import InvalidRequest, UnknownSku
from routing import Order
from routing.order import OrderLine
from service.orders import HoldRequest
from storage.coalesce import Coalescer

UNKNOWN_REREAD_S = 0.05  # an unknown id reads the hash again at most this often


class BundleStore:
    def __init__(self, redis: Coalescer, keys: Keys, client: ShardClient,
                 refresh_s: float = 1.0) -> None:
        self.redis = redis
        self.key = keys.bundles
        self.client = client
        self.refresh_s = refresh_s
        self._bundles: dict[str, Bundle] = {}
        self._read_at = float("-inf")

    def is_sku(self, sku: str) -> bool:
        return sku in self.client.sku_index

    async def all(self, fresh: bool = True) -> dict[str, Bundle]:
        """Every bundle (read from Redis when ``fresh`` or the copy is old)."""
        if fresh or time.monotonic() - self._read_at > self.refresh_s:
            raw = await self.redis.run("HGETALL", self.key)
            pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2])
            self._bundles = {_s(k): Bundle.from_dict(json.loads(v)) for k, v in pairs}
            self._read_at = time.monotonic()
        return self._bundles

    async def get(self, sku: str) -> Bundle | None:
        """The bundle ``sku`` (None if it is a catalog SKU or unknown)."""
        if self.is_sku(sku):
            return None
        found = self._bundles.get(sku)
        age = time.monotonic() - self._read_at
        if age > self.refresh_s or (found is None and age > UNKNOWN_REREAD_S):
            found = (await self.all(fresh=True)).get(sku)
        return found

    async def require(self, sku: str) -> Bundle:
        found = await self.get(sku)
        if found is None:
            raise UnknownSku(f"unknown SKU or bundle {sku!r}", sku=sku)
        return found

    async def define(self, bundle: Bundle) -> Bundle:
        """Create or replace a bundle (validated: see :func:`allocator.bundles.validate`)."""
        validate(bundle, self.is_sku)
        await self.redis.run("HSET", self.key, bundle.id, json.dumps(bundle.to_dict()))
        self._bundles[bundle.id] = bundle
        return bundle

    async def delete(self, sku: str) -> None:
        await self.require(sku)
        await self.redis.run("HDEL", self.key, sku)
        self._bundles.pop(sku, None)

    async def _named(self, skus: Sequence[str]) -> dict[str, Bundle]:
        """The bundles among ``skus`` (UnknownSku for an id that is neither)."""
        out = {}
        for sku in skus:
            if not self.is_sku(sku):
                out[sku] = await self.require(sku)
        return out

    async def expand(self, req: HoldRequest) -> HoldRequest:
        """``req`` with its bundle lines as component lines and its kits recorded; as
        it is when it names no bundle."""
        if all(self.is_sku(s) for s in req.skus):
            return req
        bundles = await self._named(req.skus)
        if req.lines is not None:
            lines, kits = expand(req.lines, bundles)
            return replace(req, lines=tuple(lines), kits=tuple(kits))
        assert req.order is not None
        order, kits = await self.expand_order(req.order, bundles)
        return replace(req, order=order, kits=tuple(kits))

    async def expand_order(self, order: Order, bundles: dict[str, Bundle] | None = None
                           ) -> tuple[Order, list[Kit]]:
        """A routed order with its bundle lines as component lines."""
        if bundles is None:
            if all(self.is_sku(s) for s in order.skus):
                return order, []
            bundles = await self._named(order.skus)
        if order.allow_substitutes:
            raise InvalidRequest("allow_substitutes: not with bundle lines (a kit's "
                                 "components are what it was sold with)")
        lines, kits = expand(((l.sku, None, l.qty) for l in order.lines), bundles)
        return order.with_lines(tuple(OrderLine(s, q) for s, _, q in lines)), kits


def _s(x: Any) -> str:
    return x.decode() if isinstance(x, bytes) else str(x)
