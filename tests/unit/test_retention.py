"""Retention: old idempotency records are forgotten and finished holds compacted away,
hold ids stay stable, replay stays exact, and a shard's memory stays bounded over a
simulated week of traffic (ShardCore over a real Redis, with a fake clock)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from allocator.audit import audit
from allocator.columns import Columns
from allocator.errors import UnknownHold
from allocator.ledger import Ledger
from allocator.opindex import OpIndex
from allocator.ops import BatchBuilder, Code, HoldState, OpBatch, OpKind

SKUS, WHS = ["A", "B", "C"], ["W1", "W2"]
NO = np.zeros(0, np.int64)
HOUR = 3600 * 1000
DAY = 24 * HOUR


def assert_same_ledger(a: Ledger, b: Ledger) -> None:
    """Every table, every counter and the op index (as a set) are equal."""
    sa, sb = a.snapshot(), b.snapshot()
    assert sa.keys() == sb.keys()
    for key in sa:
        if key in ("seen_keys", "seen_vals"):
            continue
        va, vb = sa[key], sb[key]
        if isinstance(va, dict):
            assert va.keys() == vb.keys(), key
            for col in va:
                assert np.array_equal(va[col], vb[col]), (key, col)
        elif isinstance(va, np.ndarray):
            assert np.array_equal(va, vb), key
        else:
            assert va == vb, key
    ka, kb = np.argsort(sa["seen_keys"]), np.argsort(sb["seen_keys"])
    assert np.array_equal(sa["seen_keys"][ka], sb["seen_keys"][kb])
    assert np.array_equal(sa["seen_vals"][ka], sb["seen_vals"][kb])
    assert a.limit_counts() == b.limit_counts()


def step(led: Ledger, kind: OpKind, op: int, hold_id: int, now: int):
    return led.apply_one(kind, op, hold_id, 0, NO, NO, now)


def hold(led: Ledger, op: int, cell: int, qty: int, now: int, ttl: int = HOUR, **limits):
    return led.apply_one(OpKind.HOLD, op, -1, ttl, np.array([cell]), np.array([qty]), now,
                         **limits)


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
        a = vec.apply_one(kind, op, hold_id, ttl, cells, qtys, now)
        b = ref.apply_one(kind, op, hold_id, ttl, cells, qtys, now)
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
                want = ref.apply_one(OpKind.HOLD, next_op + i, -1, 3000, np.array([c]),
                                     np.array([q]), now)
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


# ------------------------------------------------------- a week on a durable shard

def make_core(redis_client, prefix, clock, **cfg):
    from actors.shard_core import ShardConfig, ShardCore
    from allocator.storage import EventLog, Journal

    skus = [f"S{i}" for i in range(20)]
    return ShardCore("s0", skus, ["W1", "W2"], Journal(redis_client, "s0", prefix),
                     EventLog(redis_client, prefix), ShardConfig(**cfg), clock=clock)


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


@pytest.mark.integration
def test_a_week_of_traffic_keeps_the_shard_bounded(redis_client, prefix):
    """Six batches an hour of 50 holds (300 holds/h): 40 % committed then shipped, 30 %
    released, 30 % left to expire; the sweep runs every 10 simulated minutes. Five holds
    committed on day 0 are shipped on day 6. Tables must plateau at about one retention
    window, and restarts (snapshot + journal with forget records) must be exact."""
    t0 = 1_700_000_000_000
    clock = Clock(t0)
    cfg = dict(snapshot_every_records=200, retention_every_ms=10 * 60_000, events=False)
    core = make_core(redis_client, prefix, clock, **cfg)
    assert core.config.retention_ms == DAY
    core.receive_stock(np.full(40, 100_000))
    rng = np.random.default_rng(7)
    op = [0]

    def new_op() -> int:
        op[0] += 1
        return op[0]

    def apply(b: BatchBuilder) -> dict:
        out = core.apply(b.build(0).to_columns(), epoch=0)
        assert not out.get("stale")
        return out

    # the long-lived orders: committed on day 0, shipped on day 6
    b = BatchBuilder()
    for i in range(5):
        b.hold(new_op(), [(i, 1)], 15 * 60_000, customer=99, caps=[10])
    vips = apply(b)["value"].tolist()
    b = BatchBuilder()
    for h in vips:
        b.commit(new_op(), h)
    assert (apply(b)["code"] == Code.OK).all()

    prev: list[int] = []  # holds taken at the previous tick
    to_ship: list[int] = []
    sent: list[tuple[int, int, int, int, int]] = []  # (time, op, cell, qty, hold id)
    sizes_by_day: list[dict[str, int]] = []
    ops_by_day: list[int] = []  # ops sent in the 24 h before each day's end
    ticks_per_day = 24 * 6
    for tick in range(7 * ticks_per_day):
        clock.t = t0 + (tick + 1) * 10 * 60_000
        b = BatchBuilder()
        for h in to_ship:
            b.ship(new_op(), h)
        fate = rng.random(len(prev))
        committed = [h for h, f in zip(prev, fate) if f < 0.4]
        for h in committed:
            b.commit(new_op(), h)
        for h, f in zip(prev, fate):
            if 0.4 <= f < 0.7:
                b.release(new_op(), h)
        n_before = len(b)
        cells = rng.integers(0, 40, 50)
        qtys = rng.integers(1, 4, 50)
        ops_now = [new_op() for _ in range(50)]
        for o, c, q in zip(ops_now, cells, qtys):
            b.hold(o, [(int(c), int(q))], 15 * 60_000, owner=3)
        out = apply(b)
        assert (out["code"] == Code.OK).all(), out["code"]
        prev = out["value"][n_before:].tolist()
        sent += [(clock.t, o, int(c), int(q), h) for o, c, q, h in zip(ops_now, cells, qtys, prev)]
        to_ship = committed
        core.expire_due()  # the sweep: expiry, and retention when due
        if tick == 3 * ticks_per_day + 7:  # a restart mid-week must be exact
            again = make_core(redis_client, prefix, clock, **cfg)
            assert_same_ledger(core.ledger, again.ledger)
            assert again.last_forget == core.last_forget
            core = again
        if (tick + 1) % ticks_per_day == 0:
            sizes_by_day.append(core.ledger.sizes())
            ops_by_day.append(op[0] - sum(ops_by_day))

    per_day_holds = 300 * 24
    for day, sizes in enumerate(sizes_by_day[1:], start=2):
        per_day_ops = ops_by_day[day - 1]
        assert sizes["holds"] <= 1.25 * per_day_holds, (day, sizes)
        assert sizes["lines"] == sizes["holds"]
        assert sizes["ops"] <= 1.05 * per_day_ops, (day, sizes, per_day_ops)
        assert sizes["results"] <= 1.25 * per_day_ops, (day, sizes, per_day_ops)
    last, second = sizes_by_day[-1], sizes_by_day[1]
    for table in ("holds", "lines", "results", "ops"):
        assert last[table] <= 1.2 * second[table], (table, sizes_by_day)  # no growth
    assert sizes_by_day[-1]["holds"] < 0.2 * len(sent)  # vs a week without retention

    # the day-0 orders survived every compaction with their ids, and ship now
    views = core.holds(vips)
    assert [v["state"] for v in views] == ["committed"] * 5
    assert core.ledger.limit_counts()[0] == {(99, 0): 2, (99, 1): 2, (99, 2): 1}
    b = BatchBuilder()
    for h in vips:
        b.ship(new_op(), h)
    assert (apply(b)["code"] == Code.OK).all()
    assert core.ledger.limit_counts()[0] == {}

    # an op from an hour ago still replays; one from day 1 is a new op now
    t_recent, o_recent, c_recent, q_recent, h_recent = next(
        x for x in reversed(sent) if x[0] <= clock.t - HOUR)
    out = apply(BatchBuilder().hold(o_recent, [(c_recent, q_recent)], 15 * 60_000, owner=3))
    assert out["replayed"][0] and out["value"][0] == h_recent
    t_old, o_old, c_old, q_old, h_old = sent[10]
    assert core.holds([h_old]) == [None]  # finished long ago: compacted away
    next_id = core.ledger.next_hold_id
    out = apply(BatchBuilder().hold(o_old, [(c_old, q_old)], 15 * 60_000, owner=3))
    assert not out["replayed"][0] and out["code"][0] == Code.OK
    assert out["value"][0] == next_id != h_old

    # a final restart reproduces the compacted state exactly, and audits clean
    core.snapshot()
    clock.t += 60_000
    core.forget_due(force=True)  # one forget record after the snapshot, replayed
    again = make_core(redis_client, prefix, clock, **cfg)
    assert_same_ledger(core.ledger, again.ledger)
    assert audit(again.ledger).ok
    entries = [rec["t"] for _, rec in again.journal.load()[1]]
    assert entries.count("forget") == 1


@pytest.mark.integration
def test_forget_due_runs_at_its_interval_and_is_journaled(redis_client, prefix):
    clock = Clock(10 * DAY)
    core = make_core(redis_client, prefix, clock, retention_ms=HOUR,
                     retention_every_ms=60_000)
    core.receive_stock(np.full(40, 10))
    out = core.apply(BatchBuilder().hold(1, [(0, 1)], 1000).build(0).to_columns(), 0)
    assert core.forget_due() is not None  # first call: due
    clock.t += 59_999
    assert core.forget_due() is None  # not yet
    clock.t += 1
    core.expire_due()  # the sweep runs it too
    assert core.last_forget == clock.t
    clock.t += HOUR + 60_000
    core.expire_due()
    assert core.holds([int(out["value"][0])]) == [None]  # expired, then compacted
    again = make_core(redis_client, prefix, clock, retention_ms=HOUR,
                      retention_every_ms=60_000)
    assert_same_ledger(core.ledger, again.ledger)
    kinds = [rec["t"] for _, rec in again.journal.load()[1]]
    assert kinds.count("forget") == 3 and "x" in kinds
    replay = again.apply(BatchBuilder().hold(1, [(0, 1)], 1000).build(0).to_columns(), 0)
    assert not replay["replayed"][0]  # forgotten: a new hold
