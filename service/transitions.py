"""A reservation's transitions after the hold — commit, release, ship — and its reads:
the record (or bulk row) and the live state from its shards. Every transition is
decided by the primary hold first (see :mod:`service.reservation`)."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Sequence

from actors.pending import ShardResult
from allocator.errors import AllocatorError, HoldExpired, IllegalTransition, UnknownHold
from allocator.ops import Code, HoldState, OpKind
from service.ids import op_id
from service.reservation import Reservation, State, combined_state
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

    def _op(self, kind: OpKind, res: Reservation, hold: tuple[str, int], tag: str = ""
            ) -> asyncio.Future:
        shard, hid = hold
        return self.client.submit(kind, op_id(res.id, tag or kind.name, shard, hid),
                                  hold_id=hid, shard=shard)

    async def commit(self, rid: str, owner: str) -> Reservation:
        """Payment captured: commit every hold, or none (decided by the primary)."""
        res = await self.reservation(rid, owner)
        if res.review:
            await self.reviews.require_approved(rid)
        primary, *others = res.holds
        (r0,) = await self.wait([self._op(OpKind.COMMIT, res, primary)])
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
        res = await self.reservation(rid, owner)
        primary, *others = res.holds
        (r0,) = await self.wait([self._op(OpKind.RELEASE, res, primary)])
        state = _hold_state(r0, OpKind.RELEASE)
        if r0.code == Code.EXPIRED or state == HoldState.EXPIRED:
            await self._each(OpKind.RELEASE, res, others)
            return res.with_state(State.EXPIRED)
        if state != HoldState.RELEASED:
            raise self._refused(r0, res, "release")
        await self._each(OpKind.RELEASE, res, others)
        return res.with_state(State.RELEASED)

    async def ship(self, rid: str) -> Reservation:
        """The warehouse shipped a committed reservation (ops: any owner)."""
        res = await self.reservation(rid, None)
        results = await self._each(OpKind.SHIP, res, res.holds)
        bad = [r for r in results if _hold_state(r, OpKind.SHIP) != HoldState.SHIPPED]
        if bad:  # a retry replays the shards that did ship and retries the others
            raise self._refused(bad[0], res, "ship")
        return res.with_state(State.SHIPPED)

    async def get(self, rid: str, owner: str | None) -> Reservation:
        """The reservation with its live state, read from its shards."""
        res = await self.reservation(rid, owner)
        state = await self.state_of(res)
        if res.review and state == State.PENDING \
                and await self.reviews.decision(rid) == IN_REVIEW:
            state = State.REVIEW
        return res.with_state(state)

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

    async def state_of(self, res: Reservation) -> State:
        by_shard: dict[str, list[int]] = {}
        for shard, hid in res.holds:
            by_shard.setdefault(shard, []).append(hid)
        answers = await asyncio.gather(*(self.client.read(s, "holds", ids=ids)
                                         for s, ids in by_shard.items()))
        found = {(s, v["hold_id"]): v["state"] for s, a in zip(by_shard, answers)
                 for v in a["holds"] if v}
        states = []
        for hold in res.holds:
            name = found.get(tuple(hold))
            if name is None:
                raise UnknownHold(f"unknown reservation {res.id}", reservation_id=res.id)
            states.append(HoldState[name.upper()])
        return combined_state(states, res.expires_ms, int(time.time() * 1000))

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
