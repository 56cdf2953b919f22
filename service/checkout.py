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
from allocator.bundles import Kit, whole_kit_rows
from allocator.errors import (
    AllocatorError, IdempotencyMismatch, InsufficientStock, InvalidRequest, error_from,
)
from allocator.ops import OpKind
from allocator.outcomes import error_for
from routing import Order
from service.bundles import BundleStore
from service.fencing import Fencing
from service.ids import Ids, channel_id, op_id
from service.killswitch import KillSwitch
from service.lifecycle import Lifecycle
from service.planner import RoutedPlanner
from service.orders import STORED_ERRORS, Caller, CheckoutSettings, HoldRequest, Outcome
from service.reservation import Line, Reservation
from service.review import ReviewRules, Reviews
from service.transitions import Transitions
from service.waits import FRESH_ROWS, SETTLE, SHARD_OP, Waits
from storage.fence import Fences
from storage.records import Records, pack, unpack

log = logging.getLogger("allocator.checkout")

@dataclass
class _Taken:
    """Holds taken for a reservation: the record (kept in this process's cache) and
    the same packed (stored in Redis)."""

    reservation: Reservation
    record: dict[str, Any]
    packed: bytes


class Checkout(Lifecycle, Fencing, Transitions):
    def __init__(self, client: ShardClient, records: Records, ids: Ids,
                 planner: RoutedPlanner, kill: KillSwitch, settings: CheckoutSettings | None = None,
                 caps: dict[str, int] | None = None, reviews: Reviews | None = None,
                 bundles: BundleStore | None = None) -> None:
        self.client = client
        self.records = records
        self.ids = ids
        self.planner = planner
        self.kill = kill
        self.settings = settings or CheckoutSettings()
        self.caps = caps or {}
        self.reviews = reviews or Reviews(records.redis, records.keys, ReviewRules(),
                                          planner.network)
        self.bundles = bundles or BundleStore(records.redis, records.keys, client)
        self.fences = Fences(records.redis, records.keys, self.settings.fence_ttl_ms,
                             records.record_ttl_s)
        self._answers: OrderedDict[str, bytes] = OrderedDict()  # first answers, packed
        self.waits = Waits()  # where requests wait on shards and Redis (/metrics)
        self._routing = ThreadPoolExecutor(self.settings.routing_threads,
                                           thread_name_prefix="routing")

    # ------------------------------------------------------------------- route
    async def route(self, order: Order) -> dict[str, Any]:
        """The plan on current availability (nothing is held), as JSON. The view may be
        a few ms old; an order it cannot fill is planned again on fresh rows (and one
        it is surely short for is planned once, on them). Bundle lines are planned as
        their components (see :mod:`service.bundles`)."""
        order, kits = await self.bundles.expand_order(order)
        skus = self.planner.skus_to_read(order)
        rows = await self._rows(skus)
        fresh = self.planner.surely_short(order, rows)
        if fresh:  # short on the view: plan once, on the shards' rows
            rows = await self._rows(skus, fresh=True)
        if kits:  # a kit from one warehouse, if one can make it
            plan = await self._off_loop(order, self.planner.quote, whole_kit_rows(kits, rows))
            if plan["status"] == "planned":
                return plan
        plan = await self._off_loop(order, self.planner.quote, rows)
        if plan["status"] != "planned" and not fresh:
            plan = await self._off_loop(order, self.planner.quote,
                                        await self._rows(skus, fresh=True))
        return plan

    async def _choose(self, order: Order, rows: dict[str, Any], kits: Sequence[Kit] = ()
                      ) -> Any:
        """The plan to hold; with kits, first one that ships each kit whole from one
        warehouse, else any (a kit's components from several warehouses)."""
        if kits:
            try:
                return await self._off_loop(order, self.planner.choose,
                                            whole_kit_rows(kits, rows))
            except InsufficientStock:
                pass
        return await self._off_loop(order, self.planner.choose, rows)

    async def _off_loop(self, order: Order, fn: Any, rows: dict[str, Any]) -> Any:
        """Plan on the event loop when that is quick; big orders (a solver, substitutes
        to explore) plan in a small thread pool so they cannot stall other requests."""
        if self.planner.is_quick(order):
            return fn(order, rows)
        return await asyncio.get_running_loop().run_in_executor(self._routing, fn, order, rows)

    async def _rows(self, skus: Sequence[str], fresh: bool = False) -> dict[str, Any]:
        rows = None if fresh else self.client.availability(skus)
        if rows is not None:
            return rows
        t0 = time.perf_counter()
        try:
            return await self.client.fresh(skus)
        finally:
            self.waits.observe(FRESH_ROWS, time.perf_counter() - t0)

    async def settle(self, owner: str, key: str, answer: dict[str, Any] | bytes,
                     records: Sequence[tuple[str, bytes]] = ()) -> dict[str, Any] | None:
        """:meth:`Records.settle <storage.records.Records.settle>`, timed: store
        ``answer`` as the first to (owner, key) unless there is one (returned)."""
        t0 = time.perf_counter()
        try:
            return await self.records.settle(owner, key, answer, records)
        finally:
            self.waits.observe(SETTLE, time.perf_counter() - t0)

    # ----------------------------------------------------------------- reserve
    async def reserve(self, req: HoldRequest, caller: Caller, key: str, fingerprint: str
                      ) -> Outcome:
        """Route (unless pre-routed) and hold, all-or-nothing; the first answer to
        (caller, key) is kept and given again to every later request with that key."""
        first = self.cached_answer(caller.name, key)
        if first is not None:
            return self.replay(first, fingerprint)
        rid = self.ids.reservation_id(caller.name, key)
        req = await self.bundles.expand(req)
        for sku in req.skus:
            self.client.check(sku)
        self.kill.check(req.skus, req.channel, req.brand)
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
        packed = pack(answer)  # once: stored in Redis and kept here
        try:
            first = await self.settle(caller.name, key, packed, records)
        except AllocatorError:
            if taken is not None:  # not durable: give the units back, answer 503
                await self.undo(taken.reservation, "unsettled")
            raise
        if first is None:
            self._keep(caller.name, key, packed)
            if taken is None:
                return self.outcome_of(answer)
            self.records.remember(rid, taken.packed)
            if taken.reservation.review:
                await self.reviews.publish("review_opened", rid,
                                           reasons=taken.reservation.review)
            return Outcome(taken.reservation)
        if taken is not None:  # another request with this key answered first
            await self.give_back(taken.reservation, first)
        self._keep(caller.name, key, first)
        return self.replay(first, fingerprint)

    def cached_answer(self, owner: str, key: str) -> dict[str, Any] | None:
        """The first answer to (owner, key) if this process gave or saw it."""
        hit = self._answers.get(_answer_key(owner, key))
        return None if hit is None else unpack(hit)

    def _keep(self, owner: str, key: str, answer: dict[str, Any] | bytes) -> None:
        """Keep a first answer (or the same packed); packed under a str key, nothing
        here is for the cyclic collector to scan."""
        self._answers[_answer_key(owner, key)] = \
            answer if isinstance(answer, bytes) else pack(answer)
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
        review = self.reviews.reasons(req)
        ttl = self.reviews.hold_ms(review, int(req.ttl_ms or self.settings.hold_ttl_ms))
        if req.lines is not None:
            lines = self._validated(req.lines)
            res = await self._hold(rid, caller, lines, ttl, nonce, 0, None, req.customer,
                                   req.channel)
            res.review, res.kits = review or None, list(req.kits) or None
            res.channel, res.brand = req.channel, req.brand
            record = res.to_record()
            return _Taken(res, record, pack(record))
        order = req.order
        assert order is not None
        skus = self.planner.skus_to_read(order)
        fresh = False
        last: AllocatorError | None = None
        for attempt in range(self.settings.max_reroutes + 1):
            rows = await self._rows(skus, fresh)
            if not fresh and self.planner.surely_short(order, rows):
                fresh = True  # short on the view: plan once, on the shards' rows
                rows = await self._rows(skus, fresh=True)
            try:
                choice = await self._choose(order, rows, req.kits)
            except InsufficientStock:
                if fresh:
                    raise
                fresh = True  # the view may be behind: look again
                choice = await self._choose(order, await self._rows(skus, fresh=True),
                                            req.kits)
            try:
                res = await self._hold(rid, caller, choice.lines, ttl, nonce, attempt,
                                       choice.plan, req.customer, req.channel)
                res.review, res.kits = review or None, list(req.kits) or None
                res.channel, res.brand = req.channel, req.brand
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

    def _limits(self, caller: Caller, part: Sequence[Line], customer: str | None,
                channel: str | None = None) -> OpLimits:
        if not customer and not caller.share_bp and not channel:
            return NO_LIMITS
        caps = tuple(self.caps.get(sku, self.settings.customer_cap) for sku, _, _ in part) \
            if customer or caller.share_bp else ()  # a channel alone: no caps to carry
        return OpLimits(customer=_nonzero_id("customer", customer) if customer else 0,
                      owner=_nonzero_id("key", caller.name) if caller.share_bp else 0,
                      share_bp=caller.share_bp, caps=caps,
                      channel=channel_id(channel) if channel else 0)

    async def _hold(self, rid: str, caller: Caller, lines: list[Line], ttl: int, nonce: bytes,
                    attempt: int, plan: dict[str, Any] | None, customer: str | None,
                    channel: str | None = None) -> Reservation:
        """Hold every line on every shard it lives on, or none."""
        parts = self.client.split_by_shard(lines)
        grace = self.settings.secondary_grace_ms
        futs = [self.client.submit(OpKind.HOLD, op_id(rid, nonce, "hold", attempt, shard), part,
                                   ttl_ms=ttl if i == 0 else ttl + grace,
                                   limits=self._limits(caller, part, customer, channel))
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
        t0 = time.perf_counter()
        _, pending = await asyncio.wait(futs, timeout=self.settings.op_timeout_s)
        self.waits.observe(SHARD_OP, time.perf_counter() - t0)
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


def _nonzero_id(*parts: Any) -> int:
    """A ledger id for a customer or key (0 means none there)."""
    return op_id(*parts) or 1


def _answer_key(owner: str, key: str) -> str:
    """The in-process key of (owner, key)'s first answer (owners are configured names)."""
    return f"{owner}\0{key}"
