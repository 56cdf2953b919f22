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


def _old_default(obj):
    """The array encoder before its headers were cached (the journal's format)."""
    import msgpack

    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        shape = ",".join(map(str, arr.shape))
        return msgpack.ExtType(1, f"{arr.dtype.str}\0{shape}\0".encode() + arr.tobytes())
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(type(obj).__name__)


def _old_ext(code, data):
    i = data.index(0)
    j = data.index(0, i + 1)
    shape = tuple(int(x) for x in data[i + 1:j].split(b",") if x)
    return np.frombuffer(data, np.dtype(data[:i].decode()), offset=j + 1).reshape(shape).copy()


_DTYPES = ["u1", "i8", "<i4", ">i4", "f8", "?", "c16", "<U3", "u2"]


@st.composite
def arrays(draw):
    dtype = np.dtype(draw(st.sampled_from(_DTYPES)))
    shape = tuple(draw(st.lists(st.integers(0, 5), max_size=3)))
    n = int(np.prod(shape)) if shape else 1
    raw = draw(st.binary(min_size=n * dtype.itemsize, max_size=n * dtype.itemsize))
    arr = np.frombuffer(raw, np.uint8).view(dtype).reshape(shape).copy()
    if dtype.kind == "U":
        arr = np.full(shape, draw(st.text(max_size=3)), dtype)
    how = draw(st.sampled_from(["c", "f", "step", "t"]))
    if how == "f":
        arr = np.asfortranarray(arr)
    elif how == "step" and arr.ndim:
        arr = np.repeat(arr, 2, axis=0)[::2]  # a non-contiguous view, same values
    elif how == "t":
        arr = arr.T
    return arr


@given(st.lists(arrays(), max_size=8), st.integers(0, 3))
def test_array_encoding_is_byte_identical_to_the_old_encoder(arrs, extra):
    """Old journals and other readers decode what is written now, and vice versa."""
    import msgpack

    from allocator.codec import pack, unpack

    obj = {"a": arrs, "n": np.int64(extra), "s": arrs[:1] * 2}
    old = msgpack.packb(obj, default=_old_default, use_bin_type=True)
    assert pack(obj) == pack(obj) == old  # (twice: with the header cache warm)
    new = unpack(old)
    ref = msgpack.unpackb(old, ext_hook=_old_ext, raw=False)
    for a, b, c in zip(new["a"], ref["a"], arrs):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
        assert a.flags.writeable and a.tobytes() == np.ascontiguousarray(c).tobytes()
    assert new["n"] == extra


def test_a_corrupt_array_record_is_refused_not_misread():
    import pytest

    from allocator.codec import pack, unpack

    data = bytearray(pack(np.arange(4, dtype=np.int64)))
    data[data.index(b"4")] = ord("5")  # the shape says 5 items, 4 follow
    with pytest.raises(ValueError):
        unpack(bytes(data))


def test_the_reused_packer_starts_clean_after_a_failure_and_a_big_record():
    import pytest

    from allocator.codec import pack, unpack

    small = {"a": np.arange(3), "b": "x"}
    want = pack(small)
    with pytest.raises(TypeError):
        pack({"a": np.arange(3), "bad": object()})
    assert pack(small) == want
    big = np.arange(300_000, dtype=np.int64)  # > 1 MiB: the thread's packer is dropped
    assert np.array_equal(unpack(pack({"big": big}))["big"], big)
    assert pack(small) == want
