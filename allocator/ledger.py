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

Anti-scalping limits ride on a HOLD (see :class:`~allocator.ops.OpBatch`): a customer's
units per SKU in pending or committed holds are capped per line (``CUSTOMER_LIMIT``),
and an owner's units per SKU in pending holds are capped at a share of the SKU's
on-hand units (``SHARE_LIMIT``). The counts live in two dicts keyed by (id, SKU row),
always equal to what the holds table implies (rebuilt from it after a snapshot).

Retention (:meth:`Ledger.forget_before`) forgets old idempotency records and compacts
finished holds away, keeping hold ids stable: the holds table is a sparse prefix of
old live holds (ids in ``_sparse_ids``) followed by a dense run of consecutive ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

import numpy as np

from allocator.columns import Columns
from allocator.config import LIMITS, Limits
from allocator.opindex import OpIndex
from allocator.outcomes import error_for
from allocator.errors import InvalidRequest, UnknownHold, UnknownSku, UnknownWarehouse
from allocator.ops import (
    CELL_OPS, HOLD_OPS, BatchResult, Code, HoldState, OpBatch, OpKind, OpResult,
    fingerprint, fingerprint_one,
)

MAX_UNITS_PER_MOVE = 10_000_000
MAX_ON_HAND = 1_000_000_000
MAX_SHARE_BP = 10_000

_NO_LINES = np.zeros(0, np.int64)
_FINISHED = (HoldState.RELEASED, HoldState.EXPIRED, HoldState.SHIPPED)

HOLD_COLUMNS = {"state": np.int8, "op_id": np.int64, "created": np.int64,
                "expires": np.int64, "line_start": np.int64, "line_count": np.int64,
                # anti-scalping: the buyer (0: none) and the owner whose share the hold
                # counts against (0: none, also when the hold carried no share limit)
                "customer": np.int64, "owner": np.int64}
LINE_COLUMNS = {"cell": np.int64, "qty": np.int64}
RESULT_COLUMNS = {"code": np.uint8, "value": np.int64, "detail": np.int64,
                  "fp": np.uint64, "at": np.int64, "op": np.int64}

# (customer, owner, share_bp, caps per line) of a HOLD that carries a limit
HoldLimits = tuple[int, int, int, np.ndarray]


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
        self.holds = Columns(HOLD_COLUMNS, capacity)
        self.lines = Columns(LINE_COLUMNS, capacity)
        self.results = Columns(RESULT_COLUMNS, capacity)
        self.drift = Columns({"cell": np.int64, "missing": np.int64, "version": np.int64,
                              "at": np.int64})
        self._seen = OpIndex(capacity)  # op id -> result number (= _result_base + row)
        self._pending_floor = 0  # no hold row below this one is pending
        # Hold ids: rows [0, _n_sparse) have the ids in _sparse_ids (sorted); row
        # _n_sparse + k has id _id0 + k. Without compaction both are empty/zero.
        self._sparse_ids = _NO_LINES
        self._n_sparse = 0
        self._id0 = 0
        self._result_base = 0  # result number of results row 0
        self._results_dead = 0  # leading results rows already forgotten (not indexed)
        # Retention compacts a table once what it can drop is this share of its rows
        # (0: whenever it can drop anything); the same on replay, so replay is exact.
        self.compact_fraction = 0.125
        # Anti-scalping counts, keyed (customer or owner, SKU row) -> units.
        self._customer_units: dict[tuple[int, int], int] = {}
        self._owner_units: dict[tuple[int, int], int] = {}

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
        """The hold's state and lines; :class:`UnknownHold` if there is none (never
        taken, or finished and compacted away by retention)."""
        row = self._row(int(hold_id)) if hold_id >= 0 else -1
        if row < 0:
            raise UnknownHold(f"unknown hold {hold_id}", hold_id=hold_id)
        cells, qtys = self._hold_lines(row)
        lines = [(*self.cell_ids(c), int(q)) for c, q in zip(cells, qtys)]
        return HoldView(hold_id, HoldState(int(self.holds["state"][row])),
                        int(self.holds["created"][row]),
                        int(self.holds["expires"][row]), lines)

    def has_hold(self, hold_id: int) -> bool:
        """Whether the hold exists here (not compacted away)."""
        return hold_id >= 0 and self._row(int(hold_id)) >= 0

    # ------------------------------------------------------- hold ids <-> rows
    @property
    def next_hold_id(self) -> int:
        """The id the next hold will get (ids are never reused)."""
        return self._id0 + self.holds.size - self._n_sparse

    def _row(self, hold_id: int) -> int:
        """Row of a hold id (≥ 0) in :attr:`holds`, or -1."""
        if hold_id >= self._id0:
            row = self._n_sparse + hold_id - self._id0
            return row if row < self.holds.size else -1
        if not self._n_sparse:
            return -1
        row = int(np.searchsorted(self._sparse_ids, hold_id))
        return row if row < self._n_sparse and int(self._sparse_ids[row]) == hold_id else -1

    def hold_rows(self, hold_ids: np.ndarray) -> np.ndarray:
        """Rows of hold ids in :attr:`holds` (-1 where unknown), vectorised."""
        ids = np.asarray(hold_ids, np.int64)
        dense = self._n_sparse + ids - self._id0
        rows = np.where((ids >= self._id0) & (dense < self.holds.size), dense, -1)
        if self._n_sparse:
            old = (ids >= 0) & (ids < self._id0)
            pos = np.minimum(np.searchsorted(self._sparse_ids, ids), self._n_sparse - 1)
            hit = old & (self._sparse_ids[pos] == ids)
            rows = np.where(hit, pos, rows)
        return rows

    def hold_ids(self, rows: np.ndarray) -> np.ndarray:
        """Hold ids of rows of :attr:`holds`, vectorised."""
        rows = np.asarray(rows, np.int64)
        if not self._n_sparse:
            return rows + self._id0
        sparse = self._sparse_ids[np.minimum(rows, self._n_sparse - 1)]
        return np.where(rows < self._n_sparse, sparse, rows - self._n_sparse + self._id0)

    def sizes(self) -> dict[str, int]:
        """Rows kept per table, and op ids remembered (what retention bounds)."""
        return {"holds": self.holds.size, "lines": self.lines.size,
                "results": self.results.size, "ops": len(self._seen),
                "live_holds": int(np.isin(self.holds["state"],
                                          (HoldState.PENDING, HoldState.COMMITTED)).sum())}

    def bytes_per_cell(self) -> float:
        """Memory of the per-cell stock columns divided by the number of cells."""
        total = sum(a.nbytes for a in (self.on_hand, self.held, self.committed, self.version))
        return total / max(1, self.n_cells)

    # ------------------------------------------------------- friendly, raising
    def hold(self, op_id: int, lines: Iterable[tuple[str, str, int]], now_ms: int,
             ttl_ms: int, *, customer: int = 0, owner: int = 0, share_bp: int = 0,
             caps: Sequence[int] | None = None) -> int:
        """Hold every line or none; returns the hold id. Raises on any refusal.
        Optional limits: see :class:`~allocator.ops.OpBatch` (``caps``: one per line)."""
        lines = list(lines)
        cells = np.array([self.cell(s, w) for s, w, _ in lines], np.int64)
        qtys = np.array([q for _, _, q in lines], np.int64)
        cap_arr = None if caps is None else np.array(list(caps), np.int64)
        res = self.apply_one(OpKind.HOLD, op_id, -1, ttl_ms, cells, qtys, now_ms,
                             customer=customer, owner=owner, share_bp=share_bp, caps=cap_arr)
        return self._raise_for(res, OpKind.HOLD, op_id, -1, ttl_ms, cells, qtys,
                               _limits(customer, owner, share_bp, cap_arr, len(cells)))

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
                   cells: np.ndarray, qtys: np.ndarray, limits: HoldLimits | None = None
                   ) -> int:
        """Return ``res.value`` if OK, else raise the matching :mod:`errors` exception."""
        if res.code == Code.OK:
            return res.value
        if res.code == Code.INVALID:
            reason = self._invalid_reason(kind, op_id, hold_id, arg, cells, qtys,
                                          limits) or "invalid op"
            raise InvalidRequest(reason)
        lines = [(*self.cell_ids(int(c)), int(q)) for c, q in zip(cells, qtys)
                 if 0 <= int(c) < self.n_cells]
        exc = error_for(kind, res.code, res.value, res.detail, lines, hold_id, arg)
        if exc is not None:
            raise exc
        raise AssertionError(f"unhandled result {res}")  # pragma: no cover

    # ------------------------------------------------------ reference, one op
    def apply_one(self, kind: int, op_id: int, hold_id: int, arg: int, cells: np.ndarray,
                  qtys: np.ndarray, now_ms: int, *, customer: int = 0, owner: int = 0,
                  share_bp: int = 0, caps: np.ndarray | None = None) -> OpResult:
        """Apply one op (the reference semantics). Never raises for bad input.

        ``customer``, ``owner``, ``share_bp`` and ``caps`` (one per line) are a HOLD's
        optional limits (see :class:`~allocator.ops.OpBatch`); other kinds ignore them."""
        limits = (_limits(customer, owner, share_bp, caps, len(cells))
                  if kind == OpKind.HOLD else None)
        if self._invalid_reason(kind, op_id, hold_id, arg, cells, qtys, limits) is not None:
            return OpResult(Code.INVALID)
        fp = self._fingerprint_one(kind, hold_id, arg, cells, qtys, limits)
        first = self._seen.get(int(op_id))
        if first >= 0:
            r = self.results
            row = first - self._result_base
            if int(r["fp"][row]) != fp:
                return OpResult(Code.CONFLICT)
            return OpResult(Code(int(r["code"][row])), int(r["value"][row]),
                            int(r["detail"][row]), replayed=True)
        if kind == OpKind.HOLD:
            res = self._do_hold(int(op_id), cells, qtys, int(arg), int(now_ms), limits)
        elif kind in HOLD_OPS:
            res = self._do_transition(OpKind(kind), int(hold_id), int(now_ms))
        else:
            res = self._do_cell_op(OpKind(kind), int(cells[0]), int(qtys[0]), int(arg),
                                   int(now_ms))
        if res.code == Code.MOVED:  # nothing happened here: the caller retries elsewhere
            return res
        idx = self.results.append_one(code=res.code, value=res.value, detail=res.detail,
                                      fp=fp, at=now_ms, op=op_id)
        self._seen.set(int(op_id), self._result_base + idx)
        return res

    def _invalid_reason(self, kind: int, op_id: int, hold_id: int, arg: int, cells: np.ndarray,
                        qtys: np.ndarray, limits: HoldLimits | None = None) -> str | None:
        lim = self.limits
        n = len(cells)
        if op_id < 0:
            return "operation ids are non-negative integers"
        if len(qtys) != n:
            return "lines and quantities differ in length"
        cl, ql = cells.tolist(), qtys.tolist()  # plain ints: one op's checks are cheap
        n_cells = self.n_cells
        in_range = all(0 <= c < n_cells for c in cl)
        if kind == OpKind.HOLD:
            if n == 0:
                return "an order needs at least one line"
            if n > lim.max_lines_per_order:
                return f"an order has at most {lim.max_lines_per_order} lines, got {n}"
            if not in_range:
                return "a line names a SKU or warehouse outside this shard"
            if n > 1 and len(set(cl)) != n:
                return "duplicate lines for the same SKU and warehouse"
            top = lim.max_qty_per_line
            if not all(0 < q <= top for q in ql):
                return f"quantities must be between 1 and {lim.max_qty_per_line}"
            if not 0 < arg <= lim.max_ttl_ms:
                return f"hold TTL must be between 1 ms and {lim.max_ttl_ms} ms"
            if limits is not None:
                customer, owner, share_bp, caps = limits
                if customer < 0 or owner < 0:
                    return "customer and owner ids are non-negative integers"
                if not 0 <= share_bp <= MAX_SHARE_BP:
                    return f"share_bp must be between 0 and {MAX_SHARE_BP}"
                if len(caps) != n:
                    return "one purchase cap per line"
                if (caps < 0).any():
                    return "purchase caps are non-negative (0: no cap)"
            return None
        if kind in HOLD_OPS:
            if n:
                return "commit, release and ship take a hold id, not lines"
            return None if hold_id >= 0 else "hold id must be a non-negative integer"
        if kind in CELL_OPS:
            if n != 1 or not in_range:
                return "a stock movement names exactly one known SKU and warehouse"
            if kind == OpKind.SYNC:
                if not 0 <= ql[0] <= MAX_ON_HAND:
                    return f"on_hand must be between 0 and {MAX_ON_HAND}"
                return None if arg > 0 else "sync version must be positive"
            if not 0 < ql[0] <= MAX_UNITS_PER_MOVE:
                return f"quantity must be between 1 and {MAX_UNITS_PER_MOVE}"
            return None
        return f"unknown operation kind {kind}"

    @staticmethod
    def _fingerprint_one(kind: int, hold_id: int, arg: int, cells: np.ndarray,
                         qtys: np.ndarray, limits: HoldLimits | None = None) -> int:
        extra: list[int] = []
        if limits is not None:  # same positions as the vectorised path's extra columns
            customer, owner, share_bp, caps = limits
            extra = [customer, owner, share_bp, *caps.tolist()]
        return fingerprint_one(int(kind), int(hold_id), int(arg), cells.tolist(),
                               qtys.tolist(), extra)

    def _do_hold(self, op_id: int, cells: np.ndarray, qtys: np.ndarray, ttl_ms: int,
                 now_ms: int, limits: HoldLimits | None = None) -> OpResult:
        if len(cells) == 1 and limits is None:
            return self._do_hold_one(op_id, int(cells[0]), int(qtys[0]), ttl_ms, now_ms)
        moved = np.flatnonzero(~self.accepting[cells // self.n_warehouses])
        if moved.size:
            return OpResult(Code.MOVED, 0, int(moved[0]))
        customer = owner = 0
        if limits is not None:
            customer, owner, share_bp, caps = limits
            owner = owner if share_bp else 0  # an owner is only counted under a share cap
            refused = self._check_limits(cells, qtys, customer, owner, share_bp, caps)
            if refused is not None:
                return refused
        avail = self.on_hand[cells] - self.held[cells] - self.committed[cells]
        short = np.flatnonzero(qtys > avail)
        if short.size:
            i = int(short[0])
            return OpResult(Code.INSUFFICIENT, int(avail[i]), i)
        self.held[cells] += qtys
        line0 = self.lines.append(len(cells), cell=cells, qty=qtys)
        row = self.holds.append(1, state=HoldState.PENDING, op_id=op_id, created=now_ms,
                                expires=now_ms + ttl_ms, line_start=line0,
                                line_count=len(cells), customer=customer, owner=owner)
        if customer:
            self._count(self._customer_units, customer, cells, qtys, 1)
        if owner:
            self._count(self._owner_units, owner, cells, qtys, 1)
        return OpResult(Code.OK, row - self._n_sparse + self._id0)

    def _do_hold_one(self, op_id: int, cell: int, qty: int, ttl_ms: int, now_ms: int
                     ) -> OpResult:
        """:meth:`_do_hold` for the common one-line hold without limits, in scalars."""
        if not self.accepting[cell // self.n_warehouses]:
            return OpResult(Code.MOVED, 0, 0)
        avail = int(self.on_hand[cell] - self.held[cell] - self.committed[cell])
        if qty > avail:
            return OpResult(Code.INSUFFICIENT, avail, 0)
        self.held[cell] += qty
        line0 = self.lines.append_one(cell=cell, qty=qty)
        row = self.holds.append_one(state=HoldState.PENDING, op_id=op_id, created=now_ms,
                                    expires=now_ms + ttl_ms, line_start=line0, line_count=1,
                                    customer=0, owner=0)
        return OpResult(Code.OK, row - self._n_sparse + self._id0)

    def _check_limits(self, cells: np.ndarray, qtys: np.ndarray, customer: int, owner: int,
                      share_bp: int, caps: np.ndarray) -> OpResult | None:
        """CUSTOMER_LIMIT, then SHARE_LIMIT, for the first line (in order) that would
        exceed it. Units are counted per SKU row (summed over warehouses): a line's
        SKU row total of this op is what it adds."""
        rows = (cells // self.n_warehouses).tolist()
        adds: dict[int, int] = {}
        for r, q in zip(rows, qtys.tolist()):
            adds[r] = adds.get(r, 0) + q
        if customer:
            for i, (r, cap) in enumerate(zip(rows, caps.tolist())):
                if cap > 0:
                    have = self._customer_units.get((customer, r), 0)
                    if have + adds[r] > cap:
                        return OpResult(Code.CUSTOMER_LIMIT, max(0, cap - have), i)
        if owner:
            nwh = self.n_warehouses
            for i, r in enumerate(rows):
                allowed = share_bp * int(self.on_hand[r * nwh:(r + 1) * nwh].sum()) // MAX_SHARE_BP
                have = self._owner_units.get((owner, r), 0)
                if have + adds[r] > allowed:
                    return OpResult(Code.SHARE_LIMIT, max(0, allowed - have), i)
        return None

    def _count(self, table: dict[tuple[int, int], int], who: int, cells: np.ndarray,
               qtys: np.ndarray, sign: int) -> None:
        """Add (sign 1) or remove (sign -1) a hold's units from a limit count table."""
        nwh = self.n_warehouses
        for c, q in zip(cells.tolist(), qtys.tolist()):
            key = (who, c // nwh)
            left = table.get(key, 0) + sign * q
            if left:
                table[key] = left
            else:
                table.pop(key, None)

    def _do_transition(self, kind: OpKind, hold_id: int, now_ms: int) -> OpResult:
        row = self._row(hold_id)
        if row < 0:
            return OpResult(Code.UNKNOWN_HOLD, hold_id)
        holds = self.holds
        state = int(holds["state"][row])
        if state == HoldState.PENDING and now_ms >= holds["expires"][row]:
            self._expire_rows(np.array([row], np.int64))
            state = HoldState.EXPIRED
        if state == HoldState.EXPIRED:
            return OpResult(Code.EXPIRED, hold_id)
        cells, qtys = self._hold_lines(row)
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
        holds["state"][row] = new_state
        if not (self._customer_units or self._owner_units):
            return OpResult(Code.OK, hold_id)  # no live hold carries a limit
        # limit counts: the owner's share counts pending units, the customer's cap
        # pending and committed ones
        owner = int(holds["owner"][row])
        if owner and state == HoldState.PENDING:
            self._count(self._owner_units, owner, cells, qtys, -1)
        customer = int(holds["customer"][row])
        if customer and new_state != HoldState.COMMITTED:
            self._count(self._customer_units, customer, cells, qtys, -1)
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

    def _hold_lines(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        s = int(self.holds["line_start"][row])
        e = s + int(self.holds["line_count"][row])
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
            self._expire_rows(due)
        return self.hold_ids(due)

    def has_due(self, now_ms: int) -> bool:
        """Whether :meth:`expire` at ``now_ms`` would expire anything (changes nothing)."""
        floor = self._pending_floor
        return bool(((self.holds["state"][floor:] == HoldState.PENDING)
                     & (self.holds["expires"][floor:] <= now_ms)).any())

    def line_index(self, hold_ids: np.ndarray) -> np.ndarray:
        """Positions in :attr:`lines` of every line of the given holds, in order.
        Raises :class:`UnknownHold` for an id that is not here."""
        rows = self.hold_rows(hold_ids)
        if (rows < 0).any():
            bad = int(np.asarray(hold_ids)[np.argmax(rows < 0)])
            raise UnknownHold(f"unknown hold {bad}", hold_id=bad)
        return self.line_index_rows(rows)

    def line_index_rows(self, rows: np.ndarray) -> np.ndarray:
        """Positions in :attr:`lines` of every line of the given rows of :attr:`holds`."""
        starts = self.holds["line_start"][rows]
        counts = self.holds["line_count"][rows]
        return np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())

    def _expire_rows(self, rows: np.ndarray) -> None:
        idx = self.line_index_rows(rows)
        np.subtract.at(self.held, self.lines["cell"][idx], self.lines["qty"][idx])
        self.holds["state"][rows] = HoldState.EXPIRED
        customers = self.holds["customer"][rows]
        owners = self.holds["owner"][rows]
        for j in np.flatnonzero((customers != 0) | (owners != 0)).tolist():
            cells, qtys = self._hold_lines(int(rows[j]))
            if customers[j]:
                self._count(self._customer_units, int(customers[j]), cells, qtys, -1)
            if owners[j]:
                self._count(self._owner_units, int(owners[j]), cells, qtys, -1)

    def pending_holds(self) -> np.ndarray:
        """Ids of every pending hold."""
        floor = self._pending_floor
        return self.hold_ids(
            np.flatnonzero(self.holds["state"][floor:] == HoldState.PENDING) + floor)

    def pending_expiries(self) -> np.ndarray:
        """Expiry times of every pending hold (in :meth:`pending_holds` order)."""
        floor = self._pending_floor
        states = self.holds["state"][floor:]
        return self.holds["expires"][floor:][states == HoldState.PENDING].copy()

    # ------------------------------------------------------------ limit counts
    def limit_counts(self) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
        """Copies of the tracked counts: (customer, SKU row) -> units pending or
        committed, and (owner, SKU row) -> units pending under a share cap."""
        return dict(self._customer_units), dict(self._owner_units)

    def derived_limit_counts(self) -> tuple[dict[tuple[int, int], int],
                                            dict[tuple[int, int], int]]:
        """The same counts, computed from scratch from the holds table."""
        state = self.holds["state"]
        live = (state == HoldState.PENDING) | (state == HoldState.COMMITTED)
        customers = self.holds["customer"]
        owners = self.holds["owner"]
        return (self._units_by(np.flatnonzero(live & (customers != 0)), customers),
                self._units_by(np.flatnonzero((state == HoldState.PENDING) & (owners != 0)),
                               owners))

    def _units_by(self, rows: np.ndarray, who: np.ndarray) -> dict[tuple[int, int], int]:
        if not rows.size:
            return {}
        idx = self.line_index_rows(rows)
        keys = np.stack([np.repeat(who[rows], self.holds["line_count"][rows]),
                         self.lines["cell"][idx] // self.n_warehouses], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        units = np.zeros(len(uniq), np.int64)
        np.add.at(units, inv.reshape(-1), self.lines["qty"][idx])
        return {(int(w), int(r)): int(u) for (w, r), u in zip(uniq.tolist(), units.tolist())
                if u}

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
        limited = bool(batch.customer.any() or batch.owner.any()  # type: ignore[union-attr]
                       or batch.share_bp.any() or batch.l_cap.any())  # type: ignore[union-attr]
        cols: tuple[list[int], ...] | None = None
        for s, e in zip(bounds[:-1], bounds[1:]):
            if single[s] and e - s >= self.min_vector_run and self._apply_hold_run(batch, s, e, out):
                continue
            if cols is None:  # plain ints: reading numpy scalars one by one costs more
                cols = (batch.kind.tolist(), batch.op_id.tolist(), batch.hold_id.tolist(),
                        batch.arg.tolist(), batch.line_start.tolist(),
                        batch.line_count.tolist())
            kinds, ops, hids, args, starts, counts = cols
            got = []
            for i in range(s, e):
                ls, lc = starts[i], counts[i]
                cells, qtys = batch.l_cell[ls:ls + lc], batch.l_qty[ls:ls + lc]
                if limited:
                    got.append(self.apply_one(
                        kinds[i], ops[i], hids[i], args[i], cells, qtys, batch.now_ms,
                        customer=int(batch.customer[i]),  # type: ignore[index]
                        owner=int(batch.owner[i]),  # type: ignore[index]
                        share_bp=int(batch.share_bp[i]),  # type: ignore[index]
                        caps=batch.l_cap[ls:ls + lc]))  # type: ignore[index]
                else:
                    got.append(self.apply_one(kinds[i], ops[i], hids[i], args[i], cells, qtys,
                                              batch.now_ms))
            out.code[s:e] = [r.code for r in got]
            out.value[s:e] = [r.value for r in got]
            out.detail[s:e] = [r.detail for r in got]
            out.replayed[s:e] = [r.replayed for r in got]
        return out

    def _check_batch(self, b: OpBatch) -> None:
        n = len(b)
        if n > self.limits.max_ops_per_batch:
            raise InvalidRequest(f"a batch holds at most {self.limits.max_ops_per_batch} ops")
        cols = (b.op_id, b.hold_id, b.arg, b.line_start, b.line_count, b.customer, b.owner,
                b.share_bp)
        if (any(c.shape != (n,) for c in cols)  # type: ignore[union-attr]
                or b.l_cell.shape != b.l_qty.shape
                or b.l_cap.shape != b.l_cell.shape):  # type: ignore[union-attr]
            raise InvalidRequest("batch columns differ in length")
        if n and ((b.line_count < 0).any() or (b.line_start < 0).any()
                  or (b.line_start + b.line_count > len(b.l_cell)).any()):
            raise InvalidRequest("batch line ranges fall outside its line table")

    def _apply_hold_run(self, b: OpBatch, s: int, e: int, out: BatchResult) -> bool:
        """Vectorised FCFS for rows s..e, all single-line holds. Returns False (and
        changes nothing) when the run needs the reference path: a bad op, a replay, or
        an op with a customer cap or an owner share to check."""
        n = e - s
        if b.customer[s:e].any() or b.share_bp[s:e].any():  # type: ignore[index]
            return False
        first_line = b.line_start[s:e]
        cell = b.l_cell[first_line]
        qty = b.l_qty[first_line]
        ttl = b.arg[s:e]
        ops = b.op_id[s:e]
        lim = self.limits
        if not ((cell >= 0) & (cell < self.n_cells) & (qty > 0) & (qty <= lim.max_qty_per_line)
                & (ttl > 0) & (ttl <= lim.max_ttl_ms) & (ops >= 0)).all():
            return False
        # An owner (without a share) or a cap (without a customer) limits nothing but is
        # part of the op's payload, hence of its fingerprint.
        owner = b.owner[s:e]  # type: ignore[index]
        cap = b.l_cap[first_line]  # type: ignore[index]
        extra: tuple[np.ndarray, ...] = ()
        if owner.any() or cap.any():
            if (owner < 0).any() or (cap < 0).any():
                return False
            zeros = np.zeros(n, np.int64)
            extra = (zeros, owner, zeros, cap)
        if not self.accepting.all() and not self.accepting[cell // self.n_warehouses].all():
            return False
        sorted_ops = np.sort(ops)
        if (sorted_ops[1:] == sorted_ops[:-1]).any():
            return False
        r0 = self._result_base + self.results.size
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
                                  line_start=np.arange(line0, line0 + k), line_count=1,
                                  customer=0, owner=0)
        hold0 += self._id0 - self._n_sparse  # row -> hold id
        code = np.where(ok_arrival, np.uint8(Code.OK), np.uint8(Code.INSUFFICIENT))
        value = np.where(ok_arrival, hold0 + np.cumsum(ok_arrival) - 1, seen_arrival)
        detail = np.where(ok_arrival, -1, 0)
        fp = fingerprint(b.kind[s:e], b.hold_id[s:e], ttl, [cell], [qty], extra)
        self.results.append(n, code=code, value=value, detail=detail, fp=fp, at=b.now_ms,
                            op=ops)
        out.code[s:e], out.value[s:e], out.detail[s:e] = code, value, detail
        return True

    # ------------------------------------------------------------- retention
    def forget_before(self, at_ms: int) -> dict[str, int]:
        """Retention: forget the idempotency records of ops applied before ``at_ms``
        (a later op with the same id is new), and compact away finished holds
        (released, expired, shipped) created before ``at_ms`` with their lines (an op
        on one answers UNKNOWN_HOLD). Hold ids stay stable; live holds are untouched.

        Records are forgotten in the order they were made, up to the first one at or
        after ``at_ms`` (with a monotone clock: exactly those before it). Tables are
        compacted once what they can drop is :attr:`compact_fraction` of their rows,
        so a sweep every minute does not copy a day of rows every minute. Deterministic:
        the same call on the same state gives the same state (journal replay).

        Returns how many op records were forgotten and rows dropped per table."""
        at_ms = int(at_ms)
        out = {"ops": 0, "results": 0, "holds": 0, "lines": 0}
        r = self.results
        dead = self._results_dead
        young = r["at"][dead:] >= at_ms
        k = dead + (int(np.argmax(young)) if young.any() else len(young))
        if k > dead:
            base = self._result_base
            out["ops"] = self._seen.remove(
                r["op"][dead:k], np.arange(base + dead, base + k, dtype=np.int64))
            self._results_dead = k
        if self._results_dead and self._results_dead >= self.compact_fraction * r.size:
            out["results"] = self._results_dead
            r.drop_prefix(self._results_dead)
            self._result_base += self._results_dead
            self._results_dead = 0

        done = np.isin(self.holds["state"], _FINISHED) & (self.holds["created"] < at_ms)
        n_done = int(np.count_nonzero(done))
        if n_done and n_done >= self.compact_fraction * self.holds.size:
            out["holds"] = n_done
            out["lines"] = self._compact_holds(~done)
        return out

    def _compact_holds(self, keep: np.ndarray) -> int:
        """Keep only the rows of :attr:`holds` where ``keep`` (and their lines); ids are
        unchanged. Returns how many lines were dropped."""
        holds, lines = self.holds, self.lines
        next_id = self.next_hold_id
        kept = np.flatnonzero(keep)
        ids = self.hold_ids(kept)
        line_keep = np.zeros(lines.size, bool)
        line_keep[self.line_index_rows(kept)] = True
        new_pos = np.cumsum(line_keep) - 1
        starts = new_pos[holds["line_start"][kept]]
        dropped = lines.size - int(np.count_nonzero(line_keep))
        lines.keep(line_keep)
        floor = int(np.count_nonzero(keep[: self._pending_floor]))
        holds.keep(keep)
        holds["line_start"][:] = starts
        self._pending_floor = floor
        self._set_id_layout(ids, next_id)
        return dropped

    def _set_id_layout(self, ids: np.ndarray, next_id: int) -> None:
        """Split the rows' ids (ascending) into a sparse prefix and a dense run that
        ends at ``next_id - 1`` (empty if the last id is not ``next_id - 1``)."""
        gaps = np.flatnonzero(np.diff(np.append(ids, next_id)) != 1)
        n_sparse = int(gaps[-1]) + 1 if gaps.size else 0
        self._sparse_ids = np.array(ids[:n_sparse], np.int64)
        self._n_sparse = n_sparse
        self._id0 = int(next_id) - (len(ids) - n_sparse)

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
            "hold_sparse_ids": self._sparse_ids.copy(), "hold_id0": self._id0,
            "result_base": self._result_base, "results_dead": self._results_dead,
        }

    @classmethod
    def from_snapshot(cls, snap: dict[str, Any], limits: Limits = LIMITS,
                      min_vector_run: int = 16, capacity: int = 1 << 16) -> "Ledger":
        """Rebuild a ledger from :meth:`snapshot` (older snapshots, without limit
        columns or retention fields, load with zeros: no limits, nothing compacted)."""
        led = cls(snap["sku_ids"], snap["warehouse_ids"], limits, min_vector_run, capacity=16)
        for name, arr in snap["stock"].items():
            getattr(led, name)[:] = arr
        led.accepting[:] = snap["accepting"]
        led.holds = Columns.from_dict(snap["holds"], capacity, HOLD_COLUMNS)
        led.lines = Columns.from_dict(snap["lines"], capacity, LINE_COLUMNS)
        results = dict(snap["results"])
        base = int(snap.get("result_base", 0))
        keys = np.asarray(snap["seen_keys"], np.int64)
        vals = np.asarray(snap["seen_vals"], np.int64)
        if "op" not in results:  # older snapshot: the op of each indexed row, else -1
            op = np.full(len(results["code"]), -1, np.int64)
            op[vals - base] = keys
            results["op"] = op
        led.results = Columns.from_dict(results, capacity, RESULT_COLUMNS)
        led.drift = Columns.from_dict(snap["drift"])
        led._seen = OpIndex.from_items(keys, vals, capacity)
        led._pending_floor = int(snap["pending_floor"])
        sparse = np.asarray(snap.get("hold_sparse_ids", _NO_LINES), np.int64)
        led._sparse_ids, led._n_sparse = sparse, len(sparse)
        led._id0 = int(snap.get("hold_id0", 0))
        led._result_base = base
        led._results_dead = int(snap.get("results_dead", 0))
        led._customer_units, led._owner_units = led.derived_limit_counts()
        return led


def _limits(customer: int, owner: int, share_bp: int, caps: np.ndarray | None,
            n_lines: int) -> HoldLimits | None:
    """A HOLD's limits as one tuple, or None when it carries none (the common case)."""
    if caps is not None:
        caps = np.asarray(caps, np.int64)
        if not caps.any() and len(caps) == n_lines:
            caps = None
    if not (customer or owner or share_bp) and caps is None:
        return None
    if caps is None:
        caps = np.zeros(n_lines, np.int64)
    return int(customer), int(owner), int(share_bp), caps


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
