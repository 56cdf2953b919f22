"""One op at a time on the ledger: validation, fingerprints, holds, transitions, cell
ops. The reference path; the batch path (:mod:`allocator.ledger_batch`) agrees with it."""

from __future__ import annotations

import numpy as np

from allocator.ledger_state import (
    MAX_ON_HAND, MAX_SHARE_BP, MAX_UNITS_PER_MOVE, HoldLimits, hold_limits,
)
from allocator.fingerprint import fingerprint_one
from allocator.ops import (
    CELL_OPS, HOLD_OPS, LINE_HOLD_OPS, Code, HoldState, OpKind, OpResult, stray_param,
)


class SingleOps:
    """Mixin of :class:`~allocator.ledger.Ledger`: the one-op path."""

    def apply_one(self, kind: int, op_id: int, hold_id: int, cells: np.ndarray,
                  qtys: np.ndarray, now_ms: int, *, ttl_ms: int = 0, version: int = 0,
                  state: int = 0, customer: int = 0, owner: int = 0, share_bp: int = 0,
                  caps: np.ndarray | None = None, channel: int = 0) -> OpResult:
        """Apply one op (the reference semantics). Never raises for bad input.

        ``ttl_ms``, ``version``, ``state``: the op's parameter, the one its kind reads
        (see :data:`~allocator.ops.PARAM_OF`; another set makes the op invalid).
        ``customer``, ``owner``, ``share_bp``, ``caps`` (one per line) and ``channel`` are
        a HOLD's optional limits and sales channel (see :class:`~allocator.ops.OpBatch`);
        other kinds ignore them."""
        limits = (hold_limits(customer, owner, share_bp, caps, len(cells), channel)
                  if kind == OpKind.HOLD else None)
        if self._invalid_reason(kind, op_id, hold_id, cells, qtys, limits, ttl_ms=ttl_ms,
                                version=version, state=state) is not None:
            return OpResult(Code.INVALID)
        # a valid op sets at most the parameter its kind reads: the sum is that one, the
        # value the single ``arg`` column gave the fingerprint before it was split
        fp = self._fingerprint_one(kind, hold_id, ttl_ms + version + state, cells, qtys,
                                   limits)
        first = self._seen.get(int(op_id))
        if first >= 0:
            r = self.results
            row = first - self._result_base
            if int(r["fp"][row]) != fp:
                return OpResult(Code.CONFLICT)
            return OpResult(Code(int(r["code"][row])), int(r["value"][row]),
                            int(r["detail"][row]), replayed=True)
        if kind == OpKind.HOLD:
            res = self._do_hold(int(op_id), cells, qtys, int(ttl_ms), int(now_ms), limits)
        elif kind in HOLD_OPS:
            res = self._do_transition(OpKind(kind), int(hold_id), int(now_ms), int(version))
        elif kind in LINE_HOLD_OPS:
            res = self._do_line_op(OpKind(kind), int(hold_id), cells, qtys, int(now_ms),
                                   version=int(version), state=int(state))
        else:
            res = self._do_cell_op(OpKind(kind), int(cells[0]), int(qtys[0]), int(version),
                                   int(now_ms))
        if res.code == Code.MOVED:  # nothing happened here: the caller retries elsewhere
            return res
        idx = self.results.append_one(code=res.code, value=res.value, detail=res.detail,
                                      fp=fp, at=now_ms, op=op_id)
        self._seen.set(int(op_id), self._result_base + idx)
        return res

    def _invalid_reason(self, kind: int, op_id: int, hold_id: int, cells: np.ndarray,
                        qtys: np.ndarray, limits: HoldLimits | None = None, *,
                        ttl_ms: int = 0, version: int = 0, state: int = 0) -> str | None:
        lim = self.limits
        n = len(cells)
        if op_id < 0:
            return "operation ids are non-negative integers"
        stray = stray_param(kind, ttl_ms, version, state)
        if stray is not None and kind in OpKind._value2member_map_:
            return f"a {OpKind(kind).name} op takes no {stray}"
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
            if not 0 < ttl_ms <= lim.max_ttl_ms:
                return f"hold TTL must be between 1 ms and {lim.max_ttl_ms} ms"
            if limits is not None:
                customer, owner, share_bp, caps, channel = limits
                if customer < 0 or owner < 0 or channel < 0:
                    return "customer, owner and channel ids are non-negative integers"
                if not 0 <= share_bp <= MAX_SHARE_BP:
                    return f"share_bp must be between 0 and {MAX_SHARE_BP}"
                if len(caps) != n:
                    return "one purchase cap per line"
                if (caps < 0).any():
                    return "purchase caps are non-negative (0: no cap)"
            return None
        if kind in LINE_HOLD_OPS:
            return self._invalid_line_op(kind, hold_id, cl, ql, version=version, state=state)
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
                return None if version > 0 else "sync version must be positive"
            if not 0 < ql[0] <= MAX_UNITS_PER_MOVE:
                return f"quantity must be between 1 and {MAX_UNITS_PER_MOVE}"
            return None
        return f"unknown operation kind {kind}"

    @staticmethod
    def _fingerprint_one(kind: int, hold_id: int, param: int, cells: np.ndarray,
                         qtys: np.ndarray, limits: HoldLimits | None = None) -> int:
        extra: list[int] = []
        if limits is not None:  # same positions as the vectorised path's extra columns
            customer, owner, share_bp, caps, channel = limits
            extra = [customer, owner, share_bp, *caps.tolist(), channel]
        return fingerprint_one(int(kind), int(hold_id), int(param), cells.tolist(),
                               qtys.tolist(), extra)

    def _do_hold(self, op_id: int, cells: np.ndarray, qtys: np.ndarray, ttl_ms: int,
                 now_ms: int, limits: HoldLimits | None = None) -> OpResult:
        if len(cells) == 1 and limits is None:  # the common case, in scalars
            cell = int(cells[0])
            if not (self._n_ruled and self.ruled[cell // self.n_warehouses]):
                return self._do_hold_one(op_id, cell, int(qtys[0]), ttl_ms, now_ms)
        rows = cells // self.n_warehouses
        ruled = bool(self._n_ruled) and bool(self.ruled[rows].any())
        moved = np.flatnonzero(~self.accepting[rows])
        if moved.size:
            return OpResult(Code.MOVED, 0, int(moved[0]))
        customer = owner = channel = 0
        if limits is not None:
            customer, owner, share_bp, caps, channel = limits
            owner = owner if share_bp else 0  # an owner is only counted under a share cap
            refused = self._check_limits(cells, qtys, customer, owner, share_bp, caps)
            if refused is not None:
                return refused
        if ruled:
            refused = self._check_channels(cells, qtys, channel)
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
                                line_count=len(cells), customer=customer, owner=owner,
                                channel=channel)
        if customer:
            self._count(self._customer_units, customer, cells, qtys, 1)
        if owner:
            self._count(self._owner_units, owner, cells, qtys, 1)
        if channel and ruled:
            self._count_channel(channel, cells, qtys, 1)
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

    def _do_transition(self, kind: OpKind, hold_id: int, now_ms: int, version: int = 0
                       ) -> OpResult:
        """``version``: the reservation version a COMMIT or RELEASE of a pending hold
        expects (0 unless amended); another answers VERSION with the current one."""
        found = self._live_row(hold_id, now_ms)
        if isinstance(found, OpResult):
            return found
        row, state = found
        holds = self.holds
        if (state == HoldState.PENDING and kind in (OpKind.COMMIT, OpKind.RELEASE)
                and version != holds["version"][row]):
            return OpResult(Code.VERSION, int(holds["version"][row]))
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
        if not (self._customer_units or self._owner_units or self._channel_units):
            return OpResult(Code.OK, hold_id)  # no live hold carries a limit
        channel = int(holds["channel"][row])
        if channel and new_state != HoldState.COMMITTED:  # live: pending or committed
            self._count_channel(channel, cells, qtys, -1)
        # limit counts: the owner's share counts pending units, the customer's cap
        # pending and committed ones
        owner = int(holds["owner"][row])
        if owner and state == HoldState.PENDING:
            self._count(self._owner_units, owner, cells, qtys, -1)
        customer = int(holds["customer"][row])
        if customer and new_state != HoldState.COMMITTED:
            self._count(self._customer_units, customer, cells, qtys, -1)
        return OpResult(Code.OK, hold_id)

    def _live_row(self, hold_id: int, now_ms: int) -> tuple[int, int] | OpResult:
        """(row, state) of a hold an op names, expiring it first if its time is up; or
        the answer when there is none (UNKNOWN_HOLD) or it has expired (EXPIRED)."""
        row = self._row(hold_id)
        if row < 0:
            return OpResult(Code.UNKNOWN_HOLD, hold_id)
        state = int(self.holds["state"][row])
        if state == HoldState.PENDING and now_ms >= self.holds["expires"][row]:
            self._expire_rows(np.array([row], np.int64))
            state = HoldState.EXPIRED
        if state == HoldState.EXPIRED:
            return OpResult(Code.EXPIRED, hold_id)
        return row, state

    def _do_cell_op(self, kind: OpKind, cell: int, qty: int, version: int, now_ms: int
                    ) -> OpResult:
        """``version``: a SYNC's count version (must be newer than the cell's)."""
        if kind in (OpKind.RESTOCK, OpKind.RETURN, OpKind.TRANSFER_IN):
            self.on_hand[cell] += qty
            return OpResult(Code.OK, int(self.on_hand[cell]))
        if kind == OpKind.TRANSFER_OUT:
            avail = int(self.on_hand[cell] - self.held[cell] - self.committed[cell])
            if qty > avail:
                return OpResult(Code.INSUFFICIENT, avail, 0)
            self.on_hand[cell] -= qty
            return OpResult(Code.OK, int(self.on_hand[cell]))
        if version <= self.version[cell]:
            return OpResult(Code.STALE_VERSION, int(self.version[cell]))
        floor = int(self.held[cell] + self.committed[cell])
        missing = max(0, floor - qty)
        self.on_hand[cell] = max(qty, floor)
        self.version[cell] = version
        if missing:
            self.drift.append(1, cell=cell, missing=missing, version=version, at=now_ms)
        return OpResult(Code.OK, int(self.on_hand[cell]), missing)

    def _hold_lines(self, row: int) -> tuple[np.ndarray, np.ndarray]:
        s = int(self.holds["line_start"][row])
        e = s + int(self.holds["line_count"][row])
        return self.lines["cell"][s:e], self.lines["qty"][s:e]

    # ----------------------------------------------------------------- expiry
