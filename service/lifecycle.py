"""A reservation's life after it is placed: amend a pending one, cancel lines of a
committed one, reallocate a committed line to another warehouse.

**Versions.** An amendment makes a new version of the reservation's record, stored
under ``<id>@<version>`` *before* the amendment is decided; the decision is one ledger
op on the primary hold (AMEND), which must still be pending and at the version the
amendment started from, and records the new version on the hold. So the primary hold
names the current version at every instant: a commit or release names the version it
knows and is answered VERSION if the reservation moved on (it then reads the current
version and goes on); two amendments from one version cannot both win. New units are
held (on any shard) before the decision, units given back are released after it; a
loser gives back what it took. A version's record lists the holds and their units
after it (``drops``: units it took off holds on the other shards, which a commit or
release of that version finishes if the amending process stopped half way).

**Bundles.** An amendment's bundle lines are expanded into their components (a
bundle the reservation has keeps the components it was reserved with) and the new
version records its kits; cancelling lines takes whole kits off (a component alone is
refused: :class:`~allocator.errors.BundleLine`).

The TTL policy: an amendment never extends a reservation; new holds live as long as
its primary (plus the usual grace on the other shards).
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from typing import Any, Sequence

from allocator.errors import (
    AllocatorError, BundleLine, HoldExpired, IllegalTransition, InvalidRequest,
    ReservationChanged,
)
from allocator.bundles import Bundle, Kit, cancel_wants, expand
from allocator.ledger_lines import LINE_MISMATCH
from allocator.ops import Code, OpKind
from allocator.outcomes import error_for
from routing import Order
from service.ids import op_id
from service.orders import Caller, HoldRequest, Outcome
from service.reservation import Line, Reservation, State
from storage.records import pack

Want = tuple[str, str | None, int | None]
KEEP = object()  # an amendment keeps the reservation's kits  # sku, warehouse (None: any), qty (None: all)


@dataclass(frozen=True)
class Amendment:
    """The lines a pending reservation should have from now on: per SKU (routed again
    to ``destination`` for more units) or per SKU and warehouse (pre-routed)."""

    lines: tuple[tuple[str, str | None, int], ...]
    destination: str | None = None


class Lifecycle:
    """Mixin of :class:`~service.checkout.Checkout`: amend, cancel lines, reallocate."""

    # ------------------------------------------------------------------ amend
    async def amend(self, rid: str, caller: Caller, change: Amendment, key: str,
                    fingerprint: str) -> Outcome:
        """Make the pending reservation's lines ``change.lines``: units added are held
        first, then the primary decides, then units taken off are released."""
        first, res = await self._answered_or_current(rid, caller.name, key)
        if first is not None:
            return self.replay(first, fingerprint)
        if res.kits or not all(self.bundles.is_sku(s) for s, _, _ in change.lines):
            change, kits = await self._kit_amendment(res, change)
            return await self._amend(res, caller, change, key, fingerprint, kits)
        return await self._amend(res, caller, change, key, fingerprint)

    async def _kit_amendment(self, res: Reservation, change: Amendment
                             ) -> tuple[Amendment, list[Kit] | None]:
        """An amendment's bundle lines as their components: a bundle the reservation
        has keeps the components it was reserved with, a new one is read from the
        catalog; a bundle left out is removed with its components."""
        known = {k.bundle: Bundle(k.bundle, k.components) for k in res.kits or ()}
        for sku, _, _ in change.lines:
            if sku not in known and not self.bundles.is_sku(sku):
                known[sku] = await self.bundles.require(sku)
        lines, kits = expand(change.lines, known)
        return Amendment(tuple(lines), change.destination), kits or None

    async def _first_answer(self, owner: str, key: str) -> dict[str, Any] | None:
        return self.cached_answer(owner, key) or await self.records.answer(owner, key)

    async def _answered_or_current(self, rid: str, owner: str, key: str
                                   ) -> tuple[dict[str, Any], None] | tuple[None, Reservation]:
        """The first answer to (owner, key) if there is one; else the reservation at its
        current version. Redis's answer and the shards' state are read together (one
        round trip, not two); the answer wins, whatever the read of the reservation
        found (a replay answers even if the reservation has gone)."""
        cached = self.cached_answer(owner, key)
        if cached is not None:
            return cached, None
        first, res = await asyncio.gather(self.records.answer(owner, key),
                                          self._current_of(rid, owner), return_exceptions=True)
        if isinstance(first, BaseException):
            raise first
        if first is not None:
            return first, None
        if isinstance(res, BaseException):
            raise res
        return None, res

    async def _current_of(self, rid: str, owner: str) -> Reservation:
        return await self.current(await self.reservation(rid, owner))

    async def _settled(self, owner: str, key: str, fingerprint: str, res: Reservation
                       ) -> Outcome:
        """Store ``res`` as the first answer to (owner, key), or give the one stored."""
        packed = pack({"fp": fingerprint, "record": res.answer()})  # once: Redis and here
        first = await self.settle(owner, key, packed)
        self._keep(owner, key, first or packed)
        return self.replay(first, fingerprint) if first else Outcome(res)

    async def _amend(self, res: Reservation, caller: Caller, change: Amendment, key: str,
                     fingerprint: str, kits: Any = KEEP) -> Outcome:
        rid = res.id
        self._must_be(res, State.PENDING, "amend")
        add, cut = self._delta(res, change)
        kits = res.kits if kits is KEEP else kits
        if not add and not cut and kits == res.kits:
            return await self._settled(caller.name, key, fingerprint, res)
        remaining = res.expires_ms - int(time.time() * 1000)
        if remaining <= 0:
            raise HoldExpired(f"reservation {rid} has expired", reservation_id=rid)
        version = (((res.version >> 32) + 1) << 32) | (int.from_bytes(os.urandom(4), "big")
                                                       >> 1 or 1)
        taken = None
        if add:
            order = None if all(w for _, w, _ in add) else self._order(res, add, change)
            req = HoldRequest(lines=tuple(add) if order is None else None, order=order,
                              ttl_ms=remaining + self.settings.secondary_grace_ms,
                              channel=res.channel)  # added units sell on its channel
            taken = await self.take(rid, caller, req, os.urandom(8))
        new = self._next_version(res, version, cut, taken.reservation if taken else None)
        new.kits = kits
        packed = pack(new.to_record())
        await self.records.redis.run("SET", self.records.record_key(f"{rid}@{version}"),
                                     packed, "EX", self.records.record_ttl_s)
        shard, hid = res.holds[0]
        (r0,) = await self.wait([self.client.submit(
            OpKind.AMEND, op_id(rid, "amend", version), cut.get(res.holds[0], []),
            hold_id=hid, version=version, shard=shard)])
        if not r0.ok:
            if taken is not None:
                await self.undo(taken.reservation, f"amend-lost:{version}")
            later = await self.records.answer(caller.name, key)
            if later is not None:  # the same request, sent twice at once: it won
                return self.replay(later, fingerprint)
            raise self._lost(r0, res)
        await self._finish_amendment(new)
        return await self._settled(caller.name, key, fingerprint, await self.current(new))

    def _must_be(self, res: Reservation, state: State, verb: str) -> None:
        if res.state == State.EXPIRED:
            raise HoldExpired(f"reservation {res.id} has expired", reservation_id=res.id)
        if res.state != state:
            raise IllegalTransition(f"cannot {verb} reservation {res.id}: it is "
                                    f"{res.state.value}", reservation_id=res.id,
                                    state=res.state.value)

    def _delta(self, res: Reservation, change: Amendment
               ) -> tuple[list[Line], dict[tuple[str, int], list[Line]]]:
        """Units to add (lines to hold; warehouse "" where routing decides) and units to
        take off each hold, newest holds first."""
        routed = not all(w for _, w, _ in change.lines)
        if routed and any(w for _, w, _ in change.lines):
            raise InvalidRequest("lines: either every line names a warehouse or none")
        want: dict[tuple[str, str], int] = {}
        for sku, wh, qty in change.lines:
            self.client.check(sku, wh)
            k = (sku, "" if routed else str(wh))
            if k in want:
                raise InvalidRequest(f"duplicate line for {sku}" + (f" at {wh}" if wh else ""))
            want[k] = qty
        have: dict[tuple[str, str], int] = {}
        for line in res.line_states or ():
            k = (line["sku"], "" if routed else line["warehouse"])
            have[k] = have.get(k, 0) + line["qty"]
        add = [(s, w or None, q - have.get((s, w), 0)) for (s, w), q in want.items()
               if q > have.get((s, w), 0)]
        cut_units = {k: h - want.get(k, 0) for k, h in have.items() if h > want.get(k, 0)}
        cut: dict[tuple[str, int], list[Line]] = {}
        for hold, lines in reversed(self._live_by_hold(res)):
            for sku, wh, qty in lines:
                k = (sku, "" if routed else wh)
                q = min(qty, cut_units.get(k, 0))
                if q:
                    cut_units[k] -= q
                    cut.setdefault(hold, []).append((sku, wh, q))
        return add, cut  # type: ignore[return-value]

    def _live_by_hold(self, res: Reservation) -> list[tuple[tuple[str, int], list[Line]]]:
        views = res.views or []
        return [(tuple(h), [tuple(x) for x in v["lines"] if x[2]])  # type: ignore
                for h, v in zip(res.holds, views)]

    def _order(self, res: Reservation, add: Sequence[Any], change: Amendment) -> Order:
        dest = change.destination or ((res.plan or {}).get("order") or {}).get("destination")
        if not dest:
            raise InvalidRequest("destination: a pincode is needed to route new units")
        return Order.from_dict({"lines": [{"sku": s, "qty": q} for s, _, q in add],
                                "destination": dest})

    def _next_version(self, res: Reservation, version: int,
                      cut: dict[tuple[str, int], list[Line]], added: Reservation | None
                      ) -> Reservation:
        live: dict[tuple[str, int], int] = {}
        for hold, lines in self._live_by_hold(res):
            live[hold] = sum(q for _, _, q in lines) - sum(q for _, _, q in cut.get(hold, []))
        holds = [res.holds[0]] + [h for h in res.holds[1:] if live.get(tuple(h), 0) > 0]
        holds += list(added.holds) if added else []
        lines: dict[tuple[str, str], int] = {}
        for hold, ls in self._live_by_hold(res):
            for sku, wh, q in ls:
                lines[(sku, wh)] = lines.get((sku, wh), 0) + q
            for sku, wh, q in cut.get(hold, []):
                lines[(sku, wh)] -= q
        for sku, wh, q in added.lines if added else ():
            lines[(sku, wh)] = lines.get((sku, wh), 0) + q
        drops = [(s, h, ls) for (s, h), ls in cut.items() if (s, h) != tuple(res.holds[0])]
        plan = (added.plan if added and added.plan else res.plan)
        return Reservation(res.id, res.owner, [(s, w, q) for (s, w), q in lines.items() if q],
                           holds, res.created_ms, res.expires_ms, plan, State.PENDING,
                           version, drops, kits=res.kits, exchange_of=res.exchange_of,
                           channel=res.channel, brand=res.brand)

    def _lost(self, r: Any, res: Reservation) -> AllocatorError:
        if r.code == Code.VERSION or (r.code == Code.ILLEGAL and r.detail == LINE_MISMATCH):
            return ReservationChanged(f"reservation {res.id} was changed by another request; "
                                      "read it and try again", reservation_id=res.id)
        return self._refused(r, res, "amend")

    # --------------------------------------------------------- cancel lines
    async def drop_lines(self, rid: str, owner: str, lines: Sequence[Want], key: str,
                         fingerprint: str, caller: Caller) -> Outcome:
        """Take units off lines: a pending reservation is amended (units released), a
        committed one has them cancelled under its fence (see :mod:`service.fencing`)."""
        first, res = await self._answered_or_current(rid, owner, key)
        if first is not None:
            return self.replay(first, fingerprint)
        if res.state == State.PENDING:
            return await self._amend(res, caller, self._without(res, self._kit_wants(
                res, lines)), key, fingerprint)
        self._must_be(res, State.COMMITTED, "cancel lines of")
        return await self.cancel_committed(res, lines, key, fingerprint, owner)

    def _kit_wants(self, res: Reservation, lines: Sequence[Want]) -> Sequence[Want]:
        """``lines`` with a bundle SKU as its components' units (a component alone is
        refused: :class:`~allocator.errors.BundleLine`)."""
        if not res.kits:
            return lines
        wants, alone = cancel_wants(res.kits, lines, res.line_states or [])
        if alone is not None:
            raise BundleLine(f"{alone} is a component of a bundle line of reservation "
                             f"{res.id}: cancel the bundle (its SKU), not a component "
                             "alone", reservation_id=res.id, sku=alone)
        return wants

    def _units_of(self, res: Reservation, lines: Sequence[Want]) -> dict[tuple[str, str], int]:
        """Units to take off per (SKU, warehouse) of the live lines."""
        live = {(x["sku"], x["warehouse"]): x["qty"] for x in res.line_states or ()
                if x["qty"]}
        out: dict[tuple[str, str], int] = {}
        for sku, wh, qty in lines:
            mine = [(k, q - out.get(k, 0)) for k, q in live.items()
                    if k[0] == sku and (wh is None or k[1] == wh)]
            total = sum(q for _, q in mine)
            want = total if qty is None else qty
            if not mine or want > total:
                where = f" at {wh}" if wh else ""
                raise InvalidRequest(f"lines: the reservation has {total} live units of "
                                     f"{sku}{where}, cannot take off {want}", sku=sku,
                                     live=total)
            for k, q in mine:
                take = min(q, want)
                if take:
                    out[k] = out.get(k, 0) + take
                    want -= take
        return out

    def _without(self, res: Reservation, lines: Sequence[Want]) -> Amendment:
        units = self._units_of(res, lines)
        left = [(x["sku"], x["warehouse"], x["qty"] - units.get((x["sku"], x["warehouse"]), 0))
                for x in res.line_states or () if x["qty"]]
        return Amendment(tuple((s, w, q) for s, w, q in left))

    def _cut(self, res: Reservation, lines: Sequence[Want]
             ) -> dict[tuple[str, int], list[Line]]:
        units = self._units_of(res, lines)
        cut: dict[tuple[str, int], list[Line]] = {}
        for hold, ls in reversed(self._live_by_hold(res)):
            for sku, wh, qty in ls:
                q = min(qty, units.get((sku, wh), 0))
                if q:
                    units[(sku, wh)] -= q
                    cut.setdefault(hold, []).append((sku, wh, q))
        return cut

    # ------------------------------------------------------------ reallocate
    async def reallocate(self, rid: str, sku: str, warehouse: str, destination: str | None,
                         promise_days: int | None) -> dict[str, Any]:
        """Move the committed line (``sku`` at ``warehouse``, which cannot ship) to the
        best other warehouse the router finds for the reservation's destination and
        promise: one ledger op commits the units there and takes them off the old
        warehouse together. Answers the reservation and the plan of the move."""
        self.client.check(sku, warehouse)
        res = await self.current(await self.reservation(rid, None))
        self._must_be(res, State.COMMITTED, "reallocate")
        found = [(h, q) for h, ls in self._live_by_hold(res) for s, w, q in ls
                 if (s, w) == (sku, warehouse)]
        if not found:
            raise InvalidRequest(f"reservation {rid} has no live units of {sku} at "
                                 f"{warehouse}", sku=sku, warehouse=warehouse)
        (shard, hid), qty = found[0]
        prior = (res.plan or {}).get("order") or {}
        dest = destination or prior.get("destination")
        if not dest:
            raise InvalidRequest("destination: a pincode is needed to route the line")
        spec: dict[str, Any] = {"lines": [{"sku": sku, "qty": qty}], "destination": dest,
                                "split_lines": False}
        days = promise_days if promise_days is not None else prior.get("promise_days")
        if days is not None:  # the promise made at checkout still holds
            spec.update(promise_days=days, hard_promise=True)
        order = Order.from_dict(spec)
        rows = dict(await self._rows([sku], fresh=True))
        rows[sku] = rows[sku].copy()
        rows[sku][self.client.wh_index[warehouse]] = 0  # it cannot ship
        choice = await self._choose(order, rows)
        (_, to, _), *more = choice.lines
        if more:  # pragma: no cover - split_lines is off
            raise InvalidRequest("the line cannot move to a single warehouse")
        async with self.fenced(rid, "reallocate"):  # not while a cancel is half done
            (r,) = await self.wait([self.client.submit(
                OpKind.REALLOCATE, op_id(rid, "reallocate", shard, hid, sku, warehouse, qty),
                [(sku, warehouse, qty), (sku, to, qty)], hold_id=hid, shard=shard)])
        if not r.ok:
            if r.code == Code.ILLEGAL and r.detail != LINE_MISMATCH:
                raise self._refused(r, res, "reallocate")
            exc = error_for(OpKind.REALLOCATE, r.code, r.value, r.detail,
                            [(sku, warehouse, qty), (sku, to, qty)], hid)
            raise exc if r.code != Code.ILLEGAL else self._lost(r, res)  # type: ignore[misc]
        return {"reservation": await self.current(res), "from": warehouse, "to": to,
                "qty": qty, "plan": choice.plan}
