"""The ledger's table layouts and bounds, shared by its parts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from allocator.ops import HoldState

MAX_UNITS_PER_MOVE = 10_000_000
MAX_ON_HAND = 1_000_000_000
MAX_SHARE_BP = 10_000

NO_LINES = np.zeros(0, np.int64)
FINISHED = (HoldState.RELEASED, HoldState.EXPIRED, HoldState.SHIPPED)

HOLD_COLUMNS = {"state": np.int8, "op_id": np.int64, "created": np.int64,
                "expires": np.int64, "line_start": np.int64, "line_count": np.int64,
                # anti-scalping: the buyer (0: none) and the owner whose share the hold
                # counts against (0: none, also when the hold carried no share limit)
                "customer": np.int64, "owner": np.int64,
                # the reservation version an amendment gave a pending hold (0: none)
                "version": np.int64,
                # the sales channel the hold sells on (0: none; ledger_channels.py)
                "channel": np.int64}
# qty: live units (held or committed); released / cancelled: units a partial release
# (pending) or cancel (committed) took off the line
LINE_COLUMNS = {"cell": np.int64, "qty": np.int64, "released": np.int64,
                "cancelled": np.int64}
RESULT_COLUMNS = {"code": np.uint8, "value": np.int64, "detail": np.int64,
                  "fp": np.uint64, "at": np.int64, "op": np.int64}

# (customer, owner, share_bp, caps per line, channel) of a HOLD that carries a limit
# or a channel
HoldLimits = tuple[int, int, int, np.ndarray, int]


def hold_limits(customer: int, owner: int, share_bp: int, caps: np.ndarray | None,
                n_lines: int, channel: int = 0) -> HoldLimits | None:
    """A HOLD's limits (and channel) as one tuple, or None when it carries none (the
    common case)."""
    if caps is not None:
        caps = np.asarray(caps, np.int64)
        if not caps.any() and len(caps) == n_lines:
            caps = None
    if not (customer or owner or share_bp or channel) and caps is None:
        return None
    if caps is None:
        caps = np.zeros(n_lines, np.int64)
    return int(customer), int(owner), int(share_bp), caps, int(channel)


@dataclass(frozen=True)
class HoldView:
    """A read-only view of one hold."""

    hold_id: int
    state: HoldState
    created_ms: int
    expires_ms: int
    lines: list[tuple[str, str, int]]  # (sku, warehouse, live qty)
    dropped: list[tuple[int, int]] | None = None  # per line: (released, cancelled) units
    version: int = 0  # the reservation version an amendment set (0: none)
