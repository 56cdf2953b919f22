"""ShardCore's per-batch counting (actors/shard_counts.py): the plain-int path for
small batches and the numpy path for large ones count exactly what a column-wise
reference counts — stats, the demand window, and the metrics' accepted/refused."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings, strategies as st

from actors.shard_counts import _SMALL, ShardCounting
from allocator.ops import BatchResult, OpBatch

N_SKUS, N_WH = 5, 3


class Counter(ShardCounting):
    def __init__(self, now: int) -> None:
        self.stats = {"batches": 0, "holds_ok": 0, "holds_refused": 0, "replays": 0}
        self.demand = np.zeros((4, N_SKUS), np.int64)
        self.demand_slot = 0
        self.warehouse_ids = [f"W{i}" for i in range(N_WH)]
        self.clock = lambda: now
        self.config = SimpleNamespace(demand_window_s=4)


def reference(batch: OpBatch, res: BatchResult, now: int):
    """Column-wise: what every row contributes (the counting before the plain-int path)."""
    holds = batch.kind == 1
    ok = res.code == 0
    stats = {"batches": 1, "replays": int(res.replayed.sum()),
             "holds_ok": int((holds & ok & ~res.replayed).sum()),
             "holds_refused": int((holds & ~ok).sum())}
    demand = np.zeros((4, N_SKUS), np.int64)
    with_lines = holds & (batch.line_count > 0)
    rows = batch.l_cell[batch.line_start[with_lines]] // N_WH
    if holds.any():
        slot = (now // 1000) % 4
        np.add.at(demand[slot], rows[(rows >= 0) & (rows < N_SKUS)], 1)
    return stats, demand, (int((holds & ok).sum()), int((holds & ~ok).sum()))


row = st.tuples(st.integers(0, 12),  # kind (1: HOLD)
                st.integers(-2, N_SKUS * N_WH + 2),  # the first line's cell
                st.integers(0, 2),  # lines (0: an invalid hold without lines)
                st.sampled_from([0, 0, 1, 4]),  # code (0: OK)
                st.booleans())  # replayed


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(row, max_size=3 * _SMALL), now=st.integers(0, 10**7))
def test_counts_match_the_column_wise_reference(rows, now):
    starts, cells, i = [], [], 0
    for _, cell, n, _, _ in rows:
        starts.append(i)
        cells += [cell] * n
        i += n
    n = len(rows)
    batch = OpBatch(kind=np.array([r[0] for r in rows], np.uint8),
                    op_id=np.arange(n, dtype=np.int64), hold_id=np.full(n, -1, np.int64),
                    line_start=np.array(starts, np.int64),
                    line_count=np.array([r[2] for r in rows], np.int64),
                    l_cell=np.array(cells, np.int64), l_qty=np.ones(len(cells), np.int64),
                    now_ms=now)
    res = BatchResult(np.array([r[3] for r in rows], np.uint8), np.zeros(n, np.int64),
                      np.zeros(n, np.int64), np.array([r[4] for r in rows], bool))
    core = Counter(now)
    got = core._count(batch, res)
    stats, demand, want = reference(batch, res, now)
    assert got == want
    assert core.stats == stats
    assert np.array_equal(core.demand, demand)


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(st.integers(-3, 2**40), max_size=40),
       dtype=st.sampled_from([np.int64, np.int32, np.uint16, np.float64]))
def test_unique_cells_is_np_unique(cells, dtype):
    from actors.shard_core import _unique_cells

    arr = np.array(cells).astype(dtype)
    got, want = _unique_cells(arr), np.unique(arr)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
