"""Settings, read once from the environment (``ALLOCATOR_*``) with sane defaults."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


def _env(name: str, default: str) -> str:
    return os.environ.get(f"ALLOCATOR_{name.upper()}", default)


@dataclass(frozen=True)
class Limits:
    """Hard bounds that reject absurd input before any state changes."""

    max_lines_per_order: int = 50
    max_qty_per_line: int = 10_000
    max_ttl_ms: int = 24 * 3600 * 1000
    max_ops_per_batch: int = 65_536  # ≤ 2^17: the batch sort packs arrival in 17 bits


@dataclass(frozen=True)
class Settings:
    """Process-wide configuration. Every field can be set as ``ALLOCATOR_<FIELD>``."""

    hold_ttl_s: float = 600.0
    idempotency_retention_s: float = 24 * 3600.0
    low_stock_threshold: int = 5
    redis_url: str = ""

    @classmethod
    def from_env(cls) -> "Settings":
        """Build settings from ``ALLOCATOR_*`` variables (``REDIS_URL`` also accepted)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = _env(f.name, "")
            if raw == "" and f.name == "redis_url":
                raw = os.environ.get("REDIS_URL", "")
            if raw == "":
                continue
            values[f.name] = type(f.default)(raw)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def hold_ttl_ms(self) -> int:
        return int(self.hold_ttl_s * 1000)


LIMITS = Limits()
