"""msgpack encoding of batches/snapshots, and the numpy op index against a dict."""

import numpy as np
from hypothesis import given, strategies as st

from allocator.codec import decode_batch, decode_snapshot, encode_batch, encode_snapshot
from allocator.ledger import Ledger
from allocator.opindex import OpIndex
from allocator.ops import FIELDS, BatchBuilder, OpBatch
from tests.support.ledger import assert_same_ledger as assert_same_state


def test_batch_round_trip_is_exact_and_compact():
    n = 4096
    batch = OpBatch.single_line_holds(np.arange(n) * 31, np.arange(n) % 97, np.ones(n), 600_000, 123)
    data = encode_batch(batch)
    back = decode_batch(data)
    assert back.now_ms == 123
    for f in FIELDS:
        assert np.array_equal(getattr(back, f), getattr(batch, f)), f
        assert getattr(back, f).dtype == getattr(batch, f).dtype
    assert len(data) < 60 * n  # columnar: no per-line dicts or keys


def test_mixed_batch_round_trip():
    b = BatchBuilder().hold(1, [(0, 2), (3, 1)], 1000).commit(2, 0).sync(3, 4, 10, 7)
    batch = b.build(now_ms=5)
    back = decode_batch(encode_batch(batch))
    assert np.array_equal(back.l_cell, [0, 3, 4]) and back.ttl_ms.tolist() == [1000, 0, 0]
    assert back.version.tolist() == [0, 0, 7] and back.state.tolist() == [0, 0, 0]


def test_snapshot_round_trip_restores_the_same_ledger():
    led = Ledger(["A", "B"], ["W1", "W2", "W3"])
    led.restock(1, "A", "W1", 10, 0)
    hid = led.hold(2, [("A", "W1", 3)], 0, 1000)
    led.hold(3, [("A", "W1", 2)], 0, 500)
    led.commit(4, hid, 10)
    led.sync(5, "A", "W1", 1, version=3, now_ms=20)
    back = Ledger.from_snapshot(decode_snapshot(encode_snapshot(led.snapshot())))
    assert_same_state(led, back)
    assert back.hold(2, [("A", "W1", 3)], 0, 1000) == hid  # idempotency survives
    assert list(back.expire(600)) == list(led.expire(600)) == [1]


@given(st.lists(st.lists(st.integers(0, 2**62), max_size=300, unique=True), max_size=6))
def test_op_index_behaves_like_a_dict(chunks):
    index, ref = OpIndex(capacity=8), {}
    for chunk in chunks:
        keys = np.array([k for k in chunk if k not in ref], np.int64)
        vals = np.arange(len(ref), len(ref) + len(keys), dtype=np.int64)
        index.insert(keys, vals)
        ref.update(zip(keys.tolist(), vals.tolist()))
    probe = np.array(list(ref) + [2**62 + 1, 5], np.int64)
    want = [ref.get(k, -1) for k in probe.tolist()]
    assert index.lookup(probe).tolist() == want
    assert [index.get(k) for k in probe.tolist()] == want
    assert len(index) == len(ref)
    keys, vals = index.items()
    assert dict(zip(keys.tolist(), vals.tolist())) == ref
