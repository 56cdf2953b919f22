"""Exchanges: a shipped line's units come back and their replacement is reserved, in
one request, all-or-nothing and idempotent.

The order of work: (1) the returned units are *claimed* on the original reservation
by one Redis script (:mod:`storage.returns`), which refuses a claim past the units the
line shipped — so of two exchanges of the same shipped units one wins and the other is
``409 already-returned``; (2) the replacement is held like any reservation (routed, or
at a named warehouse; a bundle is expanded); (3) its record and the first answer to
the Idempotency-Key are stored together. If (2) is refused, the claim is taken back and
nothing is recorded.

The returned units do **not** go back on sale: a return goes to inspection in the
warehouse, and the stock comes back with the warehouse's next sync (or a ``return``
movement) once the unit is fit to sell. So an exchange moves no units in the ledger
except the replacement's hold, and the reservation that shipped is not changed: its
line shows ``returned`` units, and ``exchanges`` links to each replacement, which links
back with ``exchange_of``. Both reservations get an event carrying the link.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any

from allocator.config import Keys
from allocator.errors import (
    AllocatorError, AlreadyReturned, IllegalTransition, InvalidRequest,
)
from routing import Order
from service.checkout import Checkout
from service.orders import STORED_ERRORS, Caller, HoldRequest, Outcome
from service.reservation import Reservation, State
from storage.coalesce import Coalescer
from storage.events import publish
from storage.records import pack, unpack
from storage.returns import ReturnClaims

@dataclass(frozen=True)
class Exchange:
    """Return ``qty`` shipped units of ``sku`` (at ``warehouse``: needed only when the
    line shipped from several) and reserve ``replacement`` (sku, warehouse or None
    to route it to ``destination``, default the reservation's, qty)."""

    sku: str
    warehouse: str | None
    qty: int
    replacement: tuple[str, str | None, int]
    destination: str | None = None
    reason: str | None = None
    ttl_ms: int | None = None


class Exchanges:
    def __init__(self, checkout: Checkout, redis: Coalescer, keys: Keys) -> None:
        self.checkout = checkout
        self.redis = redis
        self.keys = keys
        self.claims = ReturnClaims(redis, keys, checkout.records.record_ttl_s)

    async def exchange(self, rid: str, caller: Caller, ex: Exchange, key: str,
                       fingerprint: str) -> Outcome:
        co, owner = self.checkout, caller.name
        first = await co._first_answer(owner, key)
        if first is not None:
            return co.replay(first, fingerprint)
        res = await co.current(await co.reservation(rid, owner))
        wh, shipped = self._shipped_line(res, ex)
        new_id = co.ids.exchange_id(owner, key)
        link = {"reservation_id": rid, "sku": ex.sku, "warehouse": wh, "qty": ex.qty}
        fields = ((ex.sku, wh), new_id)
        claimed = await self._claim(rid, fields, ex.qty, shipped, link | {
            "reservation_id": new_id, "at_ms": int(time.time() * 1000),
            **({"reason": ex.reason} if ex.reason else {})})
        try:
            taken = await co.take(new_id, caller, await self._request(res, ex), os.urandom(8))
        except AllocatorError as exc:
            if exc.code not in STORED_ERRORS:
                await self._unclaim(rid, fields, ex.qty, claimed)
                raise
            answer = {"fp": fingerprint, "error": [exc.code, exc.message, exc.details]}
            first = await co.settle(owner, key, answer)
            if first is None:
                await self._unclaim(rid, fields, ex.qty, claimed)
            return co.replay(first, fingerprint) if first else co.outcome_of(answer)
        new = taken.reservation
        new.exchange_of = link
        packed = pack(unpack(taken.packed) | {"exchange_of": link})
        answer = {"fp": fingerprint, "record": packed}
        try:
            first = await co.settle(owner, key, answer,
                                    [(co.records.record_key(new_id), packed)])
        except AllocatorError:  # not durable: give everything back, answer 503
            await co.undo(new, "unsettled")
            await self._unclaim(rid, fields, ex.qty, claimed)
            raise
        if first is not None:  # the same request, sent twice at once: the first answers
            await co.give_back(new, first)
            return co.replay(first, fingerprint)
        co.records.remember(new_id, taken.record | {"exchange_of": link})
        await self._announce(res, new, link, ex)
        return Outcome(new)

    def _shipped_line(self, res: Reservation, ex: Exchange) -> tuple[str, int]:
        """The warehouse and shipped units of the line to return."""
        mine = [x for x in res.line_states or () if x["sku"] == ex.sku
                and (ex.warehouse is None or x["warehouse"] == ex.warehouse) and x["qty"]]
        if not mine:
            where = f" at {ex.warehouse}" if ex.warehouse else ""
            raise InvalidRequest(f"reservation {res.id} has no live line of {ex.sku}{where}",
                                 sku=ex.sku)
        done = [x for x in mine if x["state"] == State.SHIPPED.value]
        if not done:
            state = mine[0]["state"]
            raise IllegalTransition(f"cannot exchange {ex.sku} of reservation {res.id}: the "
                                    f"line is {state}, not shipped", reservation_id=res.id,
                                    state=state)
        if len(done) > 1:
            raise InvalidRequest(f"warehouse: {ex.sku} shipped from several warehouses "
                                 f"({', '.join(x['warehouse'] for x in done)}); name one",
                                 sku=ex.sku)
        return done[0]["warehouse"], int(done[0]["qty"])

    async def _request(self, res: Reservation, ex: Exchange) -> HoldRequest:
        """The replacement as a hold request: pre-routed, or routed to the destination."""
        co = self.checkout
        sku, wh, qty = ex.replacement
        if wh is not None:
            req = HoldRequest(lines=((sku, wh, qty),), ttl_ms=ex.ttl_ms, channel=res.channel,
                              brand=res.brand)  # sold on the original's channel
        else:
            dest = ex.destination or ((res.plan or {}).get("order") or {}).get("destination")
            if not dest:
                raise InvalidRequest("destination: a pincode is needed to route the "
                                     "replacement")
            req = HoldRequest(order=Order.from_dict({"lines": [{"sku": sku, "qty": qty}],
                                                     "destination": dest}), ttl_ms=ex.ttl_ms,
                              channel=res.channel, brand=res.brand)
        req = await co.bundles.expand(req)
        for s in req.skus:
            co.client.check(s)
        co.kill.check(req.skus, req.channel, req.brand)
        return req

    async def _claim(self, rid: str, fields: tuple[tuple[str, str], str], qty: int,
                     shipped: int, entry: dict[str, Any]) -> bool:
        """Claim ``qty`` of the line's shipped units; True if this call claimed them
        (False: a retry of the same exchange had)."""
        code, returned = await self.claims.claim(rid, fields[0], qty, shipped, fields[1],
                                                 entry)
        if code == 0:
            raise AlreadyReturned(
                f"{int(returned)} of the {shipped} shipped units of {entry['sku']} at "
                f"{entry['warehouse']} are already returned by another exchange; "
                f"{shipped - int(returned)} can be", reservation_id=rid,
                returned=int(returned), shipped=shipped)
        return code == 1

    async def _unclaim(self, rid: str, fields: tuple[tuple[str, str], str], qty: int,
                       claimed: bool) -> None:
        if claimed:
            await self.claims.unclaim(rid, fields[0], qty, fields[1])

    async def _announce(self, res: Reservation, new: Reservation, link: dict[str, Any],
                        ex: Exchange) -> None:
        """An event on each reservation, each naming the other."""
        now = str(int(time.time() * 1000))
        sku, _, qty = ex.replacement
        base = {"shard": "exchange", "at": now}
        await asyncio.gather(
            publish(self.redis, self.keys, base | {
                "event_id": f"exchange:{new.id}:returned", "type": "exchange_returned",
                "reservation_id": res.id, "exchange_id": new.id, "sku": link["sku"],
                "warehouse": link["warehouse"], "qty": link["qty"]}),
            publish(self.redis, self.keys, base | {
                "event_id": f"exchange:{new.id}:reserved", "type": "exchange_reserved",
                "reservation_id": new.id, "exchange_of": res.id, "sku": sku, "qty": qty}))

    async def annotate(self, res: Reservation) -> Reservation:
        """A shipped reservation with its exchanges and each line's returned units
        (only settled exchanges: a claim whose replacement is still being held is not
        shown)."""
        if res.state != State.SHIPPED:
            return res
        _, entries = await self.claims.read(res.id)
        found = await asyncio.gather(*(self.checkout.records.get(e["reservation_id"])
                                       for e in entries))
        done = sorted((e for e, r in zip(entries, found) if r is not None),
                      key=lambda e: e["at_ms"])
        if not done:
            return res
        for line in res.line_states or ():
            line["returned"] = sum(e["qty"] for e in done if (e["sku"], e["warehouse"])
                                   == (line["sku"], line["warehouse"]))
        res.exchanges = done
        return res

