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
    idx = ledger.line_index_rows(np.flatnonzero(ledger.holds["state"] == state))
    out = np.zeros(ledger.n_cells, np.int64)
    np.add.at(out, ledger.lines["cell"][idx], ledger.lines["qty"][idx])
    return out


def _diff_counts(tracked: dict, derived: dict) -> list[tuple]:
    keys = sorted(set(tracked) | set(derived))
    return [(k, tracked.get(k, 0), derived.get(k, 0)) for k in keys
            if tracked.get(k, 0) != derived.get(k, 0)]


def audit(ledger: Ledger) -> AuditReport:
    """Check available ≥ 0, no negative column, held/committed equal their holds, the
    anti-scalping counts equal what the holds imply, and the hold-id and op-index
    bookkeeping that retention maintains."""
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

    tracked_c, tracked_o = ledger.limit_counts()
    derived_c, derived_o = ledger.derived_limit_counts()
    for who, tracked, derived in (("customer", tracked_c, derived_c),
                                  ("owner", tracked_o, derived_o)):
        wrong = _diff_counts(tracked, derived)
        if wrong:
            (w, row), t, d = wrong[0]
            report.problems.append(
                f"{who} unit counts disagree with the holds for {len(wrong)} keys (first: "
                f"{who} {w} on {ledger.sku_ids[row]}: tracked {t}, holds say {d})")

    wrong = _diff_counts(ledger.channel_counts(), ledger.derived_channel_counts())
    if wrong:
        (w, row), t, d = wrong[0]
        report.problems.append(
            f"channel unit counts disagree with the holds for {len(wrong)} keys (first: "
            f"channel {w} on {ledger.sku_ids[row]}: tracked {t}, holds say {d})")

    ids = ledger.hold_ids(np.arange(ledger.holds.size))
    if ids.size and ((np.diff(ids) <= 0).any() or ids[-1] >= ledger.next_hold_id):
        report.problems.append("hold ids are not strictly increasing below the next id")
    elif ids.size and not np.array_equal(ledger.hold_rows(ids), np.arange(ids.size)):
        report.problems.append("hold ids do not map back to their rows")

    keys, vals = ledger._seen.items()
    rows = vals - ledger._result_base
    live = (rows >= ledger._results_dead) & (rows < ledger.results.size)
    if not live.all():
        report.problems.append(f"{int((~live).sum())} op index entries point at no result")
    elif not np.array_equal(ledger.results["op"][rows], keys):
        report.problems.append("op index entries point at another op's result")
    return report
