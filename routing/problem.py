"""One order's planning problem: candidate warehouses and every cost term as arrays.

:func:`build_problem` turns (order, network, catalog, availability) into a
:class:`Problem` whose arrays are indexed by line ``l`` and *candidate* warehouse
``c`` (the warehouses that can serve at least one line). Both planners read only
this; :class:`Solution` is what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from allocator.catalog import Catalog
from routing import cost as C
from routing.availability import Availability
from routing.cost import CostBreakdown
from routing.network import Destination, Network
from routing.order import Order

UNLIMITED = np.int64(1 << 40)


@dataclass
class Problem:
    """Arrays for one order. ``l`` = line, ``c`` = candidate warehouse."""

    network: Network
    order: Order
    dest: int
    skus: tuple[str, ...]
    qty: np.ndarray            # (L,)
    weight_g: np.ndarray       # (L,) line weight = unit weight × qty
    avail: np.ndarray          # (L, W) availability over all network warehouses
    eta_all: np.ndarray        # (W,) transit days to the destination
    capacity_all: np.ndarray   # (W,) units the warehouse can still ship (UNLIMITED if none)
    cand: np.ndarray           # (C,) network index of each candidate
    eligible: np.ndarray       # (L, C) line l can ship whole from c
    handling: np.ndarray       # (L, C) paise
    health: np.ndarray         # (L, C) stock-health penalty, paise
    first: np.ndarray          # (C,) paise
    additional: np.ndarray     # (C,) paise
    fixed: np.ndarray          # (C,) paise
    lateness: np.ndarray       # (C,) paise per shipment from c
    eta: np.ndarray            # (C,) days
    capacity: np.ndarray       # (C,)
    rto_bp: int
    slab_g: int
    line_cost: np.ndarray = field(init=False)  # (L, C) handling + health

    def __post_init__(self) -> None:
        self.line_cost = self.handling + self.health

    @property
    def n_lines(self) -> int:
        return len(self.skus)

    @property
    def destination(self) -> Destination:
        return self.network.destinations[self.dest]

    def shipment_cost(self, lines: Sequence[int], c: int) -> CostBreakdown:
        """Cost of shipping ``lines`` together from candidate ``c`` (scalar path)."""
        lines = list(lines)
        slab = int(C.slabs(int(self.weight_g[lines].sum()), self.slab_g))
        ship = int(C.shipping(int(self.first[c]), int(self.additional[c]), slab))
        return CostBreakdown(
            handling=int(self.handling[lines, c].sum()),
            shipping=ship,
            fixed=int(self.fixed[c]),
            rto=int(C.rto(ship, self.rto_bp)),
            lateness=int(self.lateness[c]),
            stock_health=int(self.health[lines, c].sum()),
        )

    def assignment_cost(self, assignment: Sequence[int]) -> CostBreakdown:
        """Total cost of a line → candidate assignment."""
        total = CostBreakdown()
        for c, lines in group_lines(assignment).items():
            total = total + self.shipment_cost(lines, c)
        return total

    def assignment_feasible(self, assignment: Sequence[int]) -> bool:
        """Eligibility, capacity and max-shipments check of an assignment."""
        groups = group_lines(assignment)
        if self.order.max_shipments is not None and len(groups) > self.order.max_shipments:
            return False
        for c, lines in groups.items():
            if not self.eligible[lines, c].all():
                return False
            if int(self.qty[lines].sum()) > int(self.capacity[c]):
                return False
        return True

    def block_costs(self, masks: np.ndarray) -> np.ndarray:
        """Cost of shipping each block of lines from each candidate, ``(n_blocks, C)``.

        ``masks`` is a 0/1 int64 matrix ``(n_blocks, L)``; infeasible pairs cost
        :data:`routing.cost.INF`.
        """
        weight = masks @ self.weight_g
        units = masks @ self.qty
        ship = C.shipping(self.first[None, :], self.additional[None, :],
                          C.slabs(weight, self.slab_g)[:, None])
        total = (ship + C.rto(ship, self.rto_bp) + (self.fixed + self.lateness)[None, :]
                 + masks @ self.line_cost)
        ok = (masks @ (~self.eligible).astype(np.int64) == 0) & (
            units[:, None] <= self.capacity[None, :])
        return np.where(ok, total, C.INF)


def block_masks(n: int) -> np.ndarray:
    """0/1 membership matrix ``(2**n - 1, n)``: row ``b`` is the block with bitmask ``b + 1``."""
    bits = np.arange(1, 1 << n)[:, None] >> np.arange(n)[None, :]
    return (bits & 1).astype(np.int64)


def group_lines(assignment: Sequence[int]) -> dict[int, list[int]]:
    """``{candidate: [lines]}`` for a line → candidate assignment, in first-use order."""
    groups: dict[int, list[int]] = {}
    for line, c in enumerate(assignment):
        groups.setdefault(int(c), []).append(line)
    return groups


@dataclass
class Solution:
    """A planner's answer: best assignment (line → candidate), runner-up, status."""

    solver: str
    status: str                          # "optimal" | "feasible" | "infeasible" | "unknown"
    assignment: np.ndarray | None = None
    cost: int | None = None
    runner_up: np.ndarray | None = None
    runner_up_cost: int | None = None


def build_problem(
    order: Order,
    network: Network,
    catalog: Catalog,
    availability: Availability,
    *,
    capacity_left: np.ndarray | None = None,
    include_stock_health: bool = True,
) -> Problem:
    """Gather everything about ``order`` that the planners need, as arrays.

    ``capacity_left``: units each network warehouse can still ship today
    (default: the network's daily capacity; ``-1`` = unlimited).
    """
    dest = network.destination_index(order.destination)
    skus = order.skus
    qty = np.fromiter((line.qty for line in order.lines), np.int64, len(skus))
    unit_w = np.fromiter((catalog.sku(s).unit_weight_g for s in skus), np.int64, len(skus))
    avail = np.asarray(availability.rows(skus), dtype=np.int64)
    if avail.shape != (len(skus), network.n_warehouses):
        raise ValueError(f"availability rows have shape {avail.shape}, expected "
                         f"{(len(skus), network.n_warehouses)}")
    cap = network.capacity if capacity_left is None else np.asarray(capacity_left, np.int64)
    cap_all = np.where(cap < 0, UNLIMITED, cap)
    eta_all = network.transit_days[dest]

    ok = (avail >= qty[:, None]) & (cap_all[None, :] >= qty[:, None])
    if order.hard_promise:
        ok &= (eta_all <= order.promise_days)[None, :]
    cand = np.flatnonzero(ok.any(axis=0))
    a = avail[:, cand]
    health_units = C.drained_units(a, qty[:, None], network.stock_health_threshold)
    eta = eta_all[cand]
    return Problem(
        network=network, order=order, dest=dest, skus=skus, qty=qty,
        weight_g=unit_w * qty, avail=avail, eta_all=eta_all, capacity_all=cap_all,
        cand=cand, eligible=ok[:, cand],
        handling=qty[:, None] * network.handling_paise[cand][None, :],
        health=(health_units * network.stock_health_paise if include_stock_health
                else np.zeros_like(health_units)),
        first=network.first_paise[dest, cand], additional=network.additional_paise[dest, cand],
        fixed=network.fixed_paise[cand],
        lateness=C.late_days(eta, order.promise_days) * network.lateness_paise_per_day,
        eta=eta, capacity=cap_all[cand],
        rto_bp=int(network.rto_bp[dest]), slab_g=network.slab_g,
    )
