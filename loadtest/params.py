"""Rehearsal parameters shared by the runner (parent process) and the Locust
processes: one JSON file whose path is in ``$REHEARSE_PARAMS``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Params:
    record_dir: str = "."
    sale_skus: list[str] = field(default_factory=list)  # by popularity, hottest first
    hot_skus: list[str] = field(default_factory=list)
    ops_skus: list[str] = field(default_factory=list)  # synced by OpsUser, never sold
    warehouses: list[str] = field(default_factory=list)
    destinations: list[str] = field(default_factory=list)
    checkout_keys: list[str] = field(default_factory=list)
    ops_key: str = ""
    throttled_key: str = ""
    zipf_s: float = 1.1
    hot_share: float = 0.5  # share of FlashSaleUser orders on the hot SKUs
    ttl_s: float = 20.0
    p_commit: float = 0.85
    p_release: float = 0.10  # the rest walk away and let the hold expire
    p_route_first: float = 0.5
    flash_weight: int = 10
    ops_users: int = 1
    throttled_users: int = 1
    # the shape: see loadtest.shape.build_stages
    duration_s: float = 90.0
    multiple: float = 8.0
    peak_users: int = 10
    baseline: float = 0.2
    # the open model: each buyer sends one request every 1/rps_per_buyer s on a fixed
    # schedule, however slowly the server answers (loadtest.users.FlashSaleUser)
    rps_per_buyer: float = 2.0
    max_lag_s: float = 2.0  # a buyer this far behind its schedule drops the missed slots
    # the verdict (loadtest.verdict.Slo) and the meter (loadtest.meter)
    slo_p99_ms: float = 100.0
    max_error_rate: float = 0.001
    min_achieved_ratio: float = 0.95
    meter_path: str = ""  # where the master (or the single process) writes meter.json
    forward_events: bool = False  # a worker on another machine: events go to the master
    # --find-capacity (loadtest.verdict.SearchPlan): steps instead of stages
    find_capacity: bool = False
    capacity_start_rps: float = 0.0
    capacity_factor: float = 1.25
    capacity_max_rps: float = 100_000.0
    step_s: float = 10.0
    warmup_s: float = 0.0  # before the first step: half its rate, not judged
    flush_s: float = 0.0  # zero users at the end: the workers' last reports arrive

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def load(cls, path: str | Path | None = None) -> "Params":
        path = path or os.environ.get("REHEARSE_PARAMS")
        if not path:
            return cls()
        data: dict[str, Any] = json.loads(Path(path).read_text())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})
