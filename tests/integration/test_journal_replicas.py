"""ALLOCATOR_JOURNAL_REPLICAS: a journal record counts as written only once a replica has
it (Redis WAIT), so a Sentinel failover cannot lose an acknowledged hold."""

from __future__ import annotations

import pytest
import redis

from allocator.errors import StorageUnavailable
from storage.journal import Journal
from storage.redis import connect

from tests.support.redis_topologies import LocalSentinel

pytestmark = pytest.mark.integration


def test_a_record_needs_its_replica(tmp_path, redis_url, prefix):
    s = LocalSentinel(tmp_path)
    try:
        primary = redis.Redis(port=s.primary)
        journal = Journal(primary, "s0", prefix, replicas=1, replica_wait_ms=2000)
        entry = journal.append({"t": "b", "n": 1})
        assert redis.Redis(port=s.replica).xrange(journal.stream)[-1][0].decode() == entry
    finally:
        s.stop()
    # a server without replicas: the write is refused (the shard then rebuilds from
    # Redis, and the client's retry replays the same op ids)
    lone = Journal(connect(redis_url), "s0", prefix, replicas=1, replica_wait_ms=50)
    with pytest.raises(StorageUnavailable, match="0 of 1 replicas"):
        lone.append({"t": "b", "n": 2})
    assert Journal(connect(redis_url), "s0", prefix).append({"t": "b", "n": 3})
