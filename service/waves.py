"""Waves: many routed orders planned jointly on the client's availability view, then
each held all-or-nothing on its own.

The joint plan (:func:`routing.wave.allocate_wave`: most orders filled, then least
expected cost, within a time budget) runs in this process's wave thread so it never
stalls the event loop. Each order the wave fills becomes a pre-routed hold request
(its lines, or a split line's parts, at the chosen warehouses) and the lot is reserved
by :meth:`service.batches.Batches.reserve_orders` — one idempotency key for the wave,
one answer stored with the wave's explanation and given back to a retry without
planning again. An order the wave leaves unfilled, or whose hold the shards refuse
(stock moved since the view), gets its problem.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence

from allocator.errors import AllocatorError, InsufficientStock
from routing import Order
from routing.wave import WaveAllocation, allocate_wave
from service.batches import Batches
from service.orders import Caller, HoldRequest, Outcome


class Waves:
    def __init__(self, batches: Batches) -> None:
        self.batches = batches
        self.checkout = batches.checkout
        self.planner = self.checkout.planner
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="wave")

    async def allocate(self, requests: Sequence[HoldRequest | Exception], caller: Caller,
                       key: str, fingerprint: str, budget_s: float,
                       split: bool | None = None) -> Outcome:
        """Plan ``requests`` (routed orders) jointly and hold each filled one; per order
        its reservation or its problem, and the wave's explanation in ``extra``."""
        first = self.checkout.cached_answer(caller.name, key)
        if first is None:
            first = await self.checkout.records.answer(caller.name, key)
        if first is not None:
            return await self.batches.replay_orders(first, fingerprint)
        checked: list[HoldRequest | Exception] = [self._check(r) for r in requests]
        todo = [i for i, r in enumerate(checked) if isinstance(r, HoldRequest)]
        orders = [_order(checked[i]) for i in todo]
        skus = list(dict.fromkeys(s for o in orders for s in o.skus))
        rows = self.checkout.client.availability(skus) if skus else {}
        if rows is None:
            rows = await self.checkout.client.fresh(skus)
        wave = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._plan, orders, rows, budget_s, split)
        holds = list(checked)
        explained: list[dict[str, Any] | None] = [None] * len(requests)
        for j, i in enumerate(todo):
            req = checked[i]
            assert isinstance(req, HoldRequest)
            explained[i] = wave.explain(j)
            lines = wave_lines(wave, j)
            holds[i] = (InsufficientStock(
                "the wave could not fill this order: " + explained[i]["why"],
                reason="wave_unfilled")
                if lines is None else HoldRequest(
                    lines=lines, ttl_ms=req.ttl_ms, customer=req.customer,
                    value_inr=req.value_inr, cod=req.cod, review=req.review,
                    destination=_order(req).destination, channel=req.channel,
                    brand=req.brand))
        extra = {"summary": wave.summary(), "orders": explained}
        return await self.batches.reserve_orders(holds, caller, key, fingerprint, extra)

    def _check(self, r: HoldRequest | Exception) -> HoldRequest | Exception:
        """The request, or the error that keeps it out of the wave (unknown SKU or
        destination, kill switch)."""
        if isinstance(r, Exception):
            return r
        try:
            order = _order(r)
            self.planner.network.destination_index(order.destination)
            for sku in order.skus:
                self.checkout.client.check(sku)
            self.checkout.kill.check(order.skus, r.channel, r.brand)
        except AllocatorError as exc:
            return exc
        return r

    def _plan(self, orders: list[Order], rows: dict[str, Any], budget_s: float,
              split: bool | None) -> WaveAllocation:
        return allocate_wave(orders, self.planner.network, self.planner.catalog,
                             self.planner.stock(rows), budget_s=budget_s, split=split)


def _order(r: HoldRequest | Exception) -> Order:
    assert isinstance(r, HoldRequest) and r.order is not None
    return r.order


def wave_lines(wave: WaveAllocation, j: int) -> tuple[tuple[str, str, int], ...] | None:
    """Order ``j``'s holds as (sku, warehouse, qty) — a split line once per warehouse —
    or None when the wave leaves it unfilled."""
    a = wave.allocations[j]
    if a is None:
        return None
    ids = wave.burst.network.warehouse_ids
    return tuple((line.sku, ids[int(w)], int(a[l, w]))
                 for l, line in enumerate(wave.orders[j].lines)
                 for w in a[l].nonzero()[0])
