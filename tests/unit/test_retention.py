"""Retention: old idempotency records are forgotten and finished holds compacted away,
hold ids stay stable, replay stays exact, (the durable shard over a week: tests/integration/test_shard_retention.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from allocator.audit import audit
from allocator.columns import Columns
from allocator.errors import UnknownHold
from allocator.ledger import Ledger
from allocator.opindex import OpIndex
from allocator.ops import Code, HoldState, OpBatch, OpKind

from tests.support.ledger import assert_same_ledger

SKUS, WHS = ["A", "B", "C"], ["W1", "W2"]
NO = np.zeros(0, np.int64)
HOUR = 3600 * 1000
DAY = 24 * HOUR


def step(led: Ledger, kind: OpKind, op: int, hold_id: int, now: int):
    return led.apply_one(kind, op, hold_id, NO, NO, now)


def hold(led: Ledger, op: int, cell: int, qty: int, now: int, ttl: int = HOUR, **limits):
    return led.apply_one(OpKind.HOLD, op, -1, np.array([cell]), np.array([qty]), now,
                         ttl_ms=ttl, **limits)


@pytest.fixture
def led() -> Ledger:
    led = Ledger(SKUS, WHS)
    led.on_hand[:] = 1000
    led.compact_fraction = 0.0  # compact whenever anything can go
    return led


# ------------------------------------------------------------------ building blocks

def test_opindex_remove_leaves_tombstones_that_lookups_walk_past():
    index = OpIndex(capacity=64)
    keys = np.arange(0, 400, 3, dtype=np.int64)
    index.insert(keys, keys * 10)
    assert index.remove(keys[::2]) == len(keys[::2])
    assert len(index) == len(keys) - len(keys[::2])
    assert index.get(int(keys[0])) == -1
    assert index.get(int(keys[1])) == int(keys[1]) * 10
    assert np.array_equal(index.lookup(keys), np.where(np.arange(len(keys)) % 2, keys * 10, -1))
    # a removed key can come back; remove with a value only removes a matching entry
    assert index.insert_if_all_new(keys[:1], np.array([7]))
    assert index.remove(keys[:1], np.array([8])) == 0 and index.get(int(keys[0])) == 7
    assert index.remove(np.array([5, -1, 10_000])) == 0
    got_keys, got_vals = index.items()
    assert sorted(got_keys.tolist()) == sorted([int(keys[0])] + keys[1::2].tolist())


def test_opindex_rebuilds_when_tombstones_pile_up_without_growing():
    index = OpIndex(capacity=1024)
    slots = len(index._keys)
    for round_ in range(50):  # a sliding window of 500 live keys
        new = np.arange(round_ * 100, round_ * 100 + 100, dtype=np.int64)
        assert index.insert_if_all_new(new, new)
        if round_ >= 5:
            old = new - 500
            assert index.remove(old, old) == 100
    assert len(index) == 500
    assert len(index._keys) == slots  # tombstones were cleared, the table did not grow
    assert index._used - index.size <= slots // 4
    live = np.arange(4500, 5000, dtype=np.int64)
    assert np.array_equal(index.lookup(live), live)


def test_columns_keep_and_drop_prefix_work_in_place():
    t = Columns({"a": np.int64, "b": np.int8}, capacity=8)
    t.append(6, a=np.arange(6), b=np.arange(6) % 2)
    t.keep(np.array([1, 0, 1, 1, 0, 1], bool))
    assert t["a"].tolist() == [0, 2, 3, 5] and t["b"].tolist() == [0, 0, 1, 1]
    t.drop_prefix(3)
    assert t["a"].tolist() == [5] and t.capacity == 8
    t.append(2, a=7, b=1)
    assert t["a"].tolist() == [5, 7, 7]


_COL_OPS = st.lists(st.one_of(
    st.tuples(st.just("one"), st.dictionaries(st.sampled_from("abc"), st.integers(1, 9))),
    st.tuples(st.just("many"), st.integers(0, 5), st.integers(1, 9)),
    st.tuples(st.just("keep"), st.lists(st.booleans(), min_size=40, max_size=40)),
    st.tuples(st.just("drop"), st.integers(0, 6))), max_size=40)


@given(_COL_OPS)
def test_columns_behave_like_a_list_of_rows(ops):
    """append_one writes only the columns it is given: whatever compaction vacated must
    read as zeros in the others (rows past ``size`` stay zero)."""
    t, ref = Columns({"a": np.int64, "b": np.int64, "c": np.int8}, capacity=2), []
    for op in ops:
        if op[0] == "one":
            assert t.append_one(**op[1]) == len(ref)
            ref.append({k: op[1].get(k, 0) for k in "abc"})
        elif op[0] == "many":
            t.append(op[1], a=op[2])
            ref += [{"a": op[2], "b": 0, "c": 0} for _ in range(op[1])]
        elif op[0] == "keep":
            mask = np.array(op[1][:len(ref)], bool)
            t.keep(mask)
            ref = [r for r, m in zip(ref, mask) if m]
        else:
            t.drop_prefix(op[1])
            ref = ref[op[1]:]
        for k in "abc":
            assert t[k].tolist() == [r[k] for r in ref]


# ------------------------------------------------------------------- idempotency

def test_records_before_the_cutoff_are_forgotten_the_rest_replay(led):
    h0 = hold(led, 1, 0, 1, now=0).value
    h1 = hold(led, 2, 0, 1, now=100).value
    assert led.forget_before(50)["ops"] == 1
    again = hold(led, 2, 0, 1, now=200)
    assert again.replayed and again.value == h1  # within retention: the first answer
    fresh = hold(led, 1, 0, 1, now=200)
    assert not fresh.replayed and fresh.value not in (h0, h1)  # after: a new op
    assert led.results.size == 2 and len(led._seen) == 2  # the old row is gone
    assert audit(led).ok


def test_a_forgotten_refusal_is_decided_again(led):
    led.on_hand[0] = 1
    assert hold(led, 1, 0, 2, now=0).code == Code.INSUFFICIENT
    led.on_hand[0] = 5
    assert hold(led, 1, 0, 2, now=10).code == Code.INSUFFICIENT  # replayed
    led.forget_before(20)
    assert hold(led, 1, 0, 2, now=30).ok


# ------------------------------------------------------------------ compaction

def test_finished_old_holds_go_live_ones_keep_their_ids(led):
    ids = [hold(led, 10 + i, i % 6, 1 + i, now=i, ttl=DAY if i == 3 else HOUR).value
           for i in range(6)]
    step(led, OpKind.COMMIT, 20, ids[0], 10)
    step(led, OpKind.SHIP, 21, ids[0], 10)  # shipped: goes
    step(led, OpKind.COMMIT, 22, ids[1], 10)  # committed: stays
    step(led, OpKind.RELEASE, 23, ids[2], 10)  # released: goes
    # ids[3] stays pending (long TTL); ids[4] expires; ids[5] is young
    led.expire(HOUR + 4)
    assert led.hold_view(ids[4]).state == HoldState.EXPIRED
    step(led, OpKind.RELEASE, 24, ids[5], HOUR + 4)
    dropped = led.forget_before(5)  # ids[5] was created at 5: not before
    assert (dropped["holds"], dropped["lines"]) == (3, 3)
    assert [led.has_hold(h) for h in ids] == [False, True, False, True, False, True]
    assert led.holds.size == led.lines.size == 3
    # a compacted hold is unknown; the others answer as before, with their own lines
    assert step(led, OpKind.COMMIT, 30, ids[0], HOUR + 5).code == Code.UNKNOWN_HOLD
    with pytest.raises(UnknownHold):
        led.hold_view(ids[2])
    assert led.hold_view(ids[1]).lines == [("A", "W2", 2)]
    assert led.hold_view(ids[3]).lines == [("B", "W2", 4)]
    assert step(led, OpKind.RELEASE, 31, ids[5], HOUR + 5).code == Code.ILLEGAL
    assert step(led, OpKind.SHIP, 32, ids[1], HOUR + 5).ok
    assert list(led.pending_holds()) == [ids[3]]
    assert list(led.pending_expiries()) == [3 + DAY]
    new = hold(led, 40, 0, 1, now=HOUR + 6).value
    assert new == 6 == led.next_hold_id - 1  # ids are never reused
    assert list(led.line_index(np.array([ids[3], new]))) == [1, 3]
    assert list(led.expire(6 * DAY)) == [ids[3], new]
    assert audit(led).ok


def test_ids_map_back_through_a_sparse_prefix(led):
    """Old live holds scattered among finished ones: the table keeps them as a sorted
    sparse prefix, then a dense run; every lookup, vectorised or not, agrees."""
    rng = np.random.default_rng(1)
    ids = [hold(led, i, i % 6, 1, now=i, ttl=DAY).value for i in range(200)]
    live = set(rng.choice(200, 30, replace=False).tolist())
    for i, h in enumerate(ids):
        if i not in live:
            step(led, OpKind.RELEASE, 1000 + i, h, 300)
    led.forget_before(150)  # holds from 150 on are young: a dense tail of 50 ids
    kept = sorted(i for i in range(200) if i in live or i >= 150)
    assert led.hold_ids(np.arange(led.holds.size)).tolist() == kept
    assert led.hold_rows(np.array(kept)).tolist() == list(range(len(kept)))
    assert led.hold_rows(np.array([i for i in range(200) if i not in kept] + [999])).max() == -1
    assert led._n_sparse == len([i for i in live if i < 150])
    assert all(led.hold_view(h).state in (HoldState.PENDING, HoldState.RELEASED) for h in kept)
    assert audit(led).ok


def test_compaction_waits_until_enough_can_go():
    led = Ledger(SKUS, WHS)
    led.on_hand[:] = 1000
    ids = [hold(led, i, 0, 1, now=0).value for i in range(16)]
    step(led, OpKind.RELEASE, 100, ids[0], 1)
    assert led.forget_before(10)["holds"] == 0  # 1 of 16 < 1/8: not worth a copy yet
    assert led.hold_view(ids[0]).state == HoldState.RELEASED
    step(led, OpKind.RELEASE, 101, ids[1], 1)
    assert led.forget_before(10)["holds"] == 2  # 2 of 16 = 1/8
    assert not led.has_hold(ids[0]) and led.has_hold(ids[2])


def test_snapshot_after_compaction_round_trips(led):
    for i in range(20):
        h = hold(led, i, i % 6, 1, now=i, customer=1 + i % 3, caps=[50]).value
        if i % 3 == 0:
            step(led, OpKind.RELEASE, 100 + i, h, 30)
        elif i % 3 == 1:
            step(led, OpKind.COMMIT, 100 + i, h, 30)
    led.forget_before(10)
    again = Ledger.from_snapshot(led.snapshot())
    again.compact_fraction = 0.0
    assert_same_ledger(led, again)
    assert audit(again).ok
    for target in (led, again):  # both go on identically
        hold(target, 500, 1, 2, now=40)
        target.forget_before(35)
    assert_same_ledger(led, again)


# ------------------------------------------------------------ equivalence (property)

ops = st.one_of(
    st.tuples(st.just("hold"), st.integers(0, 5), st.integers(1, 4),
              st.sampled_from([500, 3000, 20_000])),
    st.tuples(st.sampled_from(["commit", "release", "ship", "cancel"]), st.integers(0, 60)),
    st.tuples(st.just("batch"), st.lists(st.tuples(st.integers(0, 5), st.integers(1, 3)),
                                         min_size=1, max_size=8)),
    st.tuples(st.just("replay"), st.integers(0, 200)),
    st.tuples(st.just("tick"), st.integers(0, 4000)),
    st.tuples(st.just("forget"), st.integers(0, 6000)),
    st.tuples(st.just("restart")),
)


@given(steps=st.lists(ops, min_size=1, max_size=60),
       fraction=st.sampled_from([0.0, 0.125, 0.5]))
def test_retention_changes_nothing_but_what_it_forgets(steps, fraction):
    """Against a ledger that forgets op records at the same points but never compacts a
    hold: same stock and same answers everywhere, except that an op on a compacted
    hold answers UNKNOWN_HOLD (where the other one says EXPIRED or ILLEGAL: nothing
    could happen to a finished hold anyway). Restarts from snapshots change nothing."""
    vec = Ledger(SKUS, WHS, min_vector_run=1)
    ref = Ledger(SKUS, WHS)
    for led in (vec, ref):
        led.on_hand[:] = 20
    vec.compact_fraction, ref.compact_fraction = fraction, float("inf")
    now, next_op = 0, 0
    sent: list[tuple] = []  # every op sent, for replays
    differed: set[int] = set()  # ops whose first answers differed (compacted hold)

    def send(kind, hold_id=-1, ttl=0, cell=None, qty=None, op=None):
        nonlocal next_op
        if op is None:
            op, next_op = next_op, next_op + 1
            sent.append((kind, hold_id, ttl, cell, qty, op))
        cells = NO if cell is None else np.array([cell])
        qtys = NO if qty is None else np.array([qty])
        a = vec.apply_one(kind, op, hold_id, cells, qtys, now, ttl_ms=ttl)
        b = ref.apply_one(kind, op, hold_id, cells, qtys, now, ttl_ms=ttl)
        assert a.replayed == b.replayed
        if a.replayed and op in differed:
            return
        if a != b:
            assert a.code == Code.UNKNOWN_HOLD and b.code in (Code.EXPIRED, Code.ILLEGAL)
            assert not ref.has_hold(hold_id) or HoldState(int(
                ref.holds["state"][hold_id])) in (HoldState.RELEASED, HoldState.EXPIRED,
                                                  HoldState.SHIPPED)
            differed.add(op)

    for s in steps:
        if s[0] == "hold":
            send(OpKind.HOLD, ttl=s[3], cell=s[1], qty=s[2])
        elif s[0] == "batch":
            n = len(s[1])
            batch = OpBatch.single_line_holds(np.arange(next_op, next_op + n),
                                              np.array([c for c, _ in s[1]]),
                                              np.array([q for _, q in s[1]]), 3000, now)
            got = vec.apply(batch)
            for i, (c, q) in enumerate(s[1]):
                want = ref.apply_one(OpKind.HOLD, next_op + i, -1, np.array([c]),
                                     np.array([q]), now, ttl_ms=3000)
                assert got.row(i) == want
                sent.append((OpKind.HOLD, -1, 3000, c, q, next_op + i))
            next_op += n
        elif s[0] == "replay":
            if sent:
                send(*sent[s[1] % len(sent)][:5], op=sent[s[1] % len(sent)][5])
        elif s[0] == "tick":
            now += s[1]
            assert np.array_equal(vec.expire(now), ref.expire(now))
        elif s[0] == "forget":
            a, b = vec.forget_before(now - s[1]), ref.forget_before(now - s[1])
            assert a["ops"] == b["ops"]
        elif s[0] == "restart":
            vec = Ledger.from_snapshot(vec.snapshot(), min_vector_run=1)
            vec.compact_fraction = fraction
        else:
            kind = OpKind[s[0].upper()]
            send(kind, hold_id=s[1])
        for name in ("on_hand", "held", "committed"):
            assert np.array_equal(getattr(vec, name), getattr(ref, name)), name
        assert len(vec._seen) == len(ref._seen)
        assert audit(vec).ok, audit(vec).problems
        for h in range(ref.next_hold_id):
            if vec.has_hold(h):
                assert vec.hold_view(h) == ref.hold_view(h)
            else:
                assert ref.hold_view(h).state in (HoldState.RELEASED, HoldState.EXPIRED,
                                                  HoldState.SHIPPED)
        assert vec.next_hold_id == ref.next_hold_id
        assert np.array_equal(vec.pending_holds(), ref.pending_holds())
