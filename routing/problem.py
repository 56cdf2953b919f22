"""One order's planning problem: candidate warehouses and every cost term as arrays.

:func:`build_problem` turns (order, network, catalog, availability) into a
:class:`PlanningProblem` whose arrays are indexed by line ``l`` and *candidate* warehouse
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
from routing.network import Network
from routing.network_parts import Destination
from routing.order import Order

UNLIMITED = np.int64(1 << 40)


@dataclass
class PlanningProblem:
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
    rto_ppm: int
    slab_g: int
    split: bool = False        # a line's units may come from several candidates
    units_max: np.ndarray = field(default=None)  # type: ignore[assignment]  # (L, C)
    unit_weight: np.ndarray = field(default=None)  # type: ignore[assignment]  # (L,)
    health_paise: int = 0      # stock-health penalty per drained unit (0: not priced)
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
            rto=int(C.rto(ship, self.rto_ppm)),
            lateness=int(self.lateness[c]),
            stock_health=int(self.health[lines, c].sum()),
        )

    def part_cost(self, units: np.ndarray, c: int) -> CostBreakdown:
        """Cost of one parcel from candidate ``c`` carrying ``units[l]`` of each line."""
        u = np.asarray(units, np.int64).tolist()      # exact Python ints: a few lines
        slab = C.slabs(sum(x * g for x, g in zip(u, self.unit_weight.tolist())), self.slab_g)
        ship = int(C.shipping(int(self.first[c]), int(self.additional[c]), slab))
        w = int(self.cand[c])
        thr = self.network.stock_health_threshold
        drained = sum(max(0, x - max(0, a - thr)) for x, a in zip(u, self.avail[:, w].tolist()))
        return CostBreakdown(
            handling=sum(u) * int(self.network.handling_paise[w]),
            shipping=ship, fixed=int(self.fixed[c]), rto=int(C.rto(ship, self.rto_ppm)),
            lateness=int(self.lateness[c]),
            stock_health=drained * self.health_paise)

    def alloc_of(self, assignment: Sequence[int]) -> np.ndarray:
        """The ``(L, C)`` units matrix of a whole-line assignment (line → candidate)."""
        alloc = np.zeros((self.n_lines, len(self.cand)), np.int64)
        alloc[np.arange(self.n_lines), np.asarray(assignment, np.int64)] = self.qty
        return alloc

    def alloc_cost(self, alloc: np.ndarray) -> CostBreakdown:
        """Total cost of a units allocation ``(L, C)``: one parcel per candidate used."""
        total = CostBreakdown()
        for c in np.flatnonzero(alloc.sum(axis=0)):
            total = total + self.part_cost(alloc[:, c], int(c))
        return total

    def alloc_feasible(self, alloc: np.ndarray) -> bool:
        """Units per line, per-cell limits, capacity, max shipments and (whole-line
        orders) no line split."""
        alloc = np.asarray(alloc, np.int64)
        if (alloc < 0).any() or (alloc.sum(axis=1) != self.qty).any():
            return False
        if (alloc > self.units_max).any() or (alloc.sum(axis=0) > self.capacity).any():
            return False
        parts = (alloc > 0).sum(axis=1)
        if not self.split and (parts > 1).any():
            return False
        used = int((alloc.sum(axis=0) > 0).sum())
        return self.order.max_shipments is None or used <= self.order.max_shipments

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
        total = (ship + C.rto(ship, self.rto_ppm) + (self.fixed + self.lateness)[None, :]
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
    alloc: np.ndarray | None = None      # (L, C) units: set by split-aware solvers
    runner_up_alloc: np.ndarray | None = None
    bound: int | None = None             # proven lower bound on the optimum (paise)

    def best_alloc(self, problem: "PlanningProblem") -> np.ndarray | None:
        """The best plan as a units matrix ``(L, C)`` (whatever the solver returned)."""
        if self.alloc is not None:
            return self.alloc
        return None if self.assignment is None else problem.alloc_of(self.assignment)

    def second_alloc(self, problem: "PlanningProblem") -> np.ndarray | None:
        if self.runner_up_alloc is not None:
            return self.runner_up_alloc
        return None if self.runner_up is None else problem.alloc_of(self.runner_up)

    @property
    def found(self) -> bool:
        return self.assignment is not None or self.alloc is not None


def build_problem(
    order: Order,
    network: Network,
    catalog: Catalog,
    availability: Availability,
    *,
    capacity_left: np.ndarray | None = None,
    include_stock_health: bool = True,
    split: bool | None = None,
) -> PlanningProblem:
    """Gather everything about ``order`` that the planners need, as arrays.

    ``capacity_left``: units each network warehouse can still ship today
    (default: the network's daily capacity; ``-1`` = unlimited). ``split``: whether a
    line's units may come from several warehouses (default: the order's
    ``split_lines``, else the network policy).
    """
    if split is None:
        split = network.splits_for(order)
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

    on_time = (np.ones(network.n_warehouses, bool) if not order.hard_promise
               else eta_all <= order.promise_days)
    ok = (avail >= qty[:, None]) & (cap_all[None, :] >= qty[:, None]) & on_time[None, :]
    most = np.where(on_time[None, :], np.minimum(np.minimum(avail, cap_all[None, :]),
                                                 qty[:, None]), 0)
    cand = np.flatnonzero((most > 0).any(axis=0) if split else ok.any(axis=0))
    a = avail[:, cand]
    health_units = C.drained_units(a, qty[:, None], network.stock_health_threshold)
    eta = eta_all[cand]
    return PlanningProblem(
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
        rto_ppm=int(network.rto_ppm[dest]), slab_g=network.slab_g,
        split=bool(split), units_max=most[:, cand] if split else np.where(ok, qty[:, None], 0)[:, cand],
        unit_weight=unit_w, health_paise=network.stock_health_paise if include_stock_health else 0,
    )
