"""A durable shard over a simulated week of traffic (ShardCore over a real Redis, with
a fake clock): memory stays bounded, retention is journaled, restarts are exact."""

from __future__ import annotations

import numpy as np
import pytest

from allocator.audit import audit
from allocator.ops import BatchBuilder, Code

from tests.support.ledger import assert_same_ledger

pytestmark = pytest.mark.integration

HOUR = 3600 * 1000
DAY = 24 * HOUR


def make_core(redis_client, prefix, clock, **cfg):
    from actors.shard_core import ShardConfig, ShardCore
    from storage.journal import EventLog, Journal

    skus = [f"S{i}" for i in range(20)]
    return ShardCore("s0", skus, ["W1", "W2"], Journal(redis_client, "s0", prefix),
                     EventLog(redis_client, prefix), ShardConfig(**cfg), clock=clock)


class Clock:
    def __init__(self, t: int) -> None:
        self.t = t

    def __call__(self) -> int:
        return self.t


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
