"""Channel rules on a durable shard (real Redis): journaled, so a restart — from the
journal alone or from a snapshot plus its tail — restores the rules and the counts
exactly, and a channel's hold replays its first answer."""

from __future__ import annotations

import numpy as np
import pytest

from allocator.errors import InvalidRequest
from allocator.ops import BatchBuilder, Code
from tests.support.shard import Clock, make

pytestmark = pytest.mark.integration

SHOP, MARKET = 11, 22


@pytest.mark.parametrize("snapshot_every", [1_000_000, 3])
def test_rules_and_counts_survive_a_restart(redis_client, prefix, snapshot_every):
    clock = Clock()
    core = make(redis_client, prefix, clock, snapshot_every_records=snapshot_every)
    core.receive_stock(np.array([30, 20, 10, 0, 5, 5], np.int64))
    core.set_channel_rules([["A", SHOP, "shop", 20, 0, -1, -1],
                            ["B", MARKET, "market", 0, 0, 4, -1]])
    b = (BatchBuilder().hold(1, [(0, 12)], 60_000, channel=SHOP)
         .hold(2, [(0, 18), (1, 13)], 60_000, channel=MARKET)  # 50 - 12 - 8 kept: 30
         .hold(3, [(0, 18), (1, 12)], 60_000, channel=MARKET)
         .hold(4, [(2, 5)], 60_000, channel=MARKET)  # B: cap 4
         .hold(5, [(2, 3)], 60_000, channel=MARKET)
         .hold(6, [(4, 5)], 60_000, channel=MARKET))  # C: no rules, vectorised or not
    first = core.apply(b.build(0).to_columns(), 0)
    assert [Code(c) for c in first["code"]] == [
        Code.OK, Code.CHANNEL_RESERVED, Code.OK, Code.CHANNEL_CAP, Code.OK, Code.OK]
    assert first["value"][1] == 30 and first["value"][3] == 4
    core.apply(BatchBuilder().commit(7, int(first["value"][0])).build(0).to_columns(), 0)
    with pytest.raises(InvalidRequest):  # all or none: the good rule is not applied
        core.set_channel_rules([["C", SHOP, "shop", 1, 0, -1, -1],
                                ["C", MARKET, "market", 5, 5, -1, -1]])
    core.set_channel_rules([["B", SHOP, "shop", 0, 2_000, -1, -1]])  # 20 % of 10
    counts = core.ledger.channel_counts()
    assert counts == {(SHOP, 0): 12, (MARKET, 0): 30, (MARKET, 1): 3}
    view = core.channel_view("A", [MARKET, SHOP, 0])
    assert [v["sellable"] for v in view["views"]] == [0, 8, 0]

    again = make(redis_client, prefix, clock, snapshot_every_records=snapshot_every)
    assert again.ledger.channel_counts() == counts
    assert again.channel_view("A", [MARKET, SHOP, 0]) == view
    assert again.channel_view("B", [])["rules"] == [[SHOP, "shop", 0, 2_000, -1, -1],
                                                   [MARKET, "market", 0, 0, 4, -1]]
    assert again.channel_view("C", [])["rules"] == []
    replay = again.apply(b.build(0).to_columns(), 0)
    assert replay["replayed"].all()
    assert np.array_equal(replay["code"], first["code"])
    assert np.array_equal(replay["value"], first["value"])
    more = again.apply(BatchBuilder().hold(8, [(2, 1)], 60_000, channel=MARKET)
                       .hold(9, [(1, 1)], 60_000).build(0).to_columns(), 0)
    assert [Code(c) for c in more["code"]] == [Code.OK, Code.CHANNEL_RESERVED]


def test_a_hot_skus_rules_move_with_it(cluster, client, svc, skus):
    """Pinning a SKU moves its channel rules to its own actor, which enforces them."""
    import ray

    from allocator.errors import ChannelReserved
    from service.channels import RuleSpec
    from tests.support.cluster import restock

    (sku,) = skus.take()
    restock(client, sku, "WH-DEL", 30)
    channels = svc.services.channels
    svc.run(channels.set_rules([RuleSpec(sku, "own-store", buffer=10)]))
    ray.get(cluster.directory.pin.remote([sku]))
    layout = svc.run(svc.services.client.refresh())
    assert layout.owner(sku) == f"hot-{sku}"
    assert svc.run(channels.rules(sku))["rules"][0]["buffer"] == 10  # read on the hot actor
    with pytest.raises(ChannelReserved):
        svc.hold([(sku, "WH-DEL", 21)], key=f"hot-rules-{sku}-1")
    svc.hold([(sku, "WH-DEL", 20)], key=f"hot-rules-{sku}-2")
    view = svc.run(channels.inventory(sku, "own-store"))
    assert (view["sellable"], view["warehouses"]["WH-DEL"]) == (10, 10)
