"""What a rehearsal is asked to do: the load's shape and size, the SLO it is judged by,
the capacity search, the sale's stock, where the stack runs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from loadtest.verdict import SearchPlan, Slo


def default_api_workers() -> int:
    """uvicorn workers of the local stack: one per core, at most 4. One API process is
    single-threaded; on two cores a second one takes the CPU the generator, the shards
    and Redis leave (docs/REHEARSAL.md)."""
    return max(1, min(4, os.cpu_count() or 1))


def default_shards() -> int:
    """Shard actors of the local stack: one per two cores, at most 4. On two cores
    one shard batches twice the ops per frame of two and leaves the CPU of a process
    to the API (docs/REHEARSAL.md: 2026-12-02, same-hour pairs)."""
    return max(1, min(4, (os.cpu_count() or 1) // 2))


@dataclass
class RehearsalOptions:
    multiple: float = 8.0
    duration_s: float = 60.0
    peak_users: int = 25  # buyers at 1x; each offers rps_per_buyer requests/s
    rps_per_buyer: float = 2.0
    host: str | None = None
    out: Path | None = None
    processes: int = 1  # Locust worker processes (1: a single process)
    expect_workers: int = 0  # > 0: Locust master of that many `--worker` processes
    master_port: int = 5557
    slo_p99_ms: float = 100.0
    max_error_rate: float = 0.001
    find_capacity: bool = False
    capacity_start_rps: float = 0.0  # 0: the peak
    capacity_factor: float = 1.25
    capacity_max_rps: float = 0.0  # 0: 3x the required rate (multiple x peak)
    step_s: float = 10.0
    warmup_s: float = 10.0  # --find-capacity: unjudged load before the first step
    skus: int = 200  # sale SKUs (the first of the catalog), hottest first
    hot: int = 3
    hot_stock: int = 40  # units per warehouse of each hot SKU (they sell out)
    stock: int = 100  # units per warehouse of the other sale SKUs
    ttl_s: float = 10.0
    kill_switch: bool = True
    throttled: bool = True
    shards: int = field(default_factory=default_shards)
    api_workers: int = field(default_factory=default_api_workers)
    # --host mode: the keys to use (none generated there)
    checkout_keys: list[str] = field(default_factory=list)
    ops_key: str = ""
    admin_key: str = ""
    throttled_key: str = ""
    log: Callable[[str], None] = lambda msg: None

    @property
    def peak_rps(self) -> float:
        """The expected peak the buyers offer at 1x, requests/s."""
        return self.peak_users * self.rps_per_buyer

    def slo(self) -> Slo:
        return Slo(p99_ms=self.slo_p99_ms, max_error_rate=self.max_error_rate)

    def plan(self) -> SearchPlan:
        """The capacity search's steps (``find_capacity``)."""
        start = self.capacity_start_rps or self.peak_rps
        top = self.capacity_max_rps or 3 * self.multiple * self.peak_rps
        return SearchPlan(start_rps=start, factor=self.capacity_factor,
                          max_rps=max(top, start), min_rps=max(1.0, start / 16))

    def distributed(self) -> bool:
        return self.expect_workers > 0 or self.processes > 1
