"""Checkout: route, reserve (route + hold, all-or-nothing), commit, release, read.

The hot path of one reserve, in this process: the kill switch (a local copy), the
plan (on the client's availability view, no I/O), the holds (one frame per shard,
shared with every concurrent request), then **one** Redis round trip that stores the
reservation record and the first answer to the idempotency key together — or finds
that another request with the same key answered first, gives back what this one
took, and answers as the first did.

Transitions are decided by the reservation's primary hold (see
:mod:`service.reservation`); the shards' answers are the only truth about state.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

from actors.client import ShardClient
from actors.pending import NO_LIMITS, OpLimits, ShardResult, Unavailable
from allocator.aio import spawn
from allocator.errors import (
    AllocatorError, HoldExpired, IdempotencyMismatch, IllegalTransition, InsufficientStock,
    InvalidRequest, UnknownHold, error_from,
)
from allocator.ops import Code, HoldState, OpKind
from allocator.outcomes import error_for
from routing import Order
from service.ids import Ids, op_id
from service.killswitch import KillSwitch
from service.planner import RoutedPlanner
from service.reservation import Line, Reservation, State, combined_state
from storage.records import Records, pack, unpack

log = logging.getLogger("allocator.checkout")

#: Answers stored for an idempotency key: the outcome of the work. Refusals that a
#: retry with the same key may get past (kill switch, rate limits, overload, outages)
#: are not stored.
STORED_ERRORS = ("invalid_request", "unknown_sku", "unknown_warehouse", "unknown_destination",
                 "invalid_catalog", "invalid_network", "insufficient_stock", "purchase_limit")


@dataclass(frozen=True)
class HoldRequest:
    """What to reserve: pre-routed ``lines`` or a routed ``order``."""

    lines: tuple[Line, ...] | None = None
    order: Order | None = None
    ttl_ms: int | None = None
    customer: str | None = None

    @property
    def skus(self) -> list[str]:
        if self.lines is not None:
            return [line[0] for line in self.lines]
        assert self.order is not None
        return list(self.order.skus)


@dataclass(frozen=True)
class Caller:
    """Who asks: the API key's name (owns reservations) and its share cap."""

    name: str
    share_bp: int = 0


@dataclass
class Outcome:
    """A use case's answer: a value or a domain error, and whether it is the first
    answer given again (an idempotent replay)."""

    value: Any = None
    error: AllocatorError | None = None
    replayed: bool = False


@dataclass
class CheckoutSettings:
    hold_ttl_ms: int = 600_000
    max_reroutes: int = 3
    secondary_grace_ms: int = 2_000  # other shards' holds outlive the primary's by this
    op_timeout_s: float = 10.0
    answer_cache: int = 50_000
    customer_cap: int = 0  # units per customer per SKU (0: no cap) unless the catalog says
    undo_retry_s: float = 120.0  # how long an undo refused by an outage is retried
    routing_threads: int = 2  # big orders plan here, off the event loop


@dataclass
class _Taken:
    """Holds taken for a reservation: the record (kept in this process's cache) and
    the same packed (stored in Redis)."""

    reservation: Reservation
    record: dict[str, Any]
    packed: bytes


class Checkout:
    def __init__(self, client: ShardClient, records: Records, ids: Ids,
                 planner: RoutedPlanner, kill: KillSwitch, settings: CheckoutSettings | None = None,
                 caps: dict[str, int] | None = None) -> None:
        self.client = client
        self.records = records
        self.ids = ids
        self.planner = planner
        self.kill = kill
        self.settings = settings or CheckoutSettings()
        self.caps = caps or {}
        self._answers: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._routing = ThreadPoolExecutor(self.settings.routing_threads,
                                           thread_name_prefix="routing")

    # ------------------------------------------------------------------- route
    async def route(self, order: Order) -> dict[str, Any]:
        """The plan on current availability (nothing is held), as JSON. The view may be
        a few ms old; an order it cannot fill is planned again on fresh rows."""
        skus = self.planner.skus_to_read(order)
        plan = await self._off_loop(order, self.planner.quote, await self._rows(skus))
        if plan["status"] != "planned":
            plan = await self._off_loop(order, self.planner.quote,
                                        await self._rows(skus, fresh=True))
        return plan

    async def _choose(self, order: Order, rows: dict[str, Any]) -> Any:
        return await self._off_loop(order, self.planner.choose, rows)

    async def _off_loop(self, order: Order, fn: Any, rows: dict[str, Any]) -> Any:
        """Plan on the event loop when that is quick; big orders (a solver, substitutes
        to explore) plan in a small thread pool so they cannot stall other requests."""
        if self.planner.is_quick(order):
            return fn(order, rows)
        return await asyncio.get_running_loop().run_in_executor(self._routing, fn, order, rows)

    async def _rows(self, skus: Sequence[str], fresh: bool = False) -> dict[str, Any]:
        rows = None if fresh else self.client.availability(skus)
        return await self.client.fresh(skus) if rows is None else rows

    # ----------------------------------------------------------------- reserve
    async def reserve(self, req: HoldRequest, caller: Caller, key: str, fingerprint: str
                      ) -> Outcome:
        """Route (unless pre-routed) and hold, all-or-nothing; the first answer to
        (caller, key) is kept and given again to every later request with that key."""
        first = self.cached_answer(caller.name, key)
        if first is not None:
            return self.replay(first, fingerprint)
        rid = self.ids.reservation_id(caller.name, key)
        for sku in req.skus:
            self.client.check(sku)
        self.kill.check(req.skus)
        taken: _Taken | None = None
        try:
            taken = await self.take(rid, caller, req, os.urandom(8))
            answer: dict[str, Any] = {"fp": fingerprint, "record": taken.packed}
            records = [(self.records.record_key(rid), taken.packed)]
        except AllocatorError as exc:
            if exc.code not in STORED_ERRORS:
                raise
            answer = {"fp": fingerprint, "error": [exc.code, exc.message, exc.details]}
            records = []
        try:
            first = await self.records.settle(caller.name, key, answer, records)
        except AllocatorError:
            if taken is not None:  # not durable: give the units back, answer 503
                await self.undo(taken.reservation, "unsettled")
            raise
        if first is None:
            self._keep(caller.name, key, answer)
            if taken is None:
                return self.outcome_of(answer)
            self.records.remember(rid, taken.record)
            return Outcome(taken.reservation)
        if taken is not None:  # another request with this key answered first
            await self.give_back(taken.reservation, first)
        self._keep(caller.name, key, first)
        return self.replay(first, fingerprint)

    def cached_answer(self, owner: str, key: str) -> dict[str, Any] | None:
        """The first answer to (owner, key) if this process gave or saw it."""
        return self._answers.get((owner, key))

    def _keep(self, owner: str, key: str, answer: dict[str, Any]) -> None:
        self._answers[(owner, key)] = answer
        if len(self._answers) > self.settings.answer_cache:
            self._answers.popitem(last=False)

    def replay(self, first: dict[str, Any], fingerprint: str) -> Outcome:
        if first["fp"] != fingerprint:
            raise IdempotencyMismatch("this Idempotency-Key was first used with a different "
                                      "request; use a new key for a new request")
        out = self.outcome_of(first)
        out.replayed = True
        return out

    @staticmethod
    def outcome_of(answer: dict[str, Any]) -> Outcome:
        if "error" in answer:
            code, message, details = answer["error"]
            return Outcome(error=error_from(code, message, details))
        if "record" in answer:
            return Outcome(Reservation.from_record(unpack(answer["record"])))
        return Outcome(answer.get("value"))

    async def take(self, rid: str, caller: Caller, req: HoldRequest, nonce: bytes) -> _Taken:
        ttl = int(req.ttl_ms or self.settings.hold_ttl_ms)
        if req.lines is not None:
            lines = self._validated(req.lines)
            res = await self._hold(rid, caller, lines, ttl, nonce, 0, None, req.customer)
            record = res.to_record()
            return _Taken(res, record, pack(record))
        order = req.order
        assert order is not None
        skus = self.planner.skus_to_read(order)
        fresh = False
        last: AllocatorError | None = None
        for attempt in range(self.settings.max_reroutes + 1):
            try:
                choice = await self._choose(order, await self._rows(skus, fresh))
            except InsufficientStock:
                if fresh:
                    raise
                fresh = True  # the view may be behind: look again
                choice = await self._choose(order, await self._rows(skus, fresh=True))
            try:
                res = await self._hold(rid, caller, choice.lines, ttl, nonce, attempt,
                                       choice.plan, req.customer)
                record = res.to_record()
                return _Taken(res, record, pack(record | {"plan": choice.packed}))
            except InsufficientStock as exc:
                last, fresh = exc, True  # stock moved since the view: route again
        assert last is not None
        raise last

    def _validated(self, lines: Sequence[Line]) -> list[Line]:
        if not lines:
            raise InvalidRequest("an order needs at least one line")
        seen = set()
        for sku, wh, qty in lines:
            if (sku, wh) in seen:
                raise InvalidRequest(f"duplicate line for {sku} at {wh}")
            seen.add((sku, wh))
            self.client.check(sku, wh)
        return list(lines)

    def _limits(self, caller: Caller, part: Sequence[Line], customer: str | None) -> OpLimits:
        if not customer and not caller.share_bp:
            return NO_LIMITS
        caps = tuple(self.caps.get(sku, self.settings.customer_cap) for sku, _, _ in part)
        return OpLimits(customer=_nonzero_id("customer", customer) if customer else 0,
                      owner=_nonzero_id("key", caller.name) if caller.share_bp else 0,
                      share_bp=caller.share_bp, caps=caps)

    async def _hold(self, rid: str, caller: Caller, lines: list[Line], ttl: int, nonce: bytes,
                    attempt: int, plan: dict[str, Any] | None, customer: str | None
                    ) -> Reservation:
        """Hold every line on every shard it lives on, or none."""
        parts = self.client.split_by_shard(lines)
        grace = self.settings.secondary_grace_ms
        futs = [self.client.submit(OpKind.HOLD, op_id(rid, nonce, "hold", attempt, shard), part,
                                   arg=ttl if i == 0 else ttl + grace,
                                   limits=self._limits(caller, part, customer))
                for i, (shard, part) in enumerate(parts.items())]
        try:
            results = await self.wait(futs)
        except AllocatorError:  # answered 503: holds landing later must be given back
            self._give_back_late(rid, futs, f"late:{nonce.hex()}:{attempt}")
            raise
        failed = [(shard, r) for shard, r in zip(parts, results) if not r.ok]
        if failed:
            taken = [(shard, r.value) for shard, r in zip(parts, results) if r.ok]
            await self._release_all(rid, taken, f"undo:{nonce.hex()}:{attempt}")
            shard, r = failed[0]
            exc = error_for(OpKind.HOLD, r.code, r.value, r.detail, parts[shard])
            assert exc is not None
            raise exc
        now = results[0].now_ms
        ordered = [line for part in parts.values() for line in part]
        return Reservation(rid, caller.name, ordered,
                           [(shard, r.value) for shard, r in zip(parts, results)],
                           now, now + ttl, plan)

    async def wait(self, futs: Sequence[asyncio.Future]) -> list[ShardResult]:
        """The ops' answers, or Unavailable after ``op_timeout_s`` — without cancelling
        them: an op already sent may still be applied, and whoever gave up on it must be
        able to see that (see :meth:`_give_back_late`)."""
        if not futs:
            return []
        _, pending = await asyncio.wait(futs, timeout=self.settings.op_timeout_s)
        if pending:
            raise Unavailable("the shards did not answer in time", retry_after_s=1.0)
        return [f.result() for f in futs]

    async def _release_all(self, rid: str, holds: Sequence[tuple[str, int]], tag: str) -> None:
        if holds:
            await self.wait([self.client.submit(OpKind.RELEASE, op_id(rid, tag, shard, hid),
                                                 hold_id=hid, shard=shard)
                              for shard, hid in holds])

    async def undo(self, res: Reservation, tag: str) -> None:
        """Release every hold of ``res`` that nobody was told about. If the shards cannot
        take it now (Redis down), keep trying in the background for ``undo_retry_s``
        rather than leave the units held until they expire."""
        try:
            await self._release_all(res.id, res.holds, tag)
        except AllocatorError:
            spawn(self._undo_later(res, tag))

    def _give_back_late(self, rid: str, futs: Sequence[asyncio.Future], tag: str) -> None:
        """A hold the caller stopped waiting for may still be taken (the client resends
        until the shard answers): release it when it lands."""
        def landed(fut: asyncio.Future) -> None:
            if fut.cancelled() or fut.exception() is not None or not fut.result().ok:
                return
            r = fut.result()
            res = Reservation(rid, "", [], [(r.shard, r.value)], 0, 0)
            spawn(self.undo(res, tag))

        for fut in futs:
            if fut.done():
                landed(fut)
            else:
                fut.add_done_callback(landed)

    async def _undo_later(self, res: Reservation, tag: str) -> None:
        deadline = time.monotonic() + self.settings.undo_retry_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            try:
                await self._release_all(res.id, res.holds, tag)
                return
            except AllocatorError:
                continue
            except BaseException:
                log.exception("undo of %s failed", res.id)
                raise

    async def give_back(self, mine: Reservation, first: dict[str, Any] | None) -> None:
        """Release the holds of ``mine`` that the first answer does not name."""
        kept = set()
        if first and "record" in first:
            kept = {(s, int(h)) for s, h in unpack(first["record"])["holds"]}
        extra = [h for h in mine.holds if tuple(h) not in kept]
        if extra:
            await self._release_all(mine.id, extra, "extra")

    # ------------------------------------------------------------- transitions
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
        return res.with_state(await self.state_of(res))

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


def _nonzero_id(*parts: Any) -> int:
    """A ledger id for a customer or key (0 means none there)."""
    return op_id(*parts) or 1


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
