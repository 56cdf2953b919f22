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
    wait_min_s: float = 0.05
    wait_max_s: float = 0.5
    flash_weight: int = 10
    ops_users: int = 1
    throttled_users: int = 1
    # the shape: see loadtest.shape.build_stages
    duration_s: float = 90.0
    multiple: float = 8.0
    peak_users: int = 10
    baseline: float = 0.2

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
