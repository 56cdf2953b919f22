"""Reconciliation, the pure part: one cell's ledger figures against the warehouse
system's (WMS) count, the cause of any difference, and the correction that is safe.

* ``match`` — the WMS counts what the ledger has on hand.
* ``in_flight_shipment`` — the WMS counts fewer units, by no more than the units
  committed and not yet shipped (or the ``in_transit`` the WMS reports): parcels picked
  and gone whose ``ship`` movement has not arrived. Nothing to correct: the movement
  will bring ``on_hand`` down.
* ``unexplained_shrinkage`` — the WMS counts fewer units than in-flight shipments
  explain: units are gone (damage, loss, a miscount upstream). Corrected down, which is
  always safe — the ledger stops selling units that are not there. If the count falls
  below what is held and committed, the sync floors ``on_hand`` and records drift.
* ``phantom_stock`` — the WMS counts more units than the ledger knows. Raising
  availability on a count nobody explained can sell units that do not exist, so it is
  corrected only when the caller accepts increases; otherwise reported.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any


class Cause(str, Enum):
    MATCH = "match"
    IN_FLIGHT = "in_flight_shipment"
    SHRINKAGE = "unexplained_shrinkage"
    PHANTOM = "phantom_stock"


@dataclass(frozen=True)
class Finding:
    """One cell compared: the cause, and ``target`` — the on-hand to sync to — when a
    correction is to be applied (None: nothing to apply)."""

    sku: str
    warehouse: str
    ledger_on_hand: int
    held: int
    committed: int
    wms_on_hand: int
    in_flight: int
    difference: int  # wms - ledger
    cause: Cause
    target: int | None

    @property
    def unexplained(self) -> int:
        """Units of the difference no in-flight shipment explains (signed)."""
        return self.difference + self.in_flight if self.difference < 0 else self.difference

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "cause": self.cause.value, "unexplained": self.unexplained}


def classify(sku: str, warehouse: str, on_hand: int, held: int, committed: int,
             wms_on_hand: int, in_transit: int | None = None,
             accept_increases: bool = False) -> Finding:
    """Compare one cell. ``in_transit``: units the WMS says left and are not yet
    confirmed shipped (default: up to everything committed may be in flight)."""
    if min(on_hand, held, committed, wms_on_hand) < 0 or (in_transit or 0) < 0:
        raise ValueError(f"{sku}@{warehouse}: counts cannot be negative")
    difference = wms_on_hand - on_hand
    in_flight = min(-difference, committed if in_transit is None else min(in_transit,
                                                                          committed)) \
        if difference < 0 else 0
    if difference == 0:
        cause, target = Cause.MATCH, None
    elif difference < 0 and in_flight == -difference:
        cause, target = Cause.IN_FLIGHT, None
    elif difference < 0:
        # keep the in-flight units on hand: their ship movement will take them off
        cause, target = Cause.SHRINKAGE, wms_on_hand + in_flight
    else:
        cause, target = Cause.PHANTOM, (wms_on_hand if accept_increases else None)
    return Finding(sku, warehouse, on_hand, held, committed, wms_on_hand, in_flight,
                   difference, cause, target)


def summarise(findings: list[Finding], applied: int, stale: int) -> dict[str, Any]:
    """Counts per cause, units per cause, and what was corrected."""
    out: dict[str, Any] = {"cells": len(findings), "corrected": applied, "stale": stale}
    for cause in Cause:
        mine = [f for f in findings if f.cause is cause]
        out[cause.value] = len(mine)
        out[f"{cause.value}_units"] = sum(abs(f.unexplained) for f in mine)
    out["drift_incidents"] = out[Cause.SHRINKAGE.value] + out[Cause.PHANTOM.value]
    return out
