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

from typing import Any, Iterable, Sequence

import numpy as np

from allocator.columns import Columns
from allocator.config import LIMITS, Limits
from allocator.errors import InvalidRequest, UnknownHold, UnknownSku, UnknownWarehouse
from allocator.ledger_batch import BatchApply
from allocator.ledger_channels import ChannelRules
from allocator.ledger_limits import LimitCounts
from allocator.ledger_lines import LineOps
from allocator.ledger_ops import SingleOps
from allocator.ledger_retention import Retention
from allocator.ledger_state import (
    HOLD_COLUMNS, LINE_COLUMNS, MAX_UNITS_PER_MOVE, NO_LINES, RESULT_COLUMNS, HoldLimits,
    hold_limits,
)
from allocator.opindex import OpIndex
from allocator.outcomes import error_for
from allocator.ops import Code, HoldState, OpKind, OpResult


class Ledger(SingleOps, LineOps, LimitCounts, ChannelRules, BatchApply, Retention):
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
        self._sparse_ids = NO_LINES
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
        self._init_channels(len(self.sku_ids))  # channel rules per SKU and their counts

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
             caps: Sequence[int] | None = None, channel: int = 0) -> int:
        """Hold every line or none; returns the hold id. Raises on any refusal.
        Optional limits and channel: see :class:`~allocator.ops.OpBatch` (``caps``: one
        per line)."""
        lines = list(lines)
        cells = np.array([self.cell(s, w) for s, w, _ in lines], np.int64)
        qtys = np.array([q for _, _, q in lines], np.int64)
        cap_arr = None if caps is None else np.array(list(caps), np.int64)
        res = self.apply_one(OpKind.HOLD, op_id, -1, cells, qtys, now_ms, ttl_ms=ttl_ms,
                             customer=customer, owner=owner, share_bp=share_bp, caps=cap_arr,
                             channel=channel)
        return self._raise_for(res, OpKind.HOLD, op_id, -1, cells, qtys,
                               hold_limits(customer, owner, share_bp, cap_arr, len(cells),
                                           channel), ttl_ms=ttl_ms)

    def commit(self, op_id: int, hold_id: int, now_ms: int, version: int = 0) -> int:
        return self._hold_op(OpKind.COMMIT, op_id, hold_id, now_ms, version)

    def release(self, op_id: int, hold_id: int, now_ms: int, version: int = 0) -> int:
        return self._hold_op(OpKind.RELEASE, op_id, hold_id, now_ms, version)

    def ship(self, op_id: int, hold_id: int, now_ms: int) -> int:
        return self._hold_op(OpKind.SHIP, op_id, hold_id, now_ms)

    def cancel(self, op_id: int, hold_id: int, now_ms: int) -> int:
        """Undo a commit before shipping (refund): committed units become available."""
        return self._hold_op(OpKind.CANCEL, op_id, hold_id, now_ms)

    def transfer(self, op_id: int, sku_id: str, warehouse_id: str, qty: int, now_ms: int,
                 *, out: bool) -> int:
        """Move available units out of (or into) this shard; returns the new on_hand."""
        kind = OpKind.TRANSFER_OUT if out else OpKind.TRANSFER_IN
        return self._cell_op(kind, op_id, self.cell(sku_id, warehouse_id), qty, now_ms)

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
        return self._cell_op(kind, op_id, self.cell(sku_id, warehouse_id), qty, now_ms)

    def sync(self, op_id: int, sku_id: str, warehouse_id: str, on_hand: int, version: int,
             now_ms: int) -> int:
        """Set the absolute on_hand counted by the warehouse system; returns the count set.

        A count below held + committed is recorded as drift (see :attr:`drift`), and
        on_hand is floored at held + committed: never negative available.
        """
        cell = self.cell(sku_id, warehouse_id)
        return self._cell_op(OpKind.SYNC, op_id, cell, on_hand, now_ms, version)

    def _hold_op(self, kind: OpKind, op_id: int, hold_id: int, now_ms: int,
                 version: int = 0) -> int:
        res = self.apply_one(kind, op_id, hold_id, NO_LINES, NO_LINES, now_ms,
                             version=version)
        return self._raise_for(res, kind, op_id, hold_id, NO_LINES, NO_LINES,
                               version=version)

    def _cell_op(self, kind: OpKind, op_id: int, cell: int, qty: int, now_ms: int,
                 version: int = 0) -> int:
        cells = np.array([cell], np.int64)
        qtys = np.array([qty], np.int64)
        res = self.apply_one(kind, op_id, -1, cells, qtys, now_ms, version=version)
        return self._raise_for(res, kind, op_id, -1, cells, qtys, version=version)

    def _raise_for(self, res: OpResult, kind: OpKind, op_id: int, hold_id: int,
                   cells: np.ndarray, qtys: np.ndarray, limits: HoldLimits | None = None, *,
                   ttl_ms: int = 0, version: int = 0, state: int = 0) -> int:
        """Return ``res.value`` if OK, else raise the matching :mod:`errors` exception."""
        if res.code == Code.OK:
            return res.value
        if res.code == Code.INVALID:
            reason = self._invalid_reason(kind, op_id, hold_id, cells, qtys, limits,
                                          ttl_ms=ttl_ms, version=version,
                                          state=state) or "invalid op"
            raise InvalidRequest(reason)
        lines = [(*self.cell_ids(int(c)), int(q)) for c, q in zip(cells, qtys)
                 if 0 <= int(c) < self.n_cells]
        exc = error_for(kind, res.code, res.value, res.detail, lines, hold_id, version)
        if exc is not None:
            raise exc
        raise AssertionError(f"unhandled result {res}")  # pragma: no cover

    # ------------------------------------------------------ reference, one op
    def expire(self, now_ms: int) -> np.ndarray:
        """Expire every pending hold whose expiry is ≤ ``now_ms``; returns their ids."""
        floor = self._pending_floor
        states = self.holds["state"][floor:]
        pending = states == HoldState.PENDING
        if not pending.any():
            self._pending_floor = self.holds.size
            return NO_LINES
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
        self._uncount_channel_rows(rows)
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
            "channel_rules": self.channel_rule_rows(),
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
        sparse = np.asarray(snap.get("hold_sparse_ids", NO_LINES), np.int64)
        led._sparse_ids, led._n_sparse = sparse, len(sparse)
        led._id0 = int(snap.get("hold_id0", 0))
        led._result_base = base
        led._results_dead = int(snap.get("results_dead", 0))
        led._customer_units, led._owner_units = led.derived_limit_counts()
        led.load_channel_rules(snap.get("channel_rules", []))  # counts from the holds
        return led
