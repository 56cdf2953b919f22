"""ALLOCATOR_* settings reach the shards: ClusterConfig.from_env builds ShardConfig from
allocator.config.Settings."""

from __future__ import annotations

import pytest

from actors.cluster import ClusterConfig
from actors.shard_core import ShardConfig


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("ALLOCATOR_IDEMPOTENCY_RETENTION_S", "ALLOCATOR_LOW_STOCK_THRESHOLD"):
        monkeypatch.delenv(name, raising=False)


def test_defaults_without_env():
    shard = ClusterConfig.from_env().shard
    assert shard.retention_ms == ShardConfig().retention_ms == 24 * 3600 * 1000
    assert shard.low_stock_threshold == ShardConfig().low_stock_threshold == 5


def test_env_sets_retention_and_low_stock_threshold(monkeypatch):
    monkeypatch.setenv("ALLOCATOR_IDEMPOTENCY_RETENTION_S", "7200")
    monkeypatch.setenv("ALLOCATOR_LOW_STOCK_THRESHOLD", "12")
    shard = ClusterConfig.from_env().shard
    assert shard.retention_ms == 7_200_000
    assert shard.low_stock_threshold == 12
    assert shard.retention_every_ms == ShardConfig().retention_every_ms  # untouched


def test_fractional_retention_and_explicit_overrides(monkeypatch):
    monkeypatch.setenv("ALLOCATOR_IDEMPOTENCY_RETENTION_S", "1.5")
    assert ClusterConfig.from_env().shard.retention_ms == 1500
    mine = ShardConfig(retention_ms=1)
    assert ClusterConfig.from_env(shard=mine).shard is mine  # an override wins
