"""The cost model's arithmetic, shared by every planner (integer paise throughout).

Each function works on Python ints and on numpy arrays alike, so the vectorised
fast path, the CP-SAT tables and the per-shipment breakdown use the same formulas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

INF = 1 << 40
"""Cost of an infeasible choice; six of them still fit in int64."""

PPM = 1_000_000  # parts per million per 1.0 (rto rates are kept in ppm, exactly)


def slabs(weight_g: Any, slab_g: int) -> Any:
    """Weight slabs billed: ``ceil(weight / slab_g)``."""
    return -(-weight_g // slab_g)


def shipping(first: Any, additional: Any, slab: Any) -> Any:
    """Parcel price: the first slab, then ``additional`` per further slab (slab ≥ 1)."""
    return first + (slab - 1) * additional


def rto(shipping_paise: Any, rto_ppm: Any) -> Any:
    """Expected return-to-origin loss: ``ceil(rto_rate × shipping)``, exactly (the rate in
    parts per million; ceil keeps it subadditive)."""
    return -(-(shipping_paise * rto_ppm) // PPM)


def drained_units(available: Any, qty: Any, threshold: int) -> Any:
    """Units of ``qty`` taken that leave fewer than ``threshold`` units behind."""
    return np.maximum(0, qty - np.maximum(0, available - threshold))


def late_days(eta_days: Any, promise_days: int | None) -> Any:
    """Days beyond the promise (0 when there is no promise)."""
    if promise_days is None:
        return eta_days * 0
    return np.maximum(0, eta_days - promise_days)


COMPONENTS = ("handling", "shipping", "fixed", "rto", "lateness", "stock_health")


@dataclass(frozen=True)
class CostBreakdown:
    """Expected cost of a shipment or plan, by component, in paise."""

    handling: int = 0
    shipping: int = 0
    fixed: int = 0
    rto: int = 0
    lateness: int = 0
    stock_health: int = 0

    @property
    def total(self) -> int:
        return (self.handling + self.shipping + self.fixed + self.rto + self.lateness
                + self.stock_health)

    def as_tuple(self) -> tuple[int, ...]:
        return (self.handling, self.shipping, self.fixed, self.rto, self.lateness,
                self.stock_health)

    def __add__(self, other: "CostBreakdown") -> "CostBreakdown":
        return CostBreakdown(self.handling + other.handling, self.shipping + other.shipping,
                             self.fixed + other.fixed, self.rto + other.rto,
                             self.lateness + other.lateness,
                             self.stock_health + other.stock_health)

    def __sub__(self, other: "CostBreakdown") -> "CostBreakdown":
        return CostBreakdown(self.handling - other.handling, self.shipping - other.shipping,
                             self.fixed - other.fixed, self.rto - other.rto,
                             self.lateness - other.lateness,
                             self.stock_health - other.stock_health)

    def rupees(self) -> dict[str, float]:
        """Rupees (2 decimals) per component, in :data:`COMPONENTS` order."""
        return rupees(self.as_tuple())

    def to_dict(self) -> dict[str, Any]:
        """:meth:`rupees`, then the total in rupees and the exact ``total_paise``."""
        return cost_json(self.as_tuple())


def rupees(parts: tuple[int, ...]) -> dict[str, float]:
    """Paise per component (:data:`COMPONENTS` order) as rupees, keyed by component."""
    h, s, f, r, la, sh = map(int, parts)
    return {"handling": h / 100, "shipping": s / 100, "fixed": f / 100, "rto": r / 100,
            "lateness": la / 100, "stock_health": sh / 100}


def cost_json(parts: tuple[int, ...]) -> dict[str, Any]:
    """A cost as the plan JSON shows it: :func:`rupees`, the total in rupees and the
    exact ``total_paise``."""
    out: dict[str, Any] = rupees(parts)
    total = sum(parts)
    out["total"] = inr(total)
    out["total_paise"] = total
    return out


def inr(paise: int) -> float:
    """Paise as rupees, to 2 decimals: ``paise / 100`` already is (the nearest double to
    an exact 2-decimal value is what ``round(…, 2)`` would return; tested)."""
    return int(paise) / 100
