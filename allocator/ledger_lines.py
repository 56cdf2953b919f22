"""A hold's life after it is taken, line by line: amend (a pending hold gets a new
reservation version and gives back some units), drop lines (release units of a pending
hold, cancel units of a committed one) and reallocate (a committed line moves to
another warehouse of the same SKU). Each is one op, atomic on its shard.

Every op here names the lines it touches by cell; ``qty`` is how many units. A line
keeps its place in the hold (lines are contiguous per hold): its ``qty`` is what is
live, ``released``/``cancelled`` what partial ops took off it.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from allocator.errors import UnknownHold
from allocator.ledger_state import HoldView
from allocator.ops import Code, HoldState, OpKind, OpResult

LINE_MISMATCH = 0  # ILLEGAL detail: the hold has no such line, or fewer units on it


def version_number(version: int) -> int:
    """The sequence number of a reservation version (``version = n << 32 | nonce``)."""
    return int(version) >> 32


class LineOps:
    """Mixin of :class:`~allocator.ledger.Ledger`: AMEND, DROP_LINES, REALLOCATE."""

    def hold_view(self, hold_id: int) -> HoldView:
        """The hold's state and lines; :class:`UnknownHold` if there is none (never
        taken, or finished and compacted away by retention)."""
        row = self._row(int(hold_id)) if hold_id >= 0 else -1
        if row < 0:
            raise UnknownHold(f"unknown hold {hold_id}", hold_id=hold_id)
        cells, qtys = self._hold_lines(row)
        lines = [(*self.cell_ids(c), int(q)) for c, q in zip(cells, qtys)]
        s = int(self.holds["line_start"][row])
        e = s + len(lines)
        dropped = list(zip(self.lines["released"][s:e].tolist(),
                           self.lines["cancelled"][s:e].tolist()))
        return HoldView(hold_id, HoldState(int(self.holds["state"][row])),
                        int(self.holds["created"][row]),
                        int(self.holds["expires"][row]), lines, dropped,
                        int(self.holds["version"][row]))

    def line_op(self, kind: OpKind, op_id: int, hold_id: int,
                lines: Iterable[tuple[str, str, int]], now_ms: int, *, version: int = 0,
                state: int = 0) -> int:
        """AMEND (``version``: the new one), DROP_LINES (``state``: the one the hold must
        be in, 0: either) or REALLOCATE (lines: the line, then where it moves) by name;
        see :mod:`allocator.ledger_lines`. Raises on any refusal."""
        lines = list(lines)
        cells = np.array([self.cell(s, w) for s, w, _ in lines], np.int64)
        qtys = np.array([q for _, _, q in lines], np.int64)
        res = self.apply_one(kind, op_id, hold_id, cells, qtys, now_ms, version=version,
                             state=state)
        return self._raise_for(res, kind, op_id, hold_id, cells, qtys, version=version,
                               state=state)

    def _invalid_line_op(self, kind: int, hold_id: int, cl: list[int], ql: list[int], *,
                         version: int = 0, state: int = 0) -> str | None:
        if hold_id < 0:
            return "hold id must be a non-negative integer"
        n_cells = self.n_cells
        if not all(0 <= c < n_cells for c in cl):
            return "a line names a SKU or warehouse outside this shard"
        if len(set(cl)) != len(cl):
            return "duplicate lines for the same SKU and warehouse"
        if not all(0 < q <= self.limits.max_qty_per_line for q in ql):
            return f"quantities must be between 1 and {self.limits.max_qty_per_line}"
        if len(cl) > self.limits.max_lines_per_order:
            return f"at most {self.limits.max_lines_per_order} lines"
        if kind == OpKind.AMEND:
            return None if version_number(version) > 0 else "an amendment names its new version"
        if kind == OpKind.DROP_LINES:
            if not cl:
                return "name at least one line"
            ok = (0, HoldState.PENDING, HoldState.COMMITTED)
            return None if state in ok else "drop lines of a pending or committed hold"
        # REALLOCATE: two lines, (from, qty) and (to, qty): the same SKU, units move
        if len(cl) != 2 or ql[0] != ql[1]:
            return "a reallocation names the line and where it goes, with the same units"
        if cl[1] // self.n_warehouses != cl[0] // self.n_warehouses:
            return "a line moves to another warehouse of the same SKU"
        return None

    def _do_line_op(self, kind: OpKind, hold_id: int, cells: np.ndarray, qtys: np.ndarray,
                    now_ms: int, *, version: int = 0, state: int = 0) -> OpResult:
        """``version``: an AMEND's new one; ``state``: the one a DROP_LINES requires."""
        want = {OpKind.AMEND: HoldState.PENDING, OpKind.REALLOCATE: HoldState.COMMITTED}.get(
            kind, state)
        found = self._live_row(hold_id, now_ms)
        if isinstance(found, OpResult):
            return found
        row, hold_state = found
        holds = self.holds
        if (hold_state not in (HoldState.PENDING, HoldState.COMMITTED)
                or (want and hold_state != want)):
            return OpResult(Code.ILLEGAL, hold_id, hold_state)
        if kind == OpKind.AMEND:
            current = int(holds["version"][row])
            if version_number(version) != version_number(current) + 1:
                return OpResult(Code.VERSION, current)
        moving = kind == OpKind.REALLOCATE  # its second line says where to
        idx = self._line_positions(row, cells[:1] if moving else cells,
                                   qtys[:1] if moving else qtys)
        if idx is None:
            return OpResult(Code.ILLEGAL, hold_id, LINE_MISMATCH)
        if moving:
            return self._reallocate(row, hold_id, int(idx[0]), int(cells[0]), int(qtys[0]),
                                    int(cells[1]))
        lines = self.lines
        lines["qty"][idx] -= qtys
        if hold_state == HoldState.PENDING:
            self.held[cells] -= qtys
            lines["released"][idx] += qtys
        else:
            self.committed[cells] -= qtys
            lines["cancelled"][idx] += qtys
        if kind == OpKind.AMEND:
            holds["version"][row] = version
        self._uncount(row, hold_state, cells, qtys)
        return OpResult(Code.OK, hold_id)

    def _line_positions(self, row: int, cells: np.ndarray, qtys: np.ndarray
                        ) -> np.ndarray | None:
        """Positions in :attr:`lines` of the hold's lines at ``cells``, or None if one is
        missing or has fewer live units than asked."""
        s = int(self.holds["line_start"][row])
        own = self.lines["cell"][s:s + int(self.holds["line_count"][row])].tolist()
        pos = {c: s + i for i, c in enumerate(own)}
        idx = [pos.get(c, -1) for c in cells.tolist()]
        if -1 in idx:
            return None
        out = np.array(idx, np.int64)
        return out if (self.lines["qty"][out] >= qtys).all() else None

    def _reallocate(self, row: int, hold_id: int, pos: int, cell: int, qty: int, to: int
                    ) -> OpResult:
        """Move the whole live line at ``pos`` (``qty`` units, which must be all of
        them) from ``cell`` to ``to``: committed there if available there."""
        lines = self.lines
        if int(lines["qty"][pos]) != qty:
            return OpResult(Code.ILLEGAL, hold_id, LINE_MISMATCH)
        if not self.accepting[to // self.n_warehouses]:
            return OpResult(Code.MOVED, 0, 0)
        avail = int(self.on_hand[to] - self.held[to] - self.committed[to])
        if qty > avail:  # detail: the short line is the second (where to)
            return OpResult(Code.INSUFFICIENT, avail, 1)
        self.committed[cell] -= qty
        self.committed[to] += qty
        s = int(self.holds["line_start"][row])
        own = lines["cell"][s:s + int(self.holds["line_count"][row])]
        there = np.flatnonzero(own == to)
        if there.size:  # the hold has a line there already: the units join it
            lines["qty"][s + int(there[0])] += qty
            lines["qty"][pos] = 0
        else:
            lines["cell"][pos] = to
        return OpResult(Code.OK, hold_id)

    def _uncount(self, row: int, state: int, cells: np.ndarray, qtys: np.ndarray) -> None:
        """Anti-scalping and channel counts after units left a live hold: a customer and
        a channel count pending and committed units, an owner pending ones."""
        channel = int(self.holds["channel"][row])
        if channel and self._channel_units:
            self._count_channel(channel, cells, qtys, -1)
        customer = int(self.holds["customer"][row])
        if customer:
            self._count(self._customer_units, customer, cells, qtys, -1)
        owner = int(self.holds["owner"][row])
        if owner and state == HoldState.PENDING:
            self._count(self._owner_units, owner, cells, qtys, -1)
