"""Invariant audit of a ledger: what must hold after every step, checked from scratch."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from allocator.ledger import Ledger
from allocator.ops import HoldState


@dataclass
class AuditReport:
    """``ok`` is True when no problem was found; ``problems`` says what is wrong where."""

    problems: list[str] = field(default_factory=list)
    oversold_units: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _units_by_state(ledger: Ledger, state: HoldState) -> np.ndarray:
    """Units per cell on holds in ``state``, summed from the hold table."""
    idx = ledger.line_index(np.flatnonzero(ledger.holds["state"] == state))
    out = np.zeros(ledger.n_cells, np.int64)
    np.add.at(out, ledger.lines["cell"][idx], ledger.lines["qty"][idx])
    return out


def audit(ledger: Ledger) -> AuditReport:
    """Check available ≥ 0, no negative column, and held/committed equal their holds."""
    report = AuditReport()
    avail = ledger.available
    negative = np.flatnonzero(avail < 0)
    if negative.size:
        report.oversold_units = int(-avail[negative].sum())
        report.problems.append(f"{negative.size} cells oversold by {report.oversold_units} units")
    for name in ("on_hand", "held", "committed"):
        if (getattr(ledger, name) < 0).any():
            report.problems.append(f"negative {name}")
    for name, state in (("held", HoldState.PENDING), ("committed", HoldState.COMMITTED)):
        diff = np.flatnonzero(_units_by_state(ledger, state) != getattr(ledger, name))
        if diff.size:
            sku, wh = ledger.cell_ids(int(diff[0]))
            report.problems.append(
                f"{name} disagrees with its {state.name.lower()} holds in {diff.size} cells "
                f"(first: {sku} at {wh})")
    return report
