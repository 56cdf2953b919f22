"""The API processes' Redis adapters on a real Redis: first answers, records, leased
token buckets, the coalescing pipeline and what an outage looks like."""

from __future__ import annotations

import asyncio
import time

import pytest

from allocator.config import Keys
from allocator.errors import StorageUnavailable
from service.bootstrap import async_redis
from storage.coalesce import Coalescer
from storage.ratelimit import TokenLeases
from storage.records import Records

pytestmark = pytest.mark.integration


def run(redis_url, fn):
    async def main():
        client = async_redis(redis_url)
        try:
            return await fn(Coalescer(client))
        finally:
            await client.aclose()
    return asyncio.run(main())


def test_the_first_answer_wins_and_its_records_are_written_with_it(redis_url, prefix):
    async def go(redis):
        records = Records(redis, Keys(prefix), answer_ttl_s=60)
        answers = await asyncio.gather(*(
            records.settle("shop", "key-1", {"fp": "f", "n": i},
                           [(records.record_key(f"r{i}"), b"x%d" % i)]) for i in range(20)))
        firsts = [a for a in answers if a is not None]
        assert answers.count(None) == 1 and len(firsts) == 19
        winner = answers.index(None)
        assert all(a == {"fp": "f", "n": winner} for a in firsts)
        assert await redis.run("GET", records.record_key(f"r{winner}")) == b"x%d" % winner
        assert await redis.run("EXISTS", records.record_key(f"r{(winner + 1) % 20}")) == 0
        assert 0 < await redis.run("TTL", records.answer_key("shop", "key-1")) <= 60
        assert await records.settle("other-key", "key-1", {"fp": "g"}) is None  # per owner
        assert redis.stats["pipelines"] < redis.stats["commands"]  # coalesced
    run(redis_url, go)


def test_leases_limit_refill_and_share_one_bucket(redis_url, prefix):
    async def go(redis):
        a, b = TokenLeases(redis, Keys(prefix)), TokenLeases(redis, Keys(prefix))
        # rate 10/s, burst 4: two processes together get 4 at once, then wait
        got = [await lease.take("k", 10, 4) for lease in (a, b, a, b, a, b)]
        assert got[:4] == [0, 0, 0, 0] and all(w > 0 for w in got[4:])
        await asyncio.sleep(0.35)  # ~3 tokens back
        assert await a.take("k", 10, 4) == 0
        # a lease: a fast key takes 50 ms worth at once, then spends it locally
        before = redis.stats["commands"]
        for _ in range(50):
            assert await a.take("fast", 2000, 4000) == 0
        assert redis.stats["commands"] - before == 1
        assert await a.take("big", 10, 4, cost=3) == 0
        assert await a.take("big", 10, 4, cost=3) > 0
    run(redis_url, go)


def test_an_outage_is_storage_unavailable_for_every_caller(tmp_path):
    from storage.redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path)
    url = server.url

    async def go(redis):
        assert await redis.run("PING")
        server.stop()
        time.sleep(0.2)
        results = await asyncio.gather(*(redis.run("GET", f"k{i}") for i in range(5)),
                                       return_exceptions=True)
        assert all(isinstance(r, StorageUnavailable) for r in results), results
    run(url, go)


def test_a_stopped_embedded_server_leaves_its_data_and_no_run_directory(tmp_path):
    import redis as redis_py

    from storage.redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "data")
    redis_py.Redis(unix_socket_path=server.socket).set("k", "v")
    assert server.run_dir.is_dir()
    server.stop()
    assert not server.run_dir.exists()  # config, socket and log go with the server
    again = EmbeddedRedis(tmp_path / "data")  # the data stays: it comes back from its AOF
    try:
        assert redis_py.Redis(unix_socket_path=again.socket).get("k") == b"v"
    finally:
        again.stop()


def test_the_embedded_server_keeps_aof_rewrites_out_of_a_sale(tmp_path):
    """An AOF rewrite forks Redis and writes the whole dataset; past Redis's 64 MB
    default it came every 20–30 s of a sale on this machine: 512 MB here, and AOF on
    with fsync every second."""
    import redis as redis_py

    from storage.redis import EmbeddedRedis

    server = EmbeddedRedis(tmp_path / "data")
    try:
        client = redis_py.Redis(unix_socket_path=server.socket)
        assert client.config_get("auto-aof-rewrite-min-size") == {
            "auto-aof-rewrite-min-size": str(512 << 20)}
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("appendfsync") == {"appendfsync": "everysec"}
    finally:
        server.stop()
