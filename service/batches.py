"""Many reservations in one request: orders as objects, or single lines as columns.

Single-line pre-routed orders take the vectorised path: their SKUs, warehouses and
quantities become numpy columns, :meth:`ShardClient.hold_bulk` splits them per shard,
and the answers come back as columns — no Python object per order until the JSON
is written. Their reservations are kept as one binary blob per batch
(``{p}:resb:{token}``: fixed-width rows, read back one row at a time) and named
``rb_<token>_<index>``. Any other order is reserved on its own, concurrently.

The whole batch is idempotent under its key: the first answer is stored with the
blob and the other orders' records in one round trip, and given back to a retry.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from actors.client import ShardClient
from allocator.config import LIMITS
from allocator.errors import AllocatorError, UnknownHold, error_from
from allocator.ops import Code
from service.checkout import Checkout
from service.orders import KILL_CODES, STORED_ERRORS, Caller, HoldRequest, Outcome
from service.ids import bulk_op_ids
from service.reservation import Reservation
from storage.records import BULK_ROW

C_CODE, C_VALUE, C_SHARD, C_SKU, C_WH, C_QTY, C_CREATED, C_EXPIRES = range(8)
#: A row's code: 0 reserved, else the index of its refusal here.
REFUSALS = (None, "insufficient_stock", "unknown_sku", "unknown_warehouse", "invalid_request",
            "kill_switch", "purchase_limit", "share_limit", "unavailable",
            "channel_reserved", "channel_limit")
_FROM_SHARD = np.full(256, REFUSALS.index("invalid_request"), np.int64)
_FROM_SHARD[[Code.OK, Code.INSUFFICIENT]] = [0, 1]
_FROM_SHARD[[9, 10]] = [REFUSALS.index("purchase_limit"), REFUSALS.index("share_limit")]
_FROM_SHARD[[Code.CHANNEL_CAP, Code.CHANNEL_RESERVED]] = [REFUSALS.index("channel_limit"),
                                                          REFUSALS.index("channel_reserved")]


@dataclass
class BulkRows:
    """A batch's single-line reservations as columns (see
    :data:`storage.records.BULK_ROW`)."""

    token: str
    rows: np.ndarray  # (n, 8) int64
    names: list[str]  # shard names, by the rows' shard column

    @property
    def ok(self) -> np.ndarray:
        return self.rows[:, C_CODE] == 0

    def ids(self) -> list[str | None]:
        prefix = f"rb_{self.token}_"
        return [prefix + str(i) if c == 0 else None
                for i, c in enumerate(self.rows[:, C_CODE].tolist())]

    def errors(self) -> list[str | None]:
        return [REFUSALS[c] for c in self.rows[:, C_CODE].tolist()]

    def outcome(self, j: int, sku_ids: Sequence[str], warehouses: Sequence[str]
                ) -> tuple[str, Reservation | AllocatorError]:
        """Row ``j`` as a reservation (pending) or the error that refused it."""
        code, value, shard, sku, wh, qty, created, expires = self.rows[j].tolist()
        sku_id = sku_ids[sku] if 0 <= sku < len(sku_ids) else "?"
        wh_id = warehouses[wh] if 0 <= wh < len(warehouses) else "?"
        rid = f"rb_{self.token}_{j}"
        if code == 0:
            return rid, Reservation(rid, "", [(sku_id, wh_id, qty)],
                                    [(self.names[shard], value)], created, expires)
        name = REFUSALS[code] or "invalid_request"
        message = {"insufficient_stock": f"only {value} of {qty} units of {sku_id} at {wh_id}",
                   "unknown_sku": "unknown SKU", "unknown_warehouse": "unknown warehouse",
                   "kill_switch": f"reservations are switched off for {sku_id}",
                   "invalid_request": f"qty must be 1..{LIMITS.max_qty_per_line}"
                   }.get(name, name.replace("_", " "))
        details = {"available": value} if name == "insufficient_stock" else {}
        return rid, error_from(name, message, details)

    def columns_json(self) -> dict[str, Any]:
        ok = int(self.ok.sum())
        r = self.rows
        return {"reserved": ok, "failed": len(r) - ok, "ids": self.ids(),
                "errors": self.errors(),
                "created_ms": int(r[:, C_CREATED].max(initial=0)),
                "expires_ms": int(r[:, C_EXPIRES].max(initial=0))}


@dataclass
class OrdersResult:
    """A batch of orders: per order a :class:`Reservation` or an error, by index."""

    n: int
    bulk: BulkRows | None = None
    bulk_index: list[int] = field(default_factory=list)  # order index of each bulk row
    others: dict[int, Reservation | AllocatorError] = field(default_factory=dict)
    extra: dict[str, Any] | None = None  # stored with the answer (a wave's explanation)

    def entries(self, sku_ids: Sequence[str], warehouses: Sequence[str]
                ) -> list[Reservation | AllocatorError]:
        out: list[Any] = [None] * self.n
        if self.bulk is not None:
            for j, i in enumerate(self.bulk_index):
                out[i] = self.bulk.outcome(j, sku_ids, warehouses)[1]
        for i, v in self.others.items():
            out[i] = v
        return out


class Batches:
    def __init__(self, checkout: Checkout) -> None:
        self.checkout = checkout
        self.client: ShardClient = checkout.client

    # ------------------------------------------------------------- columns
    async def reserve_columns(self, skus: Sequence[str], warehouses: Sequence[str],
                              qty: Sequence[int], ttl_ms: int | None, caller: Caller,
                              key: str, fingerprint: str) -> Outcome:
        """Hold ``qty[i]`` of ``skus[i]`` at ``warehouses[i]`` for every row, each on its
        own; refusals are per row."""
        first = self.checkout.cached_answer(caller.name, key)
        if first is not None:
            return await self._replay_columns(first, fingerprint)
        token = self.checkout.ids.bulk_token(caller.name, key)
        ttl = int(ttl_ms or self.checkout.settings.hold_ttl_ms)
        rows = await self._hold_rows(token, skus, warehouses, qty, np.full(len(skus), ttl))
        bulk = BulkRows(token, rows[0], rows[1])
        answer = {"fp": fingerprint, "bulk": token}
        first = await self._settle(caller, key, answer, bulk, [])
        if first is not None:
            return await self._replay_columns(first, fingerprint)
        return Outcome(bulk)

    async def _replay_columns(self, first: dict[str, Any], fingerprint: str) -> Outcome:
        if "bulk" not in first or first["fp"] != fingerprint:
            return self.checkout.replay(first, fingerprint)
        bulk = await self._load(first["bulk"])
        return Outcome(bulk, replayed=True)

    async def _hold_rows(self, token: str, skus: Sequence[str], warehouses: Sequence[str],
                         qty: Sequence[int], ttl: np.ndarray) -> tuple[np.ndarray, list[str]]:
        n = len(skus)
        sku_index, wh_index = self.client.sku_index, self.client.wh_index
        rows = np.zeros((n, BULK_ROW.size // 8), np.int64)
        gidx = np.fromiter((sku_index.get(s, -1) for s in skus), np.int64, n)
        wh = np.fromiter((wh_index.get(w, -1) for w in warehouses), np.int64, n)
        q = np.asarray(qty, np.int64)
        rows[:, C_SKU], rows[:, C_WH], rows[:, C_QTY] = gidx, wh, q
        code = rows[:, C_CODE]
        code[(q < 1) | (q > LIMITS.max_qty_per_line)] = REFUSALS.index("invalid_request")
        code[wh < 0] = REFUSALS.index("unknown_warehouse")
        code[gidx < 0] = REFUSALS.index("unknown_sku")
        kill = self.checkout.kill
        if kill.on:
            code[code == 0] = REFUSALS.index("kill_switch")
        elif kill.skus:
            off = np.array([self.client.sku_index.get(s, -1) for s in kill.skus], np.int64)
            code[(code == 0) & np.isin(gidx, off)] = REFUSALS.index("kill_switch")
        ops = bulk_op_ids(token, n)
        names: list[str] = []
        now = int(time.time() * 1000)
        for t in np.unique(ttl[code == 0]).tolist():
            todo = np.flatnonzero((code == 0) & (ttl == t))
            got = await self.client.hold_bulk(gidx[todo], wh[todo], q[todo], ops[todo], t)
            shard_names = got["names"]
            remap = np.array([_index(names, s) for s in shard_names] or [0], np.int64)
            sc = np.asarray(got["code"], np.int64)
            rows[todo, C_CODE] = _FROM_SHARD[sc]
            rows[todo, C_VALUE] = got["value"]
            rows[todo, C_SHARD] = remap[np.asarray(got["shard"], np.int64)]
            rows[todo, C_CREATED] = now
            rows[todo, C_EXPIRES] = now + t
        return rows, names

    async def _settle(self, caller: Caller, key: str, answer: dict[str, Any],
                      bulk: BulkRows | None, records: list[tuple[str, bytes]]
                      ) -> dict[str, Any] | None:
        store = self.checkout.records
        if bulk is not None:
            records = list(records) + store.bulk_records(
                bulk.token, bulk.rows, {"owner": caller.name, "names": bulk.names})
        return await store.settle(caller.name, key, answer, records)

    async def _load(self, token: str) -> BulkRows:
        found = await self.checkout.records.bulk(token)
        if found is None:
            raise UnknownHold(f"batch {token} is no longer stored")
        rows, meta = found
        return BulkRows(token, rows, meta["names"])

    # -------------------------------------------------------------- orders
    async def reserve_orders(self, requests: Sequence[HoldRequest | Exception], caller: Caller,
                             key: str, fingerprint: str,
                             extra: dict[str, Any] | None = None) -> Outcome:
        """Each order all-or-nothing on its own; one answer for the batch (``extra`` is
        kept with it and given back on a replay)."""
        first = self.checkout.cached_answer(caller.name, key)
        if first is not None:
            return await self._replay_orders(first, fingerprint)
        out = OrdersResult(len(requests), extra=extra)
        singles, others = [], []
        for i, r in enumerate(requests):
            if isinstance(r, Exception):
                out.others[i] = r if isinstance(r, AllocatorError) else AllocatorError(str(r))
            elif r.lines is not None and len(r.lines) == 1 and not r.customer \
                    and not caller.share_bp and not r.channel and not r.brand:
                singles.append(i)
            else:
                others.append(i)
        token = self.checkout.ids.bulk_token(caller.name, key)
        if singles:
            default = self.checkout.settings.hold_ttl_ms
            reqs = [requests[i] for i in singles]
            lines = [r.lines[0] for r in reqs]  # type: ignore[union-attr,index]
            ttl = np.array([r.ttl_ms or default for r in reqs], np.int64)  # type: ignore[union-attr]
            rows, names = await self._hold_rows(token, [l[0] for l in lines],
                                                [l[1] for l in lines], [l[2] for l in lines],
                                                ttl)
            out.bulk, out.bulk_index = BulkRows(token, rows, names), singles
        nonce = os.urandom(8)

        async def one(i: int) -> tuple[int, Any]:
            rid = self.checkout.ids.batch_order_id(caller.name, key, i)
            try:
                req = requests[i]
                assert isinstance(req, HoldRequest)
                self.checkout.kill.check(req.skus, req.channel, req.brand)
                taken = await self.checkout.take(rid, caller, req, nonce)
                return i, taken
            except AllocatorError as exc:
                return i, exc

        records, answers = [], {}
        taken_all = []
        for i, got in await asyncio.gather(*(one(i) for i in others)):
            if isinstance(got, AllocatorError):
                if got.code not in STORED_ERRORS and got.code not in KILL_CODES:
                    await self._undo(taken_all)
                    raise got
                out.others[i] = got
            else:
                taken_all.append(got)
                out.others[i] = got.reservation
                records.append((self.checkout.records.record_key(got.reservation.id),
                                got.packed))
        for i, v in out.others.items():
            answers[i] = (v.id if isinstance(v, Reservation)
                          else [v.code, v.message, v.details])
        answer = {"fp": fingerprint, "bulk": token if out.bulk is not None else None,
                  "index": out.bulk_index, "n": out.n, "orders": answers}
        if extra is not None:
            answer["extra"] = extra
        try:
            first = await self._settle(caller, key, answer, out.bulk, records)
        except AllocatorError:
            await self._undo(taken_all)
            raise
        if first is not None:
            for t in taken_all:
                await self.checkout.give_back(t.reservation, None)
            return await self._replay_orders(first, fingerprint)
        for t in taken_all:
            self.checkout.records.remember(t.reservation.id, t.packed)
            if t.reservation.review:
                await self.checkout.reviews.publish("review_opened", t.reservation.id,
                                                    reasons=t.reservation.review)
        return Outcome(out)

    async def _undo(self, taken: list[Any]) -> None:
        for t in taken:
            await self.checkout.undo(t.reservation, "batch-failed")

    async def replay_orders(self, first: dict[str, Any], fingerprint: str) -> Outcome:
        """The first answer to a batch (or wave) again, for a retry with its key."""
        return await self._replay_orders(first, fingerprint)

    async def _replay_orders(self, first: dict[str, Any], fingerprint: str) -> Outcome:
        if "orders" not in first or first["fp"] != fingerprint:
            return self.checkout.replay(first, fingerprint)
        out = OrdersResult(int(first["n"]), bulk_index=list(first["index"]),
                           extra=first.get("extra"))
        if first.get("bulk"):
            out.bulk = await self._load(first["bulk"])
        for i, v in first["orders"].items():
            if isinstance(v, str):
                out.others[int(i)] = await self.checkout.reservation(v, None)
            else:
                out.others[int(i)] = error_from(*v)
        return Outcome(out, replayed=True)


def _index(names: list[str], name: str) -> int:
    if name not in names:
        names.append(name)
    return names.index(name)
