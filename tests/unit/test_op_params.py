"""One meaning per column: an op's parameter is its ``ttl_ms``, ``version`` or ``state``.
Batches in the older layout (one ``arg`` column) still decode and replay, and an op's
fingerprint is what it was before the split."""

from __future__ import annotations

import numpy as np
import pytest

from actors.pending import NO_LIMITS, QueuedOp, op_columns
from allocator.codec import decode_batch, pack
from allocator.ledger import Ledger
from allocator.ops import (
    FIELDS, PARAM_FIELDS, PARAM_OF, BatchBuilder, Code, HoldState, OpBatch, OpKind,
)
from tests.support.legacy_ops import (
    BATCHES, CODES, FPS, SKUS, V1, VALUES, WHS, new_batches, old_columns,
)


def fresh() -> Ledger:
    return Ledger(SKUS, WHS, min_vector_run=1)


def recorded_fps(led: Ledger) -> list[int]:
    return [int(x) for x in led.results["fp"][:led.results.size]]


def test_the_old_arg_column_is_read_by_kind():
    (_, ops0), (_, ops1), (_, ops2) = BATCHES
    b0, b1, b2 = (OpBatch.from_columns(old_columns(ops), 0) for ops in (ops0, ops1, ops2))
    assert b0.version.tolist() == [0, 0, 0, 7]  # the SYNC's count version
    assert b1.ttl_ms.tolist() == [60_000, 90_000, 60_000, 60_000, 60_000]
    assert b2.version.tolist() == [V1, V1] + [0] * 10  # AMEND's new, COMMIT's expected
    assert b2.state.tolist() == [0, 0, 0, HoldState.COMMITTED] + [0] * 8  # DROP_LINES'
    assert not b1.version.any() and not b1.state.any() and not b0.ttl_ms.any()
    assert not b2.ttl_ms.any() and not b0.state.any()


def test_an_old_journal_record_decodes_to_the_same_batch_as_the_new_layout():
    for (now, ops), new in zip(BATCHES, new_batches()):
        record = pack({"now_ms": now, **old_columns(ops)})  # as written before the split
        old = decode_batch(record)
        assert old.now_ms == now
        for f in FIELDS:
            assert np.array_equal(getattr(old, f), getattr(new, f)), f
            assert getattr(old, f).dtype == getattr(new, f).dtype, f


def test_fingerprints_are_those_recorded_before_the_split():
    old, new = fresh(), fresh()
    for (now, ops), batch, codes, values in zip(BATCHES, new_batches(), CODES, VALUES):
        got_old = old.apply(OpBatch.from_columns(old_columns(ops), now))
        got_new = new.apply(batch)
        for got in (got_old, got_new):
            assert got.code.tolist() == codes and got.value.tolist() == values
    assert recorded_fps(old) == recorded_fps(new) == FPS


def test_a_request_from_before_the_upgrade_replays_after_it():
    """Journaled in the old layout, retried in the new one: the first answers come back
    (not CONFLICT, which a changed fingerprint would give)."""
    led = fresh()
    for now, ops in BATCHES:
        led.apply(OpBatch.from_columns(old_columns(ops), now))
    for batch, codes, values in zip(new_batches(), CODES, VALUES):
        again = led.apply(batch)
        assert again.replayed.all()
        assert again.code.tolist() == codes and again.value.tolist() == values


def test_a_parameter_column_travels_only_when_some_op_sets_it():
    plain = BatchBuilder().commit(1, 0).ship(2, 0).build(0)
    cols = plain.to_columns()
    assert not set(PARAM_FIELDS) & cols.keys() and "arg" not in cols
    back = OpBatch.from_columns(cols, 0)
    assert all(getattr(back, f).tolist() == [0, 0] for f in PARAM_FIELDS)
    mixed = new_batches()[2].to_columns()
    assert {"version", "state"} <= mixed.keys() and "ttl_ms" not in mixed
    assert "ttl_ms" in OpBatch.single_line_holds(np.arange(3), np.zeros(3), np.ones(3),
                                                 1000, 0).to_columns()


@pytest.mark.parametrize("kind, params, lines", [
    (OpKind.HOLD, {"ttl_ms": 1000, "version": 3}, [0]),
    (OpKind.HOLD, {"ttl_ms": 1000, "state": 1}, [0]),
    (OpKind.SHIP, {"version": V1}, []),
    (OpKind.COMMIT, {"ttl_ms": 1000}, []),
    (OpKind.RESTOCK, {"version": 2}, [0]),
    (OpKind.SYNC, {"version": 2, "state": 1}, [0]),
    (OpKind.DROP_LINES, {"version": V1}, [0]),
    (OpKind.AMEND, {"version": V1, "state": 1}, [0]),
])
def test_a_parameter_the_kind_does_not_read_makes_the_op_invalid(kind, params, lines):
    led = fresh()
    led.on_hand[:] = 10
    hid = led.hold(1, [("A", "W1", 2)], 0, 60_000)
    cells = np.array(lines, np.int64)
    res = led.apply_one(kind, 2, hid, cells, np.ones(len(lines), np.int64), 0, **params)
    assert res.code == Code.INVALID
    own = {k: v for k, v in params.items() if k == PARAM_OF.get(kind)}
    assert led.apply_one(kind, 2, hid, cells, np.ones(len(lines), np.int64), 0,
                         **own).code != Code.INVALID  # the same op without it is fine


def test_a_hold_run_with_a_stray_parameter_matches_one_at_a_time():
    """The vectorised path falls back for a hold carrying a version or a state, and
    answers INVALID for that op only, as apply_one does."""
    vec, ref = fresh(), Ledger(SKUS, WHS)
    vec.on_hand[:] = ref.on_hand[:] = 10
    batch = OpBatch.single_line_holds(np.arange(6), np.arange(6) % 4, np.ones(6), 1000, 0)
    batch.version[2] = 5
    batch.state[4] = 1
    got = vec.apply(batch)
    for i in range(6):
        want = ref.apply_one(OpKind.HOLD, i, -1, batch.l_cell[i:i + 1], batch.l_qty[i:i + 1],
                             0, ttl_ms=1000, version=int(batch.version[i]),
                             state=int(batch.state[i]))
        assert got.row(i) == want
    assert [Code(c) for c in got.code] == [Code.OK, Code.OK, Code.INVALID, Code.OK,
                                           Code.INVALID, Code.OK]


def test_the_clients_wire_columns_name_each_parameter():
    ops = [QueuedOp(OpKind.HOLD, 1, -1, [("A", "W2", 1)], NO_LIMITS, None, None,
                    ttl_ms=5000),
           QueuedOp(OpKind.COMMIT, 2, 7, [], NO_LIMITS, "s0", None, version=V1),
           QueuedOp(OpKind.DROP_LINES, 3, 7, [("B", "W1", 1)], NO_LIMITS, "s0", None,
                    state=HoldState.PENDING),
           QueuedOp(OpKind.SHIP, 4, 7, [], NO_LIMITS, "s0", None)]
    cols = op_columns(ops, {"A": 0, "B": 1}, {"W1": 0, "W2": 1}, 2)
    assert "arg" not in cols
    batch = OpBatch.from_columns(cols, 0)
    assert batch.ttl_ms.tolist() == [5000, 0, 0, 0]
    assert batch.version.tolist() == [0, V1, 0, 0]
    assert batch.state.tolist() == [0, 0, HoldState.PENDING, 0]
    assert batch.l_cell.tolist() == [1, 2]
    only_ships = op_columns(ops[3:], {}, {}, 2)
    assert not set(PARAM_FIELDS) & only_ships.keys()
