"""REDIS_URL forms, and the key grouping that keeps every multi-key operation in one
Redis Cluster slot."""

from __future__ import annotations

import numpy as np
import pytest
from redis.crc import key_slot

from allocator.config import Keys, Settings, request_tag
from service.ids import Ids
from storage.records import Records
from storage.topology import CLUSTER, SENTINEL, SINGLE, parse_redis_url, redact


def slot(key: str) -> int:
    return key_slot(key.encode())


def test_plain_urls_are_one_server():
    for url in ("redis://h:6379/0", "rediss://u:p@h:6380/2", "unix:///tmp/r.sock"):
        assert parse_redis_url(url).kind == SINGLE


def test_sentinel_url_names_the_sentinels_the_service_and_the_db():
    t = parse_redis_url("redis+sentinel://:s3cret@s1:26379,s2,[::1]:26380/shop/3"
                        "?sentinel_password=sp")
    assert t.kind == SENTINEL
    assert t.nodes == (("s1", 26379), ("s2", 26379), ("::1", 26380))
    assert (t.service, t.db, t.password, t.sentinel_password) == ("shop", 3, "s3cret", "sp")
    assert parse_redis_url("rediss+sentinel://s1/shop").ssl


def test_cluster_url_lists_startup_nodes():
    t = parse_redis_url("redis+cluster://u:pw@n1:7000,n2:7001")
    assert t.kind == CLUSTER and t.nodes == (("n1", 7000), ("n2", 7001))
    assert t.auth() == {"username": "u", "password": "pw"}


@pytest.mark.parametrize("url, words", [
    ("", "empty"),
    ("http://h:6379", "unknown scheme"),
    ("h:6379", "unknown scheme"),
    ("redis+sentinel://s1:26379", "name the Sentinel service"),
    ("redis+sentinel://s1/shop/x", "<db number>"),
    ("redis+cluster://n1:7000/1", "only database 0"),
    ("redis+cluster://n1:port", "not host:port"),
    ("redis+cluster://", "no host"),
])
def test_bad_urls_say_what_is_expected(url, words):
    with pytest.raises(ValueError, match=words):
        parse_redis_url(url)


def test_errors_never_show_the_password():
    with pytest.raises(ValueError) as err:
        parse_redis_url("redis+cluster://admin:hunter2@n1:7000/4")
    assert "hunter2" not in str(err.value)
    assert redact("redis://:hunter2@h:6379") == "redis://:***@h:6379"


@pytest.mark.parametrize("prefix", ["", "a{b", "a}b", "a b", "a:b"])
def test_prefixes_that_would_break_hash_tags_are_refused(prefix):
    with pytest.raises(ValueError, match="ALLOCATOR_PREFIX"):
        Keys(prefix)
    with pytest.raises(ValueError, match="ALLOCATOR_PREFIX"):
        Settings.from_env({}, prefix=prefix)


def test_a_shards_journal_and_snapshot_share_a_slot_and_shards_spread():
    keys = Keys("shop")
    slots = {slot(keys.journal(f"shard-{i:02d}")) for i in range(16)}
    for i in range(16):
        assert slot(keys.journal(f"shard-{i:02d}")) == slot(keys.snapshot(f"shard-{i:02d}"))
    assert len(slots) == 16


def test_event_cursors_share_the_events_streams_slot():
    """EventLog.publish appends events and moves a cursor in one MULTI."""
    keys = Keys()
    assert {slot(keys.events_cursor(f"shard-{i:02d}")) for i in range(8)} == {
        slot(keys.events)}


def test_a_requests_answer_and_records_share_a_slot():
    """Records.settle writes them in one script: reserve, batch orders and bulk rows."""
    keys, ids = Keys("shop"), Ids(b"s" * 32)
    records = Records(None, keys, 60)  # type: ignore[arg-type]
    seen = set()
    for owner, k in [("key-a", "k1"), ("key-b", "k1"), ("key-a", "k2"), ("a:b", "c"),
                     ("a", "b:c")]:
        answer = slot(keys.answer(owner, k))
        rids = [ids.reservation_id(owner, k)] + [ids.batch_order_id(owner, k, i)
                                                 for i in range(5)]
        token = ids.bulk_token(owner, k)
        bulk = [key for key, _ in records.bulk_records(token, np.zeros((1, 8)), {})]
        assert {slot(keys.reservation(r)) for r in rids} == {answer}
        assert {slot(b) for b in bulk} == {answer}
        assert len(rids[0]) == 4 + 32 and len(token) == 24  # the id formats are unchanged
        seen.add(answer)
    assert request_tag("a:b", "c") != request_tag("a", "b:c")
    assert len(seen) >= 4  # requests spread over slots


def test_a_reservations_fence_and_intent_share_a_slot():
    """storage.fence takes the lease and reads the intent in one script."""
    keys, ids = Keys("shop"), Ids(b"s" * 32)
    slots = set()
    for k in ("k1", "k2", "k3", "k4"):
        rid = ids.reservation_id("key-a", k)
        assert slot(keys.fence(rid)) == slot(f"{keys.fence(rid)}:intent")
        slots.add(slot(keys.fence(rid)))
    assert len(slots) > 1  # reservations spread over slots
