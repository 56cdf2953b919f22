"""ShardCore against a real Redis: journal before answer, recovery, events, Redis down."""

from __future__ import annotations

import numpy as np
import pytest

from actors.shard_core import ShardConfig, ShardCore, ShardUnavailable
from allocator.ops import BatchBuilder, Code
from storage.journal import EventLog, Journal
from tests.support.shard import SKUS, WHS, Clock, make

pytestmark = pytest.mark.integration


def columns(batch):
    return batch.to_columns()


def test_a_big_batch_is_one_bulk_event_carrying_every_change(redis_client, prefix):
    import msgpack

    clock = Clock()
    core = make(redis_client, prefix, clock, bulk_events_over=4)
    core.receive_stock(np.full(6, 100))
    b = BatchBuilder()
    for i in range(20):
        b.hold(1000 + i, [(i % 6, 1 + i % 2)], 60_000)
    out = core.apply(columns(b.build(0)), 0)
    core.apply(columns(BatchBuilder().commit(2000, int(out["value"][0])).build(0)), 0)
    core.publish_events()
    events = EventLog(redis_client, prefix).read()
    bulk = [e for e in events if e["type"] == "bulk"]
    assert len(bulk) == 1 and bulk[0]["count"] == "20"
    data = msgpack.unpackb(bulk[0]["data"], raw=False)
    assert data["type"] == ["reserved"] * 20
    assert data["op_id"] == list(range(1000, 1020))
    assert data["hold_id"] == out["value"].tolist()
    assert data["sku"][:3] == ["A", "A", "B"] and data["warehouse"][:2] == ["W1", "W2"]
    assert data["qty"][:2] == [1, 2]
    assert [e["type"] for e in events if e["type"] != "bulk"] == ["committed"]


def test_recovery_restores_every_acknowledged_change(redis_client, prefix):
    clock = Clock()
    core = make(redis_client, prefix, clock, snapshot_every_records=3)
    core.receive_stock(np.full(6, 10))
    acks = []
    for i in range(10):
        b = BatchBuilder().hold(100 + i, [(i % 6, 2)], 60_000)
        if i >= 2:
            b.commit(200 + i, i - 2)
        out = core.apply(columns(b.build(0)), epoch=0)
        acks.append(out)
        clock.t += 10
    clock.t += 120_000
    assert core.expire_due() > 0
    before = core.ledger.snapshot()
    again = make(redis_client, prefix, clock, snapshot_every_records=3)  # a restart
    after = again.ledger.snapshot()
    for name in ("on_hand", "held", "committed"):
        assert np.array_equal(before["stock"][name], after["stock"][name])
    assert np.array_equal(before["holds"]["state"], after["holds"]["state"])
    replay = again.apply(columns(BatchBuilder().hold(105, [(5, 2)], 60_000).build(0)), 0)
    assert replay["replayed"][0] and replay["value"][0] == acks[5]["value"][0]


def test_events_are_published_once_per_change_with_unique_ids(redis_client, prefix):
    clock = Clock()
    core = make(redis_client, prefix, clock, low_stock_threshold=1)
    core.receive_stock(np.array([2, 0, 0, 0, 0, 0]))
    core.apply(columns(BatchBuilder().hold(1, [(0, 1)], 1000).hold(2, [(0, 1)], 5000)
                       .commit(3, 1).sync(4, 0, 0, 1).build(0)), 0)
    clock.t += 2000
    core.expire_due()
    assert core.publish_events() > 0
    events = EventLog(redis_client, prefix).read()
    types = [e["type"] for e in events]
    assert types.count("reserved") == 2 and "committed" in types and "expired" in types
    assert "low_stock" in types and "drift" in types and "synced" in types
    assert len({e["event_id"] for e in events}) == len(events)
    # a restart before the cursor moved would re-publish the same ids; after, nothing
    again = make(redis_client, prefix, clock)
    assert again.publish_events() == 0


def test_redis_down_refuses_and_loses_nothing_acknowledged(tmp_path):
    """A real outage: the Redis server is shut down, then started again from its AOF."""
    from storage.redis import EmbeddedRedis, connect

    server = EmbeddedRedis(tmp_path / "redis", fsync="always")
    client = connect(server.url, timeout_s=0.5)
    clock = Clock()
    core = ShardCore("s0", SKUS, WHS, Journal(client, "s0"), EventLog(client),
                     ShardConfig(), clock=clock)
    core.receive_stock(np.full(6, 5))
    ok = core.apply(columns(BatchBuilder().hold(1, [(0, 2)], 60_000).build(0)), 0)
    assert ok["code"][0] == Code.OK  # acknowledged

    server.stop()  # Redis goes down
    with pytest.raises(ShardUnavailable, match="journal write failed"):
        core.apply(columns(BatchBuilder().hold(2, [(0, 3)], 60_000).build(0)), 0)
    with pytest.raises(ShardUnavailable, match="recovering"):
        core.stock("A")  # it answers nothing from state it cannot vouch for

    server = EmbeddedRedis(tmp_path / "redis")  # Redis is back, from its AOF
    try:
        back = connect(server.url)
        core.journal.client = back
        core.events.client = back
        stock = core.stock("A")["W1"]
        assert stock["held"] == 2 and stock["on_hand"] == 5  # only the acknowledged hold
        again = core.apply(columns(BatchBuilder().hold(2, [(0, 3)], 60_000).build(0)), 0)
        assert again["code"][0] == Code.OK and not again["replayed"][0]
    finally:
        server.stop()


def test_limits_survive_a_restart_exactly(redis_client, prefix):
    """Anti-scalping counts are rebuilt from snapshot + journal; a limited op replays
    after a restart (its limit columns, even a lone cap, reached the journal)."""
    clock = Clock()
    core = make(redis_client, prefix, clock, snapshot_every_records=2)
    core.receive_stock(np.full(6, 20))
    b = (BatchBuilder().hold(1, [(0, 3)], 60_000, customer=5, caps=[4])
         .hold(2, [(1, 2)], 60_000, customer=5, caps=[4])  # same SKU A: 3 + 2 > 4
         .hold(3, [(2, 2)], 60_000, owner=8, share_bp=1000)  # 10 % of B's 40: 4
         .hold(4, [(3, 3)], 60_000, owner=8, share_bp=1000)
         .hold(5, [(4, 1)], 60_000, caps=[9]))  # a cap without a customer
    first = core.apply(b.build(0).to_columns(), 0)
    assert [Code(c) for c in first["code"]] == [Code.OK, Code.CUSTOMER_LIMIT, Code.OK,
                                                Code.SHARE_LIMIT, Code.OK]
    assert first["value"][1] == 1 and first["value"][3] == 2
    core.apply(BatchBuilder().commit(6, int(first["value"][0])).build(0).to_columns(), 0)
    counts = core.ledger.limit_counts()
    assert counts == ({(5, 0): 3}, {(8, 1): 2})
    again = make(redis_client, prefix, clock, snapshot_every_records=2)  # a restart
    assert again.ledger.limit_counts() == counts
    replay = again.apply(b.build(0).to_columns(), 0)
    assert replay["replayed"].all()
    assert np.array_equal(replay["code"], first["code"])
    assert np.array_equal(replay["value"], first["value"])


def test_a_journal_in_the_layout_before_parameter_columns_replays(redis_client, prefix):
    """Records journaled with one ``arg`` column (TTL, version or state by kind) rebuild
    the same ledger on recovery, publish their events, and a request retried after the
    upgrade, in the new layout, is a replay of its first answer."""
    from allocator.ledger import Ledger
    from tests.support import legacy_ops as old
    from tests.support.ledger import assert_same_ledger

    journal = Journal(redis_client, "s0", prefix)
    for (now, ops), codes, values in zip(old.BATCHES, old.CODES, old.VALUES):
        n = len(ops)
        journal.append({"t": "b", "now": now, **old.old_columns(ops),  # as written then
                        "code": np.array(codes, np.uint8), "value": np.array(values, np.int64),
                        "replayed": np.zeros(n, bool), "detail": np.full(n, -1, np.int64),
                        "low": np.zeros(0, np.int64)})
    core = ShardCore("s0", old.SKUS, old.WHS, journal, EventLog(redis_client, prefix),
                     ShardConfig(), clock=Clock())
    want = Ledger(old.SKUS, old.WHS)
    for batch in old.new_batches():
        want.apply(batch)
    assert_same_ledger(core.ledger, want)
    assert core.ledger.hold_view(1).version == old.V1
    assert core.publish_events() > 0
    for batch, codes, values in zip(old.new_batches(), old.CODES, old.VALUES):
        again = core.apply(batch.to_columns(), 0)
        assert again["replayed"].all()
        assert again["code"].tolist() == codes and again["value"].tolist() == values
