"""A reservation's transitions after the hold — commit, release, ship — and its reads:
the record (or bulk row) and the live state from its shards. Every transition is
decided by the primary hold first (see :mod:`service.reservation`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Sequence

from actors.pending import ShardResult
from allocator.errors import (
    AllocatorError, HoldExpired, IllegalTransition, ReservationChanged, UnknownHold,
)
from allocator.ops import Code, HoldState, OpKind
from service.ids import op_id
from service.reservation import HOLD_STATE, Reservation, State, combined_state
from service.review import IN_REVIEW, REJECTED


class Transitions:
    """Mixin of :class:`~service.checkout.Checkout`: commit, release, ship, read."""

    async def reservation(self, rid: str, owner: str | None) -> Reservation:
        """The record (UnknownHold if there is none, or it is another owner's)."""
        if rid.startswith("rb_"):
            record = await self._bulk_record(rid)
        else:
            record = await self.records.get(rid) if rid.startswith("res_") else None
        if record is None or (owner is not None and record["owner"] != owner):
            raise UnknownHold(f"unknown reservation {rid}", reservation_id=rid)
        return Reservation.from_record(record)

    async def _bulk_record(self, rid: str) -> dict[str, Any] | None:
        """A bulk row as a record: ``rb_<token>_<index>`` is row ``index`` of the batch
        blob (one round trip: the row and the batch's header together)."""
        hit = self.records.cached(rid)
        if hit is not None:
            return hit
        _, token, index = (rid.split("_") + ["", ""])[:3]
        if len(token) != 24 or not index.isdigit() or len(index) > 9:
            return None
        found = await self.records.bulk_row(token, int(index))
        if found is None:
            return None
        (code, value, shard, sku, wh, qty, created, expires), m = found
        if code != 0:
            return None
        record = {"id": rid, "owner": m["owner"],
                  "lines": [[self.client.sku_ids[sku], self.client.warehouses[wh], qty]],
                  "holds": [[m["names"][shard], value]], "created_ms": created,
                  "expires_ms": expires, "plan": None}
        self.records.remember(rid, record)
        return record

    def _op(self, kind: OpKind, res: Reservation, hold: tuple[str, int], tag: str = "",
            version: int = 0) -> asyncio.Future:
        shard, hid = hold
        tag = tag or kind.name
        if version:  # a primary's op that names the reservation's version
            tag = f"{tag}@{version}"
        return self.client.submit(kind, op_id(res.id, tag, shard, hid), hold_id=hid,
                                  shard=shard, version=version)

    async def version_of(self, res: Reservation, version: int) -> Reservation:
        """The record of the reservation's ``version`` (written before the amendment
        that made it current was decided; see :mod:`service.lifecycle`)."""
        if version == res.version:
            return res
        record = await self.records.get(f"{res.id}@{version}") if version else \
            await self.records.get(res.id)
        if record is None:
            raise ReservationChanged(f"reservation {res.id} changed; read it again",
                                     reservation_id=res.id)
        return Reservation.from_record(record)

    async def _decide(self, kind: OpKind, res: Reservation) -> tuple[Reservation, Any]:
        """``kind`` on the primary hold, naming the version this process knows; on
        VERSION (amended meanwhile) again with the current version's record."""
        for _ in range(4):
            (r0,) = await self.wait([self._op(kind, res, res.holds[0], version=res.version)])
            if r0.code != Code.VERSION:
                return res, r0
            res = await self.version_of(res, r0.value)
        raise ReservationChanged(f"reservation {res.id} keeps changing; retry",
                                 reservation_id=res.id)

    async def _finish_amendment(self, res: Reservation) -> None:
        """Units an amendment took off the other shards' holds (idempotent: the
        amendment did it already unless its process stopped half way)."""
        if res.drops:
            await self.wait([self.client.submit(
                OpKind.DROP_LINES, op_id(res.id, "drop", res.version, shard, hid), lines,
                hold_id=hid, state=int(HoldState.PENDING), shard=shard)
                for shard, hid, lines in res.drops])

    async def commit(self, rid: str, owner: str) -> Reservation:
        """Payment captured: commit every hold, or none (decided by the primary)."""
        res = await self.reservation(rid, owner)
        if res.review:
            await self.reviews.require_approved(rid)
        res, r0 = await self._decide(OpKind.COMMIT, res)
        primary, *others = res.holds
        state = _hold_state(r0, OpKind.COMMIT)
        if r0.code == Code.EXPIRED:
            await self._each(OpKind.RELEASE, res, others)
            raise HoldExpired(f"reservation {rid} expired before it was committed",
                              reservation_id=rid)
        if state not in (HoldState.COMMITTED, HoldState.SHIPPED):
            raise self._refused(r0, res, "commit")
        if not others:
            return res.with_state(State.SHIPPED if state == HoldState.SHIPPED
                                  else State.COMMITTED)
        if r0.ok and not r0.replayed:
            await self._finish_amendment(res)
        results = await self._each(OpKind.COMMIT, res, others)
        if all(_hold_state(r, OpKind.COMMIT) in (HoldState.COMMITTED, HoldState.SHIPPED)
               for r in results):
            return res.with_state(State.COMMITTED)
        # a secondary hold lapsed (its shard was down past the grace): undo the commit
        done = [primary] + [h for h, r in zip(others, results) if r.ok]
        await self._each(OpKind.CANCEL, res, done)
        raise HoldExpired(f"reservation {rid} expired before it was committed",
                          reservation_id=rid)

    async def release(self, rid: str, owner: str) -> Reservation:
        """Cart abandoned: release every hold (idempotent; decided by the primary)."""
        res, r0 = await self._decide(OpKind.RELEASE, await self.reservation(rid, owner))
        primary, *others = res.holds
        state = _hold_state(r0, OpKind.RELEASE)
        if r0.code == Code.EXPIRED or state == HoldState.EXPIRED:
            await self._each(OpKind.RELEASE, res, others)
            return res.with_state(State.EXPIRED)
        if state != HoldState.RELEASED:
            raise self._refused(r0, res, "release")
        await self._finish_amendment(res)
        await self._each(OpKind.RELEASE, res, others)
        return res.with_state(State.RELEASED)

    async def ship(self, rid: str) -> Reservation:
        """The warehouse shipped a committed reservation (ops: any owner), every hold
        under the reservation's fence (see :mod:`service.fencing`)."""
        res = await self.reservation(rid, None)
        async with self.fenced(rid, "ship"):
            res = await self.current(res)
            results = await self._each(OpKind.SHIP, res, res.holds)
        bad = [r for r in results if _hold_state(r, OpKind.SHIP) != HoldState.SHIPPED]
        if bad:  # a retry replays the shards that did ship and retries the others
            raise self._refused(bad[0], res, "ship")
        return res.with_state(State.SHIPPED)

    async def get(self, rid: str, owner: str | None) -> Reservation:
        """The reservation (its current version) with its live state and the state of
        each line, read from its shards; ``review`` while it waits for a decision."""
        res = await self.current(await self.reservation(rid, owner))
        if res.review and res.state == State.PENDING \
                and await self.reviews.decision(rid) == IN_REVIEW:
            res = res.with_state(State.REVIEW, res.line_states)
        return res

    async def decide_review(self, rid: str, approve: bool, by: str) -> Reservation:
        """Ops: approve (a commit may follow) or reject (the units are released) a
        reservation in review; the first decision stands."""
        res = await self.reservation(rid, None)
        if not res.review:
            raise IllegalTransition(f"reservation {rid} is not held for review",
                                    reservation_id=rid)
        if await self.reviews.decide(rid, approve, by) == REJECTED:
            return await self.release(rid, res.owner)
        return await self.get(rid, None)

    async def current(self, res: Reservation) -> Reservation:
        """``res`` at its current version, with its state and line states."""
        for _ in range(4):
            views = await self._hold_views(res)
            version = views[0]["version"]
            if version == res.version:
                return _with_views(res, views)
            res = await self.version_of(res, version)
        raise ReservationChanged(f"reservation {res.id} keeps changing; retry",
                                 reservation_id=res.id)

    async def state_of(self, res: Reservation) -> State:
        return _with_views(res, await self._hold_views(res)).state

    async def _hold_views(self, res: Reservation) -> list[dict[str, Any]]:
        """The ledger's view of every hold of ``res`` (its holds, then those an
        amendment took units off), in that order."""
        holds = list(res.holds) + [(s, h) for s, h, _ in res.drops or ()
                                   if (s, h) not in res.holds]
        by_shard: dict[str, list[int]] = {}
        for shard, hid in holds:
            by_shard.setdefault(shard, []).append(hid)
        answers = await asyncio.gather(*(self.client.read(s, "holds", ids=ids)
                                         for s, ids in by_shard.items()))
        found = {(s, v["hold_id"]): v for s, a in zip(by_shard, answers)
                 for v in a["holds"] if v}
        views = [found.get(tuple(h)) for h in holds]
        if any(v is None for v in views[:len(res.holds)]):
            raise UnknownHold(f"unknown reservation {res.id}", reservation_id=res.id)
        return [v for v in views if v is not None]

    async def _each(self, kind: OpKind, res: Reservation, holds: Sequence[tuple[str, int]]
                    ) -> list[ShardResult]:
        if not holds:
            return []
        return await self.wait([self._op(kind, res, h) for h in holds])

    @staticmethod
    def _refused(r: ShardResult, res: Reservation, verb: str) -> AllocatorError:
        state = _hold_state(r)
        if r.code == Code.EXPIRED or state == HoldState.EXPIRED:
            return HoldExpired(f"reservation {res.id} has expired", reservation_id=res.id)
        if r.code == Code.UNKNOWN_HOLD:
            return UnknownHold(f"unknown reservation {res.id}", reservation_id=res.id)
        name = state.name.lower() if state is not None else r.code.name.lower()
        return IllegalTransition(f"cannot {verb} reservation {res.id}: it is {name}",
                                 reservation_id=res.id, state=name)


def _with_views(res: Reservation, views: list[dict[str, Any]]) -> Reservation:
    """``res`` with its state (the primary decides) and its lines as the ledgers hold
    them: live units per (SKU, warehouse) in the state of their hold, units released
    (before commit) or cancelled (after) by a partial operation or an amendment."""
    now = int(time.time() * 1000)
    n = len(res.holds)
    state = combined_state([HoldState[v["state"].upper()] for v in views[:n]],
                           res.expires_ms, now)
    lines: dict[tuple[str, str], dict[str, Any]] = {}
    for v in views:
        hold_state = HOLD_STATE[HoldState[v["state"].upper()]]
        if hold_state == State.PENDING and now >= v["expires_ms"]:
            hold_state = State.EXPIRED
        dropped = v.get("dropped") or [(0, 0)] * len(v["lines"])
        for (sku, wh, qty), (rel, can) in zip(v["lines"], dropped):
            line = lines.setdefault((sku, wh), {"sku": sku, "warehouse": wh, "qty": 0,
                                                "released": 0, "cancelled": 0, "state": ""})
            line["qty"] += qty
            line["released"] += rel
            line["cancelled"] += can
            if qty:
                line["state"] = hold_state.value
    for line in lines.values():
        if not line["state"]:
            line["state"] = (State.CANCELLED if line["cancelled"] else State.RELEASED).value
    out = res.with_state(state, [x for x in lines.values()
                                 if x["qty"] or x["released"] or x["cancelled"]])
    out.views = views
    return out


_DONE = {OpKind.COMMIT: HoldState.COMMITTED, OpKind.RELEASE: HoldState.RELEASED,
         OpKind.SHIP: HoldState.SHIPPED, OpKind.CANCEL: HoldState.RELEASED}


def _hold_state(r: ShardResult, kind: OpKind | None = None) -> HoldState | None:
    """The hold's state after the op, when the answer tells: OK means the op's target
    state; ILLEGAL carries the current state."""
    if r.ok and kind is not None:
        return _DONE[kind]
    if r.code == Code.ILLEGAL:
        return HoldState(r.detail)
    if r.code == Code.EXPIRED:
        return HoldState.EXPIRED
    return None
