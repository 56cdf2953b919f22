"""Ray metrics (shown on the Ray dashboard's Metrics view and its Prometheus endpoint)."""

from __future__ import annotations

from ray.util.metrics import Counter, Gauge, Histogram

from actors.shard_counts import BatchCounts

_LATENCY_MS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 1000]
_SIZES = [1, 4, 16, 64, 256, 1024, 4096, 16384]


class ShardMetrics:
    """Per-shard counters and histograms, tagged with the shard's name."""

    def __init__(self, shard: str) -> None:
        tags = ("shard",)
        self.tags = {"shard": shard}
        self.accepted = Counter("allocator_holds_accepted", "holds taken", tag_keys=tags)
        self.refused = Counter("allocator_holds_refused", "holds refused", tag_keys=tags)
        self.expired = Counter("allocator_holds_expired", "holds expired", tag_keys=tags)
        self.batch_size = Histogram("allocator_batch_size", "ops per shard batch",
                                    boundaries=_SIZES, tag_keys=tags)
        self.batch_ms = Histogram("allocator_batch_latency_ms", "apply+journal per batch",
                                  boundaries=_LATENCY_MS, tag_keys=tags)
        self.journal_ms = Histogram("allocator_journal_latency_ms", "journal write per batch",
                                    boundaries=_LATENCY_MS, tag_keys=tags)
        for m in (self.accepted, self.refused, self.expired, self.batch_size, self.batch_ms,
                  self.journal_ms):
            m.set_default_tags(self.tags)

    def observe_batch(self, counts: BatchCounts, batch_ms: float) -> None:
        """One applied batch: its counts (computed once by the core) and latency."""
        if counts.accepted:
            self.accepted.inc(counts.accepted)
        if counts.refused:
            self.refused.inc(counts.refused)
        self.batch_size.observe(counts.ops)
        self.batch_ms.observe(batch_ms)
        self.journal_ms.observe(counts.journal_ms)


class ClientMetrics:
    """The batching client's queue depth and overload refusals."""

    def __init__(self) -> None:
        self.queue_depth = Gauge("allocator_client_queue_depth", "ops waiting to be sent")
        self.overloaded = Counter("allocator_client_overloaded", "ops refused: queue full")
        self.hot_skus = Gauge("allocator_hot_skus", "SKUs on their own actor")
