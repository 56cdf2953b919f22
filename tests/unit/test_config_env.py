"""One configuration module: every variable read by Settings.from_env, typed errors that
name the variable, settings reaching the shards and the API, key names per prefix, and
the README's table matching the module exactly."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actors.cluster import ClusterConfig
from actors.shard_core import ShardConfig
from allocator.config import Keys, Settings, environment_table, namespace_for
from api.settings import ApiSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def cluster(env: dict[str, str], **overrides) -> ClusterConfig:
    return ClusterConfig.from_settings(Settings.from_env(env), **overrides)


def test_defaults_without_env():
    shard = cluster({}).shard
    assert shard.retention_ms == ShardConfig().retention_ms == 24 * 3600 * 1000
    assert shard.low_stock_threshold == ShardConfig().low_stock_threshold == 5
    assert Settings.from_env({}) == Settings()


def test_env_sets_retention_and_low_stock_threshold():
    shard = cluster({"ALLOCATOR_IDEMPOTENCY_RETENTION_S": "7200",
                     "ALLOCATOR_LOW_STOCK_THRESHOLD": "12"}).shard
    assert shard.retention_ms == 7_200_000
    assert shard.low_stock_threshold == 12
    assert shard.retention_every_ms == ShardConfig().retention_every_ms  # untouched


def test_fractional_retention_and_explicit_overrides():
    assert cluster({"ALLOCATOR_IDEMPOTENCY_RETENTION_S": "1.5"}).shard.retention_ms == 1500
    mine = ShardConfig(retention_ms=1)
    assert cluster({}, shard=mine).shard is mine  # an override wins
    assert cluster({"ALLOCATOR_SHARDS": "3"}, n_shards=5).n_shards == 5
    assert cluster({"ALLOCATOR_SHARDS": "3"}, n_shards=None).n_shards == 3  # None: no flag


def test_every_variable_is_read_and_redis_url_has_an_alias():
    env = {"ALLOCATOR_PREFIX": "shopb", "REDIS_URL": "redis://r:1/0", "RAY_ADDRESS": "h:6379",
           "ALLOCATOR_DATA_DIR": "/d", "ALLOCATOR_SHARDS": "4", "ALLOCATOR_HOLD_TTL_S": "30",
           "ALLOCATOR_CUSTOMER_CAP": "2", "ALLOCATOR_NETWORK": "n.json",
           "ALLOCATOR_API_RATE": "7", "ALLOCATOR_API_BURST": "9",
           "ALLOCATOR_API_MAX_BODY_BYTES": "100", "ALLOCATOR_API_MAX_BATCH_ORDERS": "3",
           "ALLOCATOR_API_IDEMPOTENCY_TTL_S": "60", "ALLOCATOR_API_MAX_SHARE": "0.5"}
    s = Settings.from_env(env)
    assert (s.prefix, s.redis_url, s.ray_address, s.data_dir, s.shards) == \
        ("shopb", "redis://r:1/0", "h:6379", "/d", 4)
    assert (s.hold_ttl_s, s.customer_cap, s.network, s.api_rate, s.api_burst) == \
        (30.0, 2, "n.json", 7.0, 9)
    assert (s.api_max_body_bytes, s.api_max_batch_orders, s.api_idempotency_ttl_s,
            s.api_max_share) == (100, 3, 60, 0.5)
    assert Settings.from_env({"ALLOCATOR_REDIS_URL": "redis://x"}).redis_url == "redis://x"
    assert Settings.from_env(s.to_env()) == s  # what a child process is given


def test_a_value_of_the_wrong_type_names_its_variable():
    with pytest.raises(ValueError, match="ALLOCATOR_SHARDS='two'"):
        Settings.from_env({"ALLOCATOR_SHARDS": "two"})


def test_the_prefix_reaches_every_key_the_cluster_and_the_api():
    env = {"ALLOCATOR_PREFIX": "shopb"}
    assert cluster(env).prefix == "shopb"
    service = ApiSettings.from_env(env).service
    assert service.keys == Keys("shopb")
    keys = Keys("shopb")
    names = [keys.catalog, keys.secret, keys.directory, keys.events, keys.kill_global,
             keys.kill_skus, keys.journal("s0"), keys.snapshot("s0"), keys.events_cursor("s0"),
             keys.reservation("r"), keys.bulk("t"), keys.answer("o", "k"), keys.rate_limit("n")]
    assert all(n.startswith("shopb:") for n in names) and len(set(names)) == len(names)
    assert namespace_for("alloc") != namespace_for("shopb")


def test_the_readme_table_is_the_settings_table():
    text = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `((?:ALLOCATOR|REDIS|RAY)_[A-Z_]+)`", text, re.M))
    documented -= {"ALLOCATOR_VENV"}  # dev.sh's own, not the allocator's
    assert documented == {name for name, _, _ in environment_table()}
