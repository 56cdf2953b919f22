"""Ops in the column layout from before the parameter columns (one ``arg`` column: a
HOLD's TTL, the version of a COMMIT, RELEASE, AMEND or SYNC, a DROP_LINES' state),
written out literally, with what the ledger of that time answered and recorded.

The fingerprints are those the ledger recorded for these ops before the split
(allocator at 8a06300, on a fresh ``Ledger(SKUS, WHS, min_vector_run=1)``): a request
retried after an upgrade must still be a replay, never an idempotency conflict.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from allocator.ops import BatchBuilder, HoldState, OpBatch, OpKind

K = OpKind

SKUS, WHS = ["A", "B"], ["W1", "W2"]  # cells: A@W1 0, A@W2 1, B@W1 2, B@W2 3
V1 = (1 << 32) | 7

# (now_ms, [(kind, op_id, hold_id, arg, [(cell, qty), …]), …]) in journal order
BATCHES: list[tuple[int, list[tuple[int, int, int, int, list[tuple[int, int]]]]]] = [
    (0, [(K.RESTOCK, 1, -1, 0, [(0, 50)]), (K.RESTOCK, 2, -1, 0, [(1, 50)]),
         (K.RESTOCK, 3, -1, 0, [(2, 50)]), (K.SYNC, 4, -1, 7, [(3, 20)])]),
    (10, [(K.HOLD, 10, -1, 60_000, [(0, 2)]), (K.HOLD, 11, -1, 90_000, [(0, 1), (2, 3)]),
          (K.HOLD, 12, -1, 60_000, [(1, 2)]), (K.HOLD, 13, -1, 60_000, [(2, 1)]),
          (K.HOLD, 14, -1, 60_000, [(0, 1)])]),
    (20, [(K.AMEND, 20, 1, V1, [(2, 1)]), (K.COMMIT, 21, 1, V1, []), (K.COMMIT, 22, 0, 0, []),
          (K.DROP_LINES, 23, 1, 2, [(0, 1)]), (K.RELEASE, 24, 2, 0, []),
          (K.REALLOCATE, 25, 0, 0, [(0, 2), (1, 2)]), (K.SHIP, 26, 0, 0, []),
          (K.COMMIT, 27, 3, 0, []), (K.CANCEL, 28, 3, 0, []),
          (K.TRANSFER_OUT, 29, -1, 0, [(2, 1)]), (K.RETURN, 30, -1, 0, [(0, 1)]),
          (K.DROP_LINES, 31, 4, 0, [(0, 1)])]),
]
CODES = [[0] * 4, [0] * 5, [0] * 12]  # every op succeeded
VALUES = [[50, 50, 50, 20], [0, 1, 2, 3, 4], [1, 1, 0, 1, 2, 0, 0, 3, 3, 49, 51, 4]]
FPS = [0x170388de53547b69, 0xc4cac4582742918e, 0x6f609385b5e3df30, 0xf212b325728b167e,
       0x23746a29ff881aac, 0x6b68ba77407e3325, 0xb684a276959a85f3, 0xc77880d400493409,
       0x1e97b5f174b81e38, 0xadaa4dbbc91cbc6b, 0x646417d058bfa6df, 0xe6cd47a37dafadbc,
       0x8fc4439e97dbe0a0, 0xc1e038d4e0a6154a, 0x6a6a41ecc88e760f, 0xcd9a8f467b5f5b79,
       0xebda346a251563f7, 0xfb1a2d31c59497fa, 0xcd1037c4128ff105, 0x480c43c3b798ce5b,
       0x0be51b3ba033297e]


def old_columns(ops: list[tuple[int, int, int, int, list[tuple[int, int]]]]
                ) -> dict[str, Any]:
    """The columns of ``ops`` exactly as a client or journal record carried them then."""
    starts, counts, cells, qtys = [], [], [], []
    for *_, lines in ops:
        starts.append(len(cells))
        counts.append(len(lines))
        cells += [c for c, _ in lines]
        qtys += [q for _, q in lines]
    return {"kind": np.array([o[0] for o in ops], np.uint8),
            "op_id": np.array([o[1] for o in ops], np.int64),
            "hold_id": np.array([o[2] for o in ops], np.int64),
            "arg": np.array([o[3] for o in ops], np.int64),
            "line_start": np.array(starts, np.int64),
            "line_count": np.array(counts, np.int64),
            "l_cell": np.array(cells, np.int64), "l_qty": np.array(qtys, np.int64)}


def new_batches() -> list[OpBatch]:
    """:data:`BATCHES`, written with the parameter columns by name."""
    b0 = BatchBuilder().restock(1, 0, 50).restock(2, 1, 50).restock(3, 2, 50)
    b0.sync(4, 3, 20, version=7)
    b1 = BatchBuilder().hold(10, [(0, 2)], 60_000).hold(11, [(0, 1), (2, 3)], 90_000)
    b1.hold(12, [(1, 2)], 60_000).hold(13, [(2, 1)], 60_000).hold(14, [(0, 1)], 60_000)
    b2 = BatchBuilder().add(OpKind.AMEND, 20, 1, [(2, 1)], version=V1).commit(21, 1, V1)
    b2.commit(22, 0).add(OpKind.DROP_LINES, 23, 1, [(0, 1)], state=HoldState.COMMITTED)
    b2.release(24, 2).add(OpKind.REALLOCATE, 25, 0, [(0, 2), (1, 2)]).ship(26, 0)
    b2.commit(27, 3).cancel(28, 3).transfer(29, 2, 1, out=True)
    b2.add(OpKind.RETURN, 30, -1, [(0, 1)]).add(OpKind.DROP_LINES, 31, 4, [(0, 1)])
    return [b.build(now) for b, (now, _) in zip((b0, b1, b2), BATCHES)]
