"""Per-batch counting of a shard: ``stats`` (holds taken and refused, replays) and
the hold demand window behind :meth:`ShardCore.hot_skus`, plus the batch's counts for
the actor's metrics, computed once. A mixin of :class:`actors.shard_core.ShardCore`."""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

from allocator.ops import BatchResult, Code, OpBatch, OpKind

_HOLD = int(OpKind.HOLD)
_OK = int(Code.OK)
_SMALL = 32  # a batch this short is counted in plain ints (numpy's per-call cost dominates)


class BatchCounts(NamedTuple):
    """What one applied batch adds to the shard's metrics."""

    ops: int
    accepted: int  # holds answered OK, replays included
    refused: int  # holds answered anything else
    journal_ms: float


class ShardCounting:
    """Mixin: :meth:`_count`. Uses the core's ``stats``, ``demand``, ``demand_slot``,
    ``warehouse_ids``, ``clock`` and ``config.demand_window_s``."""

    stats: dict[str, Any]
    demand: np.ndarray
    demand_slot: int
    warehouse_ids: list[str]
    clock: Callable[[], int]
    config: Any

    def _count(self, batch: OpBatch, res: BatchResult) -> tuple[int, int]:
        """Count a batch into ``stats`` and the hold demand window; returns its holds
        answered OK (replays included) and refused. Plain ints below ``_SMALL`` ops."""
        stats = self.stats
        stats["batches"] += 1
        nwh = len(self.warehouse_ids)
        if len(batch) < _SMALL:
            replays = ok_new = ok_all = bad = 0
            rows: list[int] = []
            cells = batch.l_cell.tolist()
            for kind, code, replayed, start, count in zip(
                    batch.kind.tolist(), res.code.tolist(), res.replayed.tolist(),
                    batch.line_start.tolist(), batch.line_count.tolist()):
                replays += replayed
                if kind != _HOLD:
                    continue
                if code == _OK:
                    ok_all += 1
                    ok_new += not replayed
                else:
                    bad += 1
                if count > 0:  # (a hold without lines is invalid: no demand)
                    rows.append(cells[start] // nwh)
            if replays:
                stats["replays"] += replays
            if not (ok_all or bad):
                return 0, 0
        else:
            if res.replayed.any():
                stats["replays"] += int(res.replayed.sum())
            holds = batch.kind == OpKind.HOLD
            if not holds.any():
                return 0, 0
            ok = res.code == Code.OK
            ok_all = int((holds & ok).sum())
            ok_new = int((holds & ok & ~res.replayed).sum())
            bad = int((holds & ~ok).sum())
            holds &= batch.line_count > 0
            rows = batch.l_cell[batch.line_start[holds]] // nwh  # type: ignore[assignment]
        stats["holds_ok"] += ok_new
        stats["holds_refused"] += bad
        slot = (self.clock() // 1000) % self.config.demand_window_s
        if slot != self.demand_slot:
            self.demand[slot] = 0
            self.demand_slot = slot
        demand = self.demand[slot]
        if isinstance(rows, list):
            top = len(demand)
            for r in rows:
                if 0 <= r < top:
                    demand[r] += 1
        else:
            rows = rows[(rows >= 0) & (rows < len(demand))]
            demand += np.bincount(rows, minlength=len(demand))
        return ok_all, bad
