"""One change at a time on a committed reservation: ship, cancel lines, reallocate.

A pending reservation's changes are decided by its primary hold (the versioned amend;
see :mod:`service.lifecycle`). Once committed, shipping and cancelling lines act on
every hold they touch, each on its own shard: decided hold by hold, a ship and a
line cancel sent at once could each win on a different shard, leaving a kit (or any
order spread over shards) half shipped and half cancelled. The ledger has no op that
could decide both on one hold first (a committed hold carries no version a ship
could name; giving it one would change every shard's op format), so the decision is
taken beside it, at the cost of two Redis round trips on these rare ops and none on
the checkout path:

* **The fence.** Each of these changes first takes the reservation's lease in Redis
  (:class:`~storage.fence.Fences`: ``SET NX PX``, one round trip), then reads the
  holds and acts. Whoever holds it is alone; another request waits for it a little
  (``fence_wait_ms``: a holder needs a few ms, so racing requests go one after the
  other), then answers ``409 reservation-changed`` with ``retry_after_s`` (read it,
  try again) — having changed nothing. The lease is given back when the shards have
  answered; a holder that crashed blocks the reservation for at most
  ``fence_ttl_ms``, and one that gave up on a shard (503: the op may still land) lets
  it lapse instead of giving it back.
* **The intent.** A line cancel records what it cancels (per hold, under the
  request's Idempotency-Key) before sending it. Whoever takes the fence next finds it
  if the cancel stopped half way, and finishes it first (the same op ids: the shards
  that applied it replay, the others apply) and stores its answer for the buyer's
  retry — so a ship never ships what a cancel already started to take off.

After a ship and a cancel both finish, either everything shipped (the cancel found
the reservation shipping: ``409 illegal-transition``) or the cancelled units are
cancelled on every shard and the rest shipped.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator, Sequence

from actors.pending import ShardResult, Unavailable
from allocator.errors import (
    IdempotencyConflict, IllegalTransition, ReservationChanged, StorageUnavailable,
)
from allocator.ops import Code, HoldState, OpKind
from service.ids import op_id
from service.orders import Outcome
from service.reservation import Line, Reservation, State

Cut = dict[tuple[str, int], list[Line]]


class Fencing:
    """Mixin of :class:`~service.checkout.Checkout`: the fence and committed cancels."""

    @asynccontextmanager
    async def fenced(self, rid: str, verb: str) -> AsyncIterator[None]:
        """Hold ``rid``'s fence for the block (waiting up to ``fence_wait_ms`` for
        another holder, then ReservationChanged); a cancel left half done is finished
        first."""
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self.settings.fence_wait_ms / 1000, 0.005
        token, found = await self.fences.take(rid)
        while token is None:  # a holder needs a few ms: wait a little, then refuse
            if loop.time() + pause > deadline:
                raise ReservationChanged(
                    f"cannot {verb} reservation {rid} now: another request is shipping "
                    "it, cancelling its lines or reallocating it; read it and try again",
                    reservation_id=rid, retry_after_s=1.0)
            await asyncio.sleep(pause)
            pause = min(2 * pause, 0.05)
            token, found = await self.fences.take(rid)
        try:
            if found is not None:
                await self._finish_cancel(found)
            yield
        except (Unavailable, StorageUnavailable, asyncio.CancelledError):
            raise  # ops may still land (or Redis is away): the lease lapses by itself
        except BaseException:
            await self._give_back(rid, token)
            raise
        await self._give_back(rid, token)

    async def _give_back(self, rid: str, token: bytes) -> None:
        try:
            await self.fences.give_back(rid, token, done=True)
        except StorageUnavailable:  # pragma: no cover - the lease lapses by itself
            pass

    async def cancel_committed(self, res: Reservation, lines: Sequence[Any], key: str,
                               fingerprint: str, owner: str) -> Outcome:
        """Cancel ``lines`` (SKU, warehouse or None, qty or None) of the committed
        reservation ``res`` under its fence, every hold or none shipped."""
        async with self.fenced(res.id, "cancel lines of"):
            first = await self._first_answer(owner, key)  # finished by the fence?
            if first is not None:
                return self.replay(first, fingerprint)
            res = await self.current(res)
            self._must_be(res, State.COMMITTED, "cancel lines of")
            states = [v["state"] for v in (res.views or [])[:len(res.holds)]]
            if HoldState.SHIPPED.name.lower() in states:  # a ship stopped half way
                raise IllegalTransition(f"cannot cancel lines of reservation {res.id}: "
                                        "it is shipping", reservation_id=res.id,
                                        state="shipped")
            cut = self._cut(res, self._kit_wants(res, lines))
            await self.fences.note(res.id, cancel_intent(res.id, owner, key, fingerprint, cut))
            bad = [r for r in await self._cancel_cut(res.id, key, cut) if not r.ok]
            if bad:
                r = bad[0]
                if r.code == Code.CONFLICT:
                    raise IdempotencyConflict("this Idempotency-Key was first used with a "
                                              "different request")
                raise self._lost(r, res)
            return await self._settled(owner, key, fingerprint, await self.current(res))

    async def _cancel_cut(self, rid: str, key: str, cut: Cut) -> list[ShardResult]:
        """The cancel's ops: units off each committed hold (ids from the request's
        key, so finishing it again applies nothing twice)."""
        return await self.wait([self.client.submit(
            OpKind.DROP_LINES, op_id(rid, "cancel", key, shard, hid), lines,
            hold_id=hid, state=int(HoldState.COMMITTED), shard=shard)
            for (shard, hid), lines in cut.items()])

    async def _finish_cancel(self, intent: dict[str, Any]) -> None:
        """A cancel that stopped half way (its process died, or a shard did not
        answer in time): apply the rest and store its answer for the buyer's retry."""
        cut = {(s, int(h)): [tuple(x) for x in ls] for s, h, ls in intent["cut"]}
        results = await self._cancel_cut(intent["id"], intent["key"], cut)  # type: ignore
        if all(r.ok for r in results):
            res = await self.reservation(intent["id"], None)
            await self._settled(intent["owner"], intent["key"], intent["fp"],
                                await self.current(res))


def cancel_intent(rid: str, owner: str, key: str, fingerprint: str, cut: Cut
                  ) -> dict[str, Any]:
    """What a line cancel records before it sends its ops (JSON)."""
    return {"id": rid, "owner": owner, "key": key, "fp": fingerprint,
            "cut": [[s, h, [list(x) for x in ls]] for (s, h), ls in cut.items()]}
