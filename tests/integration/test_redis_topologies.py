"""The allocator on a real local Redis Cluster (3 masters) and behind a real Sentinel,
both from the bundled ``redis-server``: journal, snapshots, events, records and first
answers, rate limits; a shard restarted recovers from a journal held by the Cluster."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import ray
import redis

from actors.cluster import Cluster, ClusterConfig
from actors.shard_core import ShardConfig
from allocator.catalog import demo_catalog
from allocator.config import Keys, request_tag
from storage.coalesce import Coalescer
from storage.journal import EventLog, Journal
from storage.ratelimit import TokenLeases
from storage.records import Records
from storage.redis import check_topology, connect, connect_async
from tests.support.cluster import SyncServices, assert_audit_clean, call_when_up, wait_restarted
from tests.support.redis_topologies import LocalRedisCluster, LocalSentinel

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory):
    c = LocalRedisCluster(tmp_path_factory.mktemp("rcluster"), masters=3)
    yield c
    c.stop()


def fresh_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def test_journal_snapshot_and_events_on_a_redis_cluster(redis_cluster):
    client, prefix = connect(redis_cluster.url), fresh_prefix()
    journal = Journal(client, "shard-00", prefix)
    ids = [journal.append({"n": i}) for i in range(5)]
    journal.save_snapshot({"upto": 2}, ids[2])
    snap, tail = journal.load()
    assert snap == {"upto": 2} and [r["n"] for _, r in tail] == [3, 4]
    log = EventLog(client, prefix)
    log.publish("shard-00", [{"id": "e1", "type": "x"}], ids[4])  # a MULTI over 2 keys
    log.publish("shard-01", [{"id": "e2", "type": "y"}], "7-0")
    assert [e["id"] for e in log.read()] == ["e1", "e2"]
    assert (log.cursor("shard-00"), log.cursor("shard-01")) == (ids[4], "7-0")


def test_records_settle_and_leases_on_a_redis_cluster(redis_cluster):
    keys = Keys(fresh_prefix())

    async def go():
        coalescer = Coalescer(connect_async(redis_cluster.url))
        records = Records(coalescer, keys, 60)
        out = []
        for n in range(12):  # answers and records in one script, many slots
            rid = f"res_{request_tag('owner', f'k{n}')}{'0' * 28}"
            first = await records.settle("owner", f"k{n}", {"fp": n},
                                         [(records.record_key(rid), b"rec")])
            again = await records.settle("owner", f"k{n}", {"fp": -1}, [])
            out.append((first, again, await coalescer.run("GET", records.record_key(rid))))
        granted = await TokenLeases(coalescer, keys).take("key-a", rate=10, burst=20)
        await coalescer.client.aclose()
        return out, granted

    out, waited = asyncio.run(go())
    assert all(first is None for first, _, _ in out)
    assert [again["fp"] for _, again, _ in out] == list(range(12))
    assert all(rec == b"rec" for _, _, rec in out)
    assert waited == 0.0
    assert sum(1 for n in redis_cluster.keys_per_node().values() if n) >= 2


def test_a_plain_url_to_a_cluster_node_is_refused(redis_cluster):
    url = f"redis://127.0.0.1:{redis_cluster.ports[0]}"
    with pytest.raises(ValueError, match="redis\\+cluster://"):
        check_topology(connect(url), url)


@pytest.fixture
def cluster_deployment(cluster, redis_cluster):
    """A second deployment on the session's Ray, its keys on the Redis Cluster."""
    catalog = demo_catalog(60)
    dep = Cluster(ClusterConfig(redis_url=redis_cluster.url, prefix=fresh_prefix(),
                                n_shards=3, shard=ShardConfig(snapshot_every_records=5)),
                  catalog)
    dep.seed({s: [10] * len(catalog.warehouse_ids) for s in catalog.sku_ids})
    yield dep, catalog
    dep.shutdown()


def test_reserve_commit_and_shard_recovery_on_a_redis_cluster(cluster_deployment,
                                                              redis_cluster):
    dep, catalog = cluster_deployment
    svc = SyncServices(redis_cluster.url, keys=dep.keys)
    try:
        wh = catalog.warehouse_ids[0]
        made = [svc.hold([(sku, wh, 2)], key=f"r{i}") for i, sku in
                enumerate(catalog.sku_ids[:20])]
        assert svc.hold([(catalog.sku_ids[0], wh, 2)], key="r0").id == made[0].id
        for res in made[:10]:
            svc.commit(res.id)
        before = dep.totals()
        assert (before["held"], before["committed"]) == (20, 20)
        names = sorted(dep.shards())
        started = {n: call_when_up(dep, n, "ping")["started"] for n in names}
        for name in names:  # every shard crashes; each rebuilds from the Cluster
            ray.kill(dep.shard(name), no_restart=False)
        for name in names:
            wait_restarted(dep, name, started[name])
        assert dep.totals() == before
        assert svc.get(made[15].id).state.value == "pending"
        assert svc.commit(made[15].id).state.value == "committed"
        assert_audit_clean(dep)
    finally:
        svc.close()
    per_node = redis_cluster.keys_per_node()
    assert sum(1 for n in per_node.values() if n) == 3, per_node


def test_journal_follows_a_sentinel_failover(tmp_path):
    s = LocalSentinel(tmp_path)
    try:
        client = connect(s.url)
        check_topology(client, s.url)
        replica_url = f"redis://127.0.0.1:{s.replica}"
        with pytest.raises(ValueError, match="replica"):
            check_topology(connect(replica_url), replica_url)
        journal = Journal(client, "shard-00", fresh_prefix())
        first = [journal.append({"n": i}) for i in range(3)]
        client.execute_command("WAIT", 1, 2000)  # the replica has them
        sentinel = redis.Redis("127.0.0.1", s.sentinel)
        sentinel.execute_command("SENTINEL", "FAILOVER", s.service)
        deadline = time.monotonic() + 30
        while sentinel.sentinel_get_master_addr_by_name(s.service)[1] == s.primary:
            assert time.monotonic() < deadline, "no failover"
            time.sleep(0.2)
        old = redis.Redis("127.0.0.1", s.primary)
        while old.execute_command("ROLE")[0] != b"slave":  # demoted by the Sentinel
            assert time.monotonic() < deadline, "old primary not demoted"
            time.sleep(0.2)
        while True:  # the same client, now on the promoted replica
            try:
                journal.append({"n": 99})
                break
            except Exception:  # noqa: BLE001 - its old connection hits READONLY first
                assert time.monotonic() < deadline
                time.sleep(0.2)
        new = redis.Redis("127.0.0.1", s.replica)
        assert new.execute_command("ROLE")[0] == b"master"
        _, tail = journal.load()
        seen = [r["n"] for _, r in tail]
        # what was replicated before the failover (WAIT) and what came after it are on
        # the new primary; a write the old primary took in between may be lost (async
        # replication: docs/DEPLOY.md#redis, "Durability")
        assert seen[:3] == [0, 1, 2] and seen[-1] == 99
        assert new.xlen(journal.stream) == len(seen)
    finally:
        s.stop()
