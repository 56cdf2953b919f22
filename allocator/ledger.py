"""The stock ledger of one shard: columnar stock, holds, idempotency, batch apply.

Per cell (SKU × warehouse) it keeps ``on_hand``, ``held`` (pending holds) and
``committed`` (paid, not shipped) as flat numpy int64 columns, plus the last sync
``version``. ``available = on_hand − held − committed`` is never below zero: every
operation checks before it moves units, and units only move through named ops.

Two ways in, with identical semantics:

* :meth:`Ledger.apply_one` / the friendly methods (:meth:`hold`, :meth:`commit`, …):
  the plain reference path, one op at a time;
* :meth:`Ledger.apply`: a columnar :class:`OpBatch`, FCFS by arrival; runs of
  single-line holds are applied vectorised with numpy, anything else one by one.

Time is passed in (``now_ms``) so that the same ops on the same state give the same
result, which is what makes journal replay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from allocator.columns import Columns
from allocator.config import LIMITS, Limits
from allocator.opindex import OpIndex
from allocator.errors import (
    HoldExpired, IdempotencyConflict, IllegalTransition, InsufficientStock,
    InvalidRequest, SkuMoved, StaleVersion, UnknownHold, UnknownSku, UnknownWarehouse,
)
from allocator.ops import (
    CELL_OPS, HOLD_OPS, BatchResult, Code, HoldState, OpBatch, OpKind, OpResult,
    fingerprint,
)

MAX_UNITS_PER_MOVE = 10_000_000
MAX_ON_HAND = 1_000_000_000

_NO_LINES = np.zeros(0, np.int64)


@dataclass(frozen=True)
class HoldView:
    """A read-only view of one hold."""

    hold_id: int
    state: HoldState
    created_ms: int
    expires_ms: int
    lines: list[tuple[str, str, int]]  # (sku, warehouse, qty)


class Ledger:
    """Stock and holds for a fixed set of SKUs × warehouses (one shard)."""

    def __init__(self, sku_ids: Sequence[str], warehouse_ids: Sequence[str],
                 limits: Limits = LIMITS, min_vector_run: int = 16,
                 capacity: int = 1 << 16) -> None:
        """``capacity``: ops (and holds) expected before the tables must grow; a shard
        sizes it from its expected volume so the hot path never reallocates."""
        self.sku_ids = list(sku_ids)
        self.warehouse_ids = list(warehouse_ids)
        self._sku_row = {s: i for i, s in enumerate(self.sku_ids)}
        self._wh_col = {w: j for j, w in enumerate(self.warehouse_ids)}
        if len(self._sku_row) != len(self.sku_ids) or len(self._wh_col) != len(self.warehouse_ids):
            raise InvalidRequest("duplicate SKU or warehouse id in ledger layout")
        self.limits = limits
        self.min_vector_run = max(1, min_vector_run)
        self.n_warehouses = len(self.warehouse_ids)
        self.n_cells = len(self.sku_ids) * self.n_warehouses
        self.on_hand = np.zeros(self.n_cells, np.int64)
        self.held = np.zeros(self.n_cells, np.int64)
        self.committed = np.zeros(self.n_cells, np.int64)
        self.version = np.zeros(self.n_cells, np.int64)
        self.accepting = np.ones(len(self.sku_ids), bool)  # per SKU: takes new holds here
        self.holds = Columns({"state": np.int8, "op_id": np.int64, "created": np.int64,
                              "expires": np.int64, "line_start": np.int64,
                              "line_count": np.int64}, capacity)
        self.lines = Columns({"cell": np.int64, "qty": np.int64}, capacity)
        self.results = Columns({"code": np.uint8, "value": np.int64, "detail": np.int64,
                                "fp": np.uint64, "at": np.int64}, capacity)
        self.drift = Columns({"cell": np.int64, "missing": np.int64, "version": np.int64,
                              "at": np.int64})
        self._seen = OpIndex(capacity)
        self._pending_floor = 0  # no hold below this index is pending

    # ------------------------------------------------------------------ lookups
    def cell(self, sku_id: str, warehouse_id: str) -> int:
        """Flat cell index of (SKU, warehouse); clear errors for unknown ids."""
        row = self._sku_row.get(sku_id)
        if row is None:
            raise UnknownSku(f"unknown SKU {sku_id!r}", sku=sku_id)
        col = self._wh_col.get(warehouse_id)
        if col is None:
            raise UnknownWarehouse(f"unknown warehouse {warehouse_id!r}", warehouse=warehouse_id)
        return row * self.n_warehouses + col

    def cell_ids(self, cell: int) -> tuple[str, str]:
        row, col = divmod(int(cell), self.n_warehouses)
        return self.sku_ids[row], self.warehouse_ids[col]

    @property
    def available(self) -> np.ndarray:
        """Available units per cell (flat; reshape to SKUs × warehouses as needed)."""
        return self.on_hand - self.held - self.committed

    def stock(self, sku_id: str) -> dict[str, dict[str, int]]:
        """Per warehouse: on_hand, held, committed, available, version of one SKU."""
        base = self.cell(sku_id, self.warehouse_ids[0])
        out = {}
        for j, wh in enumerate(self.warehouse_ids):
            c = base + j
            out[wh] = {"on_hand": int(self.on_hand[c]), "held": int(self.held[c]),
                       "committed": int(self.committed[c]),
                       "available": int(self.on_hand[c] - self.held[c] - self.committed[c]),
                       "version": int(self.version[c])}
        return out

    def hold_view(self, hold_id: int) -> HoldView:
        """The hold's state and lines; :class:`UnknownHold` if there is none."""
        if not 0 <= hold_id < self.holds.size:
            raise UnknownHold(f"unknown hold {hold_id}", hold_id=hold_id)
        cells, qtys = self._hold_lines(hold_id)
        lines = [(*self.cell_ids(c), int(q)) for c, q in zip(cells, qtys)]
        return HoldView(hold_id, HoldState(int(self.holds["state"][hold_id])),
                        int(self.holds["created"][hold_id]),
                        int(self.holds["expires"][hold_id]), lines)

    def bytes_per_cell(self) -> float:
        """Memory of the per-cell stock columns divided by the number of cells."""
        total = sum(a.nbytes for a in (self.on_hand, self.held, self.committed, self.version))
        return total / max(1, self.n_cells)

    # ------------------------------------------------------- friendly, raising
    def hold(self, op_id: int, lines: Iterable[tuple[str, str, int]], now_ms: int,
             ttl_ms: int) -> int:
        """Hold every line or none; returns the hold id. Raises on any refusal."""
        lines = list(lines)
        cells = np.array([self.cell(s, w) for s, w, _ in lines], np.int64)
        qtys = np.array([q for _, _, q in lines], np.int64)
        return self._raise_for(self.apply_one(OpKind.HOLD, op_id, -1, ttl_ms, cells, qtys,
                                              now_ms), OpKind.HOLD, op_id, -1, ttl_ms, cells, qtys)

    def commit(self, op_id: int, hold_id: int, now_ms: int) -> int:
        return self._hold_op(OpKind.COMMIT, op_id, hold_id, now_ms)

    def release(self, op_id: int, hold_id: int, now_ms: int) -> int:
        return self._hold_op(OpKind.RELEASE, op_id, hold_id, now_ms)

    def ship(self, op_id: int, hold_id: int, now_ms: int) -> int:
        return self._hold_op(OpKind.SHIP, op_id, hold_id, now_ms)

    def cancel(self, op_id: int, hold_id: int, now_ms: int) -> int:
        """Undo a commit before shipping (refund): committed units become available."""
        return self._hold_op(OpKind.CANCEL, op_id, hold_id, now_ms)

    def transfer(self, op_id: int, sku_id: str, warehouse_id: str, qty: int, now_ms: int,
                 *, out: bool) -> int:
        """Move available units out of (or into) this shard; returns the new on_hand."""
        kind = OpKind.TRANSFER_OUT if out else OpKind.TRANSFER_IN
        return self._cell_op(kind, op_id, self.cell(sku_id, warehouse_id), qty, 0, now_ms)

    def receive_stock(self, qty: np.ndarray) -> None:
        """Bulk delivery: add ``qty`` (one non-negative count per cell) to on_hand."""
        qty = np.asarray(qty, np.int64)
        if qty.shape != (self.n_cells,) or (qty < 0).any() or (qty > MAX_UNITS_PER_MOVE).any():
            raise InvalidRequest("a bulk delivery gives 0..10,000,000 units for every cell")
        self.on_hand += qty

    def set_accepting(self, sku_id: str, accepting: bool) -> None:
        """Stop (or resume) taking new holds for a SKU here; existing holds live on."""
        self.cell(sku_id, self.warehouse_ids[0])
        self.accepting[self._sku_row[sku_id]] = accepting

    def restock(self, op_id: int, sku_id: str, warehouse_id: str, qty: int, now_ms: int,
                *, is_return: bool = False) -> int:
        """Add units (a delivery in, or a customer return); returns the new on_hand."""
        kind = OpKind.RETURN if is_return else OpKind.RESTOCK
        return self._cell_op(kind, op_id, self.cell(sku_id, warehouse_id), qty, 0, now_ms)

    def sync(self, op_id: int, sku_id: str, warehouse_id: str, on_hand: int, version: int,
             now_ms: int) -> int:
        """Set the absolute on_hand counted by the warehouse system; returns the count set.

        A count below held + committed is recorded as drift (see :attr:`drift`), and
        on_hand is floored at held + committed: never negative available.
        """
        cell = self.cell(sku_id, warehouse_id)
        return self._cell_op(OpKind.SYNC, op_id, cell, on_hand, version, now_ms)

    def _hold_op(self, kind: OpKind, op_id: int, hold_id: int, now_ms: int) -> int:
        res = self.apply_one(kind, op_id, hold_id, 0, _NO_LINES, _NO_LINES, now_ms)
        return self._raise_for(res, kind, op_id, hold_id, 0, _NO_LINES, _NO_LINES)

    def _cell_op(self, kind: OpKind, op_id: int, cell: int, qty: int, arg: int,
                 now_ms: int) -> int:
        cells = np.array([cell], np.int64)
        qtys = np.array([qty], np.int64)
        res = self.apply_one(kind, op_id, -1, arg, cells, qtys, now_ms)
        return self._raise_for(res, kind, op_id, -1, arg, cells, qtys)

    def _raise_for(self, res: OpResult, kind: OpKind, op_id: int, hold_id: int, arg: int,
                   cells: np.ndarray, qtys: np.ndarray) -> int:
        """Return ``res.value`` if OK, else raise the matching :mod:`errors` exception."""
        if res.code == Code.OK:
            return res.value
        if res.code == Code.INVALID:
            reason = self._invalid_reason(kind, op_id, hold_id, arg, cells, qtys) or "invalid op"
            raise InvalidRequest(reason)
        if res.code == Code.MOVED:
            sku, _ = self.cell_ids(int(cells[res.detail]))
            raise SkuMoved(f"SKU {sku} takes no new holds on this shard", sku=sku)
        if res.code == Code.INSUFFICIENT:
            sku, wh = self.cell_ids(int(cells[res.detail]))
            raise InsufficientStock(
                f"only {res.value} of {int(qtys[res.detail])} units of {sku} at {wh}",
                sku=sku, warehouse=wh, requested=int(qtys[res.detail]), available=res.value,
                line=res.detail)
        if res.code == Code.UNKNOWN_HOLD:
            raise UnknownHold(f"unknown hold {hold_id}", hold_id=hold_id)
        if res.code == Code.EXPIRED:
            raise HoldExpired(f"hold {hold_id} has expired", hold_id=hold_id)
        if res.code == Code.ILLEGAL:
            state = HoldState(res.detail).name.lower()
            raise IllegalTransition(f"cannot {kind.name.lower()} hold {hold_id}: it is {state}",
                                    hold_id=hold_id, state=state)
        if res.code == Code.CONFLICT:
            raise IdempotencyConflict("operation id reused with a different payload")
        if res.code == Code.STALE_VERSION:
            raise StaleVersion(f"version {arg} is not newer than {res.value}",
                               version=arg, current_version=res.value)
        raise AssertionError(f"unhandled result {res}")  # pragma: no cover

    # ------------------------------------------------------ reference, one op
    def apply_one(self, kind: int, op_id: int, hold_id: int, arg: int, cells: np.ndarray,
                  qtys: np.ndarray, now_ms: int) -> OpResult:
        """Apply one op (the reference semantics). Never raises for bad input."""
        if self._invalid_reason(kind, op_id, hold_id, arg, cells, qtys) is not None:
            return OpResult(Code.INVALID)
        fp = int(self._fingerprint_one(kind, hold_id, arg, cells, qtys))
        first = self._seen.get(int(op_id))
        if first >= 0:
            if int(self.results["fp"][first]) != fp:
                return OpResult(Code.CONFLICT)
            r = self.results
            return OpResult(Code(int(r["code"][first])), int(r["value"][first]),
                            int(r["detail"][first]), replayed=True)
        if kind == OpKind.HOLD:
            res = self._do_hold(int(op_id), cells, qtys, int(arg), int(now_ms))
        elif kind in HOLD_OPS:
            res = self._do_transition(OpKind(kind), int(hold_id), int(now_ms))
        else:
            res = self._do_cell_op(OpKind(kind), int(cells[0]), int(qtys[0]), int(arg),
                                   int(now_ms))
        if res.code == Code.MOVED:  # nothing happened here: the caller retries elsewhere
            return res
        idx = self.results.append(1, code=res.code, value=res.value, detail=res.detail,
                                  fp=np.uint64(fp), at=now_ms)
        self._seen.set(int(op_id), idx)
        return res

    def _invalid_reason(self, kind: int, op_id: int, hold_id: int, arg: int, cells: np.ndarray,
                        qtys: np.ndarray) -> str | None:
        lim = self.limits
        n = len(cells)
        if op_id < 0:
            return "operation ids are non-negative integers"
        if len(qtys) != n:
            return "lines and quantities differ in length"
        in_range = bool(((cells >= 0) & (cells < self.n_cells)).all())
        if kind == OpKind.HOLD:
            if n == 0:
                return "an order needs at least one line"
            if n > lim.max_lines_per_order:
                return f"an order has at most {lim.max_lines_per_order} lines, got {n}"
            if not in_range:
                return "a line names a SKU or warehouse outside this shard"
            if len(np.unique(cells)) != n:
                return "duplicate lines for the same SKU and warehouse"
            if not ((qtys > 0) & (qtys <= lim.max_qty_per_line)).all():
                return f"quantities must be between 1 and {lim.max_qty_per_line}"
            if not 0 < arg <= lim.max_ttl_ms:
                return f"hold TTL must be between 1 ms and {lim.max_ttl_ms} ms"
            return None
        if kind in HOLD_OPS:
            if n:
                return "commit, release and ship take a hold id, not lines"
            return None if hold_id >= 0 else "hold id must be a non-negative integer"
        if kind in CELL_OPS:
            if n != 1 or not in_range:
                return "a stock movement names exactly one known SKU and warehouse"
            if kind == OpKind.SYNC:
                if not 0 <= qtys[0] <= MAX_ON_HAND:
                    return f"on_hand must be between 0 and {MAX_ON_HAND}"
                return None if arg > 0 else "sync version must be positive"
            if not 0 < qtys[0] <= MAX_UNITS_PER_MOVE:
                return f"quantity must be between 1 and {MAX_UNITS_PER_MOVE}"
            return None
        return f"unknown operation kind {kind}"

    @staticmethod
    def _fingerprint_one(kind: int, hold_id: int, arg: int, cells: np.ndarray,
                         qtys: np.ndarray) -> np.uint64:
        one = lambda x: np.array([x], np.int64)  # noqa: E731
        return fingerprint(np.array([kind], np.uint8), one(hold_id), one(arg),
                           [one(c) for c in cells], [one(q) for q in qtys])[0]

    def _do_hold(self, op_id: int, cells: np.ndarray, qtys: np.ndarray, ttl_ms: int,
                 now_ms: int) -> OpResult:
        moved = np.flatnonzero(~self.accepting[cells // self.n_warehouses])
        if moved.size:
            return OpResult(Code.MOVED, 0, int(moved[0]))
        avail = self.on_hand[cells] - self.held[cells] - self.committed[cells]
        short = np.flatnonzero(qtys > avail)
        if short.size:
            i = int(short[0])
            return OpResult(Code.INSUFFICIENT, int(avail[i]), i)
        self.held[cells] += qtys
        line0 = self.lines.append(len(cells), cell=cells, qty=qtys)
        hid = self.holds.append(1, state=HoldState.PENDING, op_id=op_id, created=now_ms,
                                expires=now_ms + ttl_ms, line_start=line0,
                                line_count=len(cells))
        return OpResult(Code.OK, hid)

    def _do_transition(self, kind: OpKind, hold_id: int, now_ms: int) -> OpResult:
        if hold_id >= self.holds.size:
            return OpResult(Code.UNKNOWN_HOLD, hold_id)
        state = int(self.holds["state"][hold_id])
        if state == HoldState.PENDING and now_ms >= self.holds["expires"][hold_id]:
            self._expire_holds(np.array([hold_id], np.int64))
            state = HoldState.EXPIRED
        if state == HoldState.EXPIRED:
            return OpResult(Code.EXPIRED, hold_id)
        cells, qtys = self._hold_lines(hold_id)
        if kind == OpKind.COMMIT and state == HoldState.PENDING:
            self.held[cells] -= qtys
            self.committed[cells] += qtys
            new_state = HoldState.COMMITTED
        elif kind == OpKind.RELEASE and state == HoldState.PENDING:
            self.held[cells] -= qtys
            new_state = HoldState.RELEASED
        elif kind == OpKind.CANCEL and state == HoldState.COMMITTED:
            self.committed[cells] -= qtys
            new_state = HoldState.RELEASED
        elif kind == OpKind.SHIP and state == HoldState.COMMITTED:
            self.committed[cells] -= qtys
            self.on_hand[cells] -= qtys
            new_state = HoldState.SHIPPED
        else:
            return OpResult(Code.ILLEGAL, hold_id, state)
        self.holds["state"][hold_id] = new_state
        return OpResult(Code.OK, hold_id)

    def _do_cell_op(self, kind: OpKind, cell: int, qty: int, arg: int, now_ms: int) -> OpResult:
        if kind in (OpKind.RESTOCK, OpKind.RETURN, OpKind.TRANSFER_IN):
            self.on_hand[cell] += qty
            return OpResult(Code.OK, int(self.on_hand[cell]))
        if kind == OpKind.TRANSFER_OUT:
            avail = int(self.on_hand[cell] - self.held[cell] - self.committed[cell])
            if qty > avail:
                return OpResult(Code.INSUFFICIENT, avail, 0)
            self.on_hand[cell] -= qty
            return OpResult(Code.OK, int(self.on_hand[cell]))
        if arg <= self.version[cell]:
            return OpResult(Code.STALE_VERSION, int(self.version[cell]))
        floor = int(self.held[cell] + self.committed[cell])
        missing = max(0, floor - qty)
        self.on_hand[cell] = max(qty, floor)
        self.version[cell] = arg
        if missing:
            self.drift.append(1, cell=cell, missing=missing, version=arg, at=now_ms)
        return OpResult(Code.OK, int(self.on_hand[cell]), missing)

    def _hold_lines(self, hold_id: int) -> tuple[np.ndarray, np.ndarray]:
        s = int(self.holds["line_start"][hold_id])
        e = s + int(self.holds["line_count"][hold_id])
        return self.lines["cell"][s:e], self.lines["qty"][s:e]

    # ----------------------------------------------------------------- expiry
    def expire(self, now_ms: int) -> np.ndarray:
        """Expire every pending hold whose expiry is ≤ ``now_ms``; returns their ids."""
        floor = self._pending_floor
        states = self.holds["state"][floor:]
        pending = states == HoldState.PENDING
        if not pending.any():
            self._pending_floor = self.holds.size
            return _NO_LINES
        self._pending_floor = floor + int(np.argmax(pending))
        due = np.flatnonzero(pending & (self.holds["expires"][floor:] <= now_ms)) + floor
        if due.size:
            self._expire_holds(due)
        return due

    def line_index(self, hold_ids: np.ndarray) -> np.ndarray:
        """Positions in :attr:`lines` of every line of the given holds, in order."""
        starts = self.holds["line_start"][hold_ids]
        counts = self.holds["line_count"][hold_ids]
        return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())

    def _expire_holds(self, hold_ids: np.ndarray) -> None:
        idx = self.line_index(hold_ids)
        np.subtract.at(self.held, self.lines["cell"][idx], self.lines["qty"][idx])
        self.holds["state"][hold_ids] = HoldState.EXPIRED

    def pending_holds(self) -> np.ndarray:
        """Ids of every pending hold."""
        floor = self._pending_floor
        return np.flatnonzero(self.holds["state"][floor:] == HoldState.PENDING) + floor

    # ------------------------------------------------------------ batch apply
    def apply(self, batch: OpBatch) -> BatchResult:
        """Apply a batch FCFS in row order; same results and state as :meth:`apply_one`
        row by row. Raises :class:`InvalidRequest` (changing nothing) only when the
        batch itself is malformed; a bad op gets ``Code.INVALID`` and changes nothing."""
        self._check_batch(batch)
        n = len(batch)
        out = BatchResult.empty(n)
        if n == 0:
            return out
        single = (batch.kind == OpKind.HOLD) & (batch.line_count == 1)
        edges = np.flatnonzero(single[1:] != single[:-1]) + 1
        bounds = [0, *edges.tolist(), n]
        for s, e in zip(bounds[:-1], bounds[1:]):
            if single[s] and e - s >= self.min_vector_run and self._apply_hold_run(batch, s, e, out):
                continue
            for i in range(s, e):
                cells, qtys = batch.lines(i)
                r = self.apply_one(int(batch.kind[i]), int(batch.op_id[i]),
                                   int(batch.hold_id[i]), int(batch.arg[i]), cells, qtys,
                                   batch.now_ms)
                out.code[i], out.value[i], out.detail[i], out.replayed[i] = (
                    r.code, r.value, r.detail, r.replayed)
        return out

    def _check_batch(self, b: OpBatch) -> None:
        n = len(b)
        if n > self.limits.max_ops_per_batch:
            raise InvalidRequest(f"a batch holds at most {self.limits.max_ops_per_batch} ops")
        cols = (b.op_id, b.hold_id, b.arg, b.line_start, b.line_count)
        if any(c.shape != (n,) for c in cols) or b.l_cell.shape != b.l_qty.shape:
            raise InvalidRequest("batch columns differ in length")
        if n and ((b.line_count < 0).any() or (b.line_start < 0).any()
                  or (b.line_start + b.line_count > len(b.l_cell)).any()):
            raise InvalidRequest("batch line ranges fall outside its line table")

    def _apply_hold_run(self, b: OpBatch, s: int, e: int, out: BatchResult) -> bool:
        """Vectorised FCFS for rows s..e, all single-line holds. Returns False (and
        changes nothing) when the run needs the reference path: a bad op or a replay."""
        n = e - s
        first_line = b.line_start[s:e]
        cell = b.l_cell[first_line]
        qty = b.l_qty[first_line]
        ttl = b.arg[s:e]
        ops = b.op_id[s:e]
        lim = self.limits
        if not ((cell >= 0) & (cell < self.n_cells) & (qty > 0) & (qty <= lim.max_qty_per_line)
                & (ttl > 0) & (ttl <= lim.max_ttl_ms) & (ops >= 0)).all():
            return False
        if not self.accepting.all() and not self.accepting[cell // self.n_warehouses].all():
            return False
        sorted_ops = np.sort(ops)
        if (sorted_ops[1:] == sorted_ops[:-1]).any():
            return False
        r0 = self.results.size
        if not self._seen.insert_if_all_new(ops, np.arange(r0, r0 + n, dtype=np.int64)):
            return False
        # From here on the run cannot fall back: every op gets its result row r0 + i.

        # Group by cell, keeping arrival order inside each group: sort (cell, arrival)
        # packed into one int64 key (cells < 2^40, arrivals < 2^17 by the batch limit).
        key = np.sort((cell << 17) | np.arange(n, dtype=np.int64))
        order = key & ((1 << 17) - 1)
        c, q = key >> 17, qty[order]
        new_seg = np.empty(n, bool)
        new_seg[0] = True
        np.not_equal(c[1:], c[:-1], out=new_seg[1:])
        starts = np.flatnonzero(new_seg)
        seg = np.cumsum(new_seg) - 1
        cells_u = c[starts]
        avail_u = self.on_hand[cells_u] - self.held[cells_u] - self.committed[cells_u]
        csum = np.cumsum(q)
        upto = csum - (csum[starts] - q[starts])[seg]  # inclusive running demand per cell
        ok = upto <= avail_u[seg]  # monotone within a cell: a prefix fits
        taken_u = np.add.reduceat(np.where(ok, q, 0), starts)
        left = (avail_u - taken_u)[seg]  # what the first refused line saw
        avail_seen = left
        late = ~ok & (q <= left)  # a smaller order behind a refused one may still fit
        if late.any():
            ok = _fit_late(ok, q, left, late, seg)
            late_q = np.where(ok & late, q, 0)
            run = np.cumsum(late_q)
            before = run - late_q - (run - late_q)[starts][seg]  # late units taken earlier
            avail_seen = left - before
            taken_u = np.add.reduceat(np.where(ok, q, 0), starts)
        self.held[cells_u] += taken_u

        ok_arrival = np.empty(n, bool)
        ok_arrival[order] = ok
        seen_arrival = np.empty(n, np.int64)
        seen_arrival[order] = avail_seen
        ok_idx = np.flatnonzero(ok_arrival)
        k = len(ok_idx)
        line0 = self.lines.append(k, cell=cell[ok_idx], qty=qty[ok_idx])
        hold0 = self.holds.append(k, state=HoldState.PENDING, op_id=ops[ok_idx],
                                  created=b.now_ms, expires=b.now_ms + ttl[ok_idx],
                                  line_start=np.arange(line0, line0 + k), line_count=1)
        code = np.where(ok_arrival, np.uint8(Code.OK), np.uint8(Code.INSUFFICIENT))
        value = np.where(ok_arrival, hold0 + np.cumsum(ok_arrival) - 1, seen_arrival)
        detail = np.where(ok_arrival, -1, 0)
        fp = fingerprint(b.kind[s:e], b.hold_id[s:e], ttl, [cell], [qty])
        self.results.append(n, code=code, value=value, detail=detail, fp=fp, at=b.now_ms)
        out.code[s:e], out.value[s:e], out.detail[s:e] = code, value, detail
        return True

    # ------------------------------------------------------------- retention
    def forget_ops_before(self, at_ms: int) -> int:
        """Drop idempotency records older than ``at_ms``; returns how many were dropped."""
        keys, idx = self._seen.items()
        keep = self.results["at"][idx] >= at_ms
        dropped = int((~keep).sum())
        if dropped:
            self._seen = OpIndex.from_items(keys[keep], idx[keep])
        return dropped

    # -------------------------------------------------------------- snapshot
    def snapshot(self) -> dict[str, Any]:
        """Everything needed to rebuild this ledger exactly (numpy arrays + lists)."""
        keys, vals = self._seen.items()
        return {
            "sku_ids": self.sku_ids, "warehouse_ids": self.warehouse_ids,
            "stock": {"on_hand": self.on_hand.copy(), "held": self.held.copy(),
                      "committed": self.committed.copy(), "version": self.version.copy()},
            "accepting": self.accepting.copy(),
            "holds": self.holds.to_dict(), "lines": self.lines.to_dict(),
            "results": self.results.to_dict(), "drift": self.drift.to_dict(),
            "seen_keys": keys, "seen_vals": vals, "pending_floor": self._pending_floor,
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any], limits: Limits = LIMITS,
                      min_vector_run: int = 16, capacity: int = 1 << 16) -> "Ledger":
        led = cls(snap["sku_ids"], snap["warehouse_ids"], limits, min_vector_run, capacity=16)
        for name, arr in snap["stock"].items():
            getattr(led, name)[:] = arr
        led.accepting[:] = snap["accepting"]
        led.holds = Columns.from_dict(snap["holds"], capacity)
        led.lines = Columns.from_dict(snap["lines"], capacity)
        led.results = Columns.from_dict(snap["results"], capacity)
        led.drift = Columns.from_dict(snap["drift"])
        led._seen = OpIndex.from_items(snap["seen_keys"], snap["seen_vals"], capacity)
        led._pending_floor = int(snap["pending_floor"])
        return led


def _fit_late(ok: np.ndarray, q: np.ndarray, left: np.ndarray, late: np.ndarray,
              seg: np.ndarray) -> np.ndarray:
    """FCFS for lines behind a refused one in the same cell: each takes what is left
    if it fits. Only candidates (q ≤ what the first refusal saw) are visited."""
    ok = ok.copy()
    idx = np.flatnonzero(late)
    remaining: dict[int, int] = {}
    for j, g, need, start in zip(idx.tolist(), seg[idx].tolist(), q[idx].tolist(),
                                 left[idx].tolist()):
        r = remaining.get(g, start)
        if need <= r:
            ok[j] = True
            r -= need
        remaining[g] = r
    return ok
