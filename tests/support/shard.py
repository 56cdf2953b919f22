"""A ShardCore on a real Redis with a clock the test moves (integration tests)."""

from __future__ import annotations

from actors.shard_core import ShardConfig, ShardCore
from storage.journal import EventLog, Journal

SKUS, WHS = ["A", "B", "C"], ["W1", "W2"]


class Clock:
    """Milliseconds that move only when the test sets ``t``."""

    def __init__(self) -> None:
        self.t = 1_000_000

    def __call__(self) -> int:
        return self.t


def make(redis_client, prefix, clock, **cfg) -> ShardCore:
    """Shard ``s0`` over SKUS × WHS, journaled under ``prefix``."""
    return ShardCore("s0", SKUS, WHS, Journal(redis_client, "s0", prefix),
                     EventLog(redis_client, prefix), ShardConfig(**cfg), clock=clock)
