"""Where a checkout request waits outside its process: seconds per step, as histograms.

The API's HTTP latency says how long a request took; these say how much of it was
spent waiting on a shard (an op's answer, a fresh read of rows) or on Redis (storing
the first answer to an Idempotency-Key). Compared with the shards' own
``allocator_batch_latency_ms``, they show whether a slow checkout waits on the
shards' work or on queues and the event loop in between (docs/OPERATIONS.md).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Iterable

#: Upper bounds (seconds) of the buckets, as the HTTP latency histogram's.
BOUNDS: tuple[float, ...] = (.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1.0, 2.5)
#: The steps checkout times.
SHARD_OP, FRESH_ROWS, SETTLE = "shard_op", "fresh_rows", "settle"


class Waits:
    """Counts of observed waits per step in :data:`BOUNDS` buckets, and their sum."""

    def __init__(self, steps: Iterable[str] = (SHARD_OP, FRESH_ROWS, SETTLE),
                 bounds: tuple[float, ...] = BOUNDS) -> None:
        self.bounds = bounds
        self._counts = {step: [0] * (len(bounds) + 1) for step in steps}
        self._sums = {step: 0.0 for step in self._counts}

    def observe(self, step: str, seconds: float) -> None:
        """One wait of ``seconds`` at ``step`` (a bucket counts waits ≤ its bound)."""
        self._counts[step][bisect_left(self.bounds, seconds)] += 1
        self._sums[step] += seconds

    @property
    def steps(self) -> list[str]:
        return list(self._counts)

    def histogram(self, step: str) -> tuple[list[tuple[str, int]], float]:
        """Prometheus-style cumulative buckets (``le`` as text, ``+Inf`` last) and the
        sum of the waits."""
        out, total = [], 0
        for bound, n in zip((*(repr(b) for b in self.bounds), "+Inf"), self._counts[step]):
            total += n
            out.append((bound, total))
        return out, self._sums[step]
