"""The vectorised batch path: a columnar :class:`~allocator.ops.OpBatch`, FCFS by
arrival; runs of single-line holds applied with numpy, anything else one by one."""

from __future__ import annotations

import numpy as np

from allocator.errors import InvalidRequest
from allocator.fingerprint import fingerprint
from allocator.ops import BatchResult, Code, HoldState, OpBatch, OpKind


class BatchApply:
    """Mixin of :class:`~allocator.ledger.Ledger`: :meth:`apply`."""

    def apply(self, batch: OpBatch) -> BatchResult:
        """Apply a batch FCFS in row order; same results and state as :meth:`apply_one`
        row by row. Raises :class:`InvalidRequest` (changing nothing) only when the
        batch itself is malformed; a bad op gets ``Code.INVALID`` and changes nothing."""
        self._check_batch(batch)
        n = len(batch)
        out = BatchResult.empty(n)
        if n == 0:
            return out
        if n < self.min_vector_run:  # no run is long enough: all one by one
            single, bounds = None, [0, n]
        else:
            single = (batch.kind == OpKind.HOLD) & (batch.line_count == 1)
            edges = np.flatnonzero(single[1:] != single[:-1]) + 1
            bounds = [0, *edges.tolist(), n]
        nz = np.count_nonzero  # (not ndarray.any(): see allocator.ops._nonzero)
        limited = bool(nz(batch.customer) or nz(batch.owner) or nz(batch.share_bp)
                       or nz(batch.l_cap) or nz(batch.channel))
        cols: tuple[list[int], ...] | None = None
        for s, e in zip(bounds[:-1], bounds[1:]):
            if (single is not None and single[s] and e - s >= self.min_vector_run
                    and self._apply_hold_run(batch, s, e, out)):
                continue
            if cols is None:  # plain ints: reading numpy scalars one by one costs more
                cols = (batch.kind.tolist(), batch.op_id.tolist(), batch.hold_id.tolist(),
                        batch.ttl_ms.tolist(), batch.version.tolist(),  # type: ignore[union-attr]
                        batch.state.tolist(), batch.line_start.tolist(),  # type: ignore[union-attr]
                        batch.line_count.tolist())
            kinds, ops, hids, ttls, versions, states, starts, counts = cols
            got = []
            for i in range(s, e):
                ls, lc = starts[i], counts[i]
                cells, qtys = batch.l_cell[ls:ls + lc], batch.l_qty[ls:ls + lc]
                if limited:
                    got.append(self.apply_one(
                        kinds[i], ops[i], hids[i], cells, qtys, batch.now_ms,
                        ttl_ms=ttls[i], version=versions[i], state=states[i],
                        customer=int(batch.customer[i]),  # type: ignore[index]
                        owner=int(batch.owner[i]),  # type: ignore[index]
                        share_bp=int(batch.share_bp[i]),  # type: ignore[index]
                        caps=batch.l_cap[ls:ls + lc],  # type: ignore[index]
                        channel=int(batch.channel[i])))  # type: ignore[index]
                else:
                    got.append(self.apply_one(kinds[i], ops[i], hids[i], cells, qtys,
                                              batch.now_ms, ttl_ms=ttls[i],
                                              version=versions[i], state=states[i]))
            out.code[s:e] = [r.code for r in got]
            out.value[s:e] = [r.value for r in got]
            out.detail[s:e] = [r.detail for r in got]
            out.replayed[s:e] = [r.replayed for r in got]
        return out

    def _check_batch(self, b: OpBatch) -> None:
        n = len(b)
        if n > self.limits.max_ops_per_batch:
            raise InvalidRequest(f"a batch holds at most {self.limits.max_ops_per_batch} ops")
        cols = (b.op_id, b.hold_id, b.ttl_ms, b.version, b.state, b.line_start, b.line_count,
                b.customer, b.owner, b.share_bp, b.channel)
        if (any(c.shape != (n,) for c in cols)  # type: ignore[union-attr]
                or b.l_cell.shape != b.l_qty.shape
                or b.l_cap.shape != b.l_cell.shape):  # type: ignore[union-attr]
            raise InvalidRequest("batch columns differ in length")
        nz = np.count_nonzero
        if n and (nz(b.line_count < 0) or nz(b.line_start < 0)
                  or nz(b.line_start + b.line_count > len(b.l_cell))):
            raise InvalidRequest("batch line ranges fall outside its line table")

    def _apply_hold_run(self, b: OpBatch, s: int, e: int, out: BatchResult) -> bool:
        """Vectorised FCFS for rows s..e, all single-line holds. Returns False (and
        changes nothing) when the run needs the reference path: a bad op, a replay, or
        an op with a customer cap or an owner share to check. Holds of SKUs with channel
        rules are decided one by one in scalars (:meth:`_hold_ruled_run`)."""
        n = e - s
        if (b.customer[s:e].any() or b.share_bp[s:e].any()  # type: ignore[index]
                or b.version[s:e].any() or b.state[s:e].any()):  # type: ignore[index]
            return False  # (a hold with a version or a state is invalid: see apply_one)
        first_line = b.line_start[s:e]
        cell = b.l_cell[first_line]
        qty = b.l_qty[first_line]
        ttl = b.ttl_ms[s:e]  # type: ignore[index]
        ops = b.op_id[s:e]
        lim = self.limits
        if not ((cell >= 0) & (cell < self.n_cells) & (qty > 0) & (qty <= lim.max_qty_per_line)
                & (ttl > 0) & (ttl <= lim.max_ttl_ms) & (ops >= 0)).all():
            return False
        ruled = self.ruled[cell // self.n_warehouses] if self._n_ruled else None
        if ruled is not None and not ruled.any():
            ruled = None
        # An owner (without a share) or a cap (without a customer) limits nothing but is
        # part of the op's payload, hence of its fingerprint.
        owner = b.owner[s:e]  # type: ignore[index]
        cap = b.l_cap[first_line]  # type: ignore[index]
        channel = b.channel[s:e]  # type: ignore[index]
        extra: tuple[np.ndarray, ...] = ()
        if owner.any() or cap.any() or channel.any():
            if (owner < 0).any() or (cap < 0).any() or (channel < 0).any():
                return False
            zeros = np.zeros(n, np.int64)
            extra = (zeros, owner, zeros, cap, channel)
        if not self.accepting.all() and not self.accepting[cell // self.n_warehouses].all():
            return False
        sorted_ops = np.sort(ops)
        if (sorted_ops[1:] == sorted_ops[:-1]).any():
            return False
        r0 = self._result_base + self.results.size
        if not self._seen.insert_if_all_new(ops, np.arange(r0, r0 + n, dtype=np.int64)):
            return False
        # From here on the run cannot fall back: every op gets its result row r0 + i.

        refusal = np.full(n, np.uint8(Code.INSUFFICIENT))
        if ruled is None:
            ok_arrival, seen_arrival = self._fcfs(cell, qty)
        else:  # SKUs with channel rules one by one; their cells are not the others'
            ok_arrival = np.empty(n, bool)
            seen_arrival = np.empty(n, np.int64)
            free = np.flatnonzero(~ruled)
            if free.size:
                ok_arrival[free], seen_arrival[free] = self._fcfs(cell[free], qty[free])
            kept = np.flatnonzero(ruled)
            ok_arrival[kept], refusal[kept], seen_arrival[kept] = self._hold_ruled_run(
                cell[kept], qty[kept], channel[kept])
        ok_idx = np.flatnonzero(ok_arrival)
        k = len(ok_idx)
        line0 = self.lines.append(k, cell=cell[ok_idx], qty=qty[ok_idx])
        hold0 = self.holds.append(k, state=HoldState.PENDING, op_id=ops[ok_idx],
                                  created=b.now_ms, expires=b.now_ms + ttl[ok_idx],
                                  line_start=np.arange(line0, line0 + k), line_count=1,
                                  customer=0, owner=0, channel=channel[ok_idx])
        hold0 += self._id0 - self._n_sparse  # row -> hold id
        code = np.where(ok_arrival, np.uint8(Code.OK), refusal)
        value = np.where(ok_arrival, hold0 + np.cumsum(ok_arrival) - 1, seen_arrival)
        detail = np.where(ok_arrival, -1, 0)
        fp = fingerprint(b.kind[s:e], b.hold_id[s:e], ttl, [cell], [qty], extra)
        self.results.append(n, code=code, value=value, detail=detail, fp=fp, at=b.now_ms,
                            op=ops)
        out.code[s:e], out.value[s:e], out.detail[s:e] = code, value, detail
        return True

    def _fcfs(self, cell: np.ndarray, qty: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """FCFS with skip over single-line holds in arrival order, vectorised: which fit
        (``held`` updated) and, for each refused one, the units its cell had left."""
        n = len(cell)
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
        return ok_arrival, seen_arrival

    # ------------------------------------------------------------- retention


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
