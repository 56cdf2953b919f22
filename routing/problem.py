"""One order's planning problem: candidate warehouses and every cost term as arrays.

:func:`build_problem` turns (order, network, catalog, availability) into a
:class:`PlanningProblem` whose arrays are indexed by line ``l`` and *candidate* warehouse
``c`` (the warehouses that can serve at least one line). Both planners read only
this; :class:`Solution` is what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from operator import mul
from typing import NamedTuple, Sequence

import numpy as np

from allocator.catalog import Catalog
from routing import cost as C
from routing.availability import Availability
from routing.cost import CostBreakdown
from routing.network import Network
from routing.network_parts import Destination
from routing.order import Order

UNLIMITED = np.int64(1 << 40)


class Scalars(NamedTuple):
    """A problem's arrays as Python lists, for pricing a few parcels and explaining short
    lines one by one: over a dozen warehouses plain Python is cheaper than numpy's
    per-call overhead, and numpy's element-by-element indexing. Read-only."""

    cand: list[int]            # (C,) network index of each candidate
    eta: list[int]             # (C,)
    first: list[int]           # (C,)
    additional: list[int]      # (C,)
    fixed: list[int]           # (C,)
    lateness: list[int]        # (C,)
    qty: list[int]             # (L,)
    unit_weight: list[int]     # (L,)
    avail_rows: list[list[int]]  # (L, W) units of each line at each network warehouse
    eta_all: list[int]         # (W,) transit days to the destination
    capacity_all: list[int]    # (W,)
    handling: list[int]        # (W,) per unit
    zone: list[str]            # (W,) zone name of each warehouse for the destination
    distance_km: list[float]   # (W,)


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
    _scalars: Scalars | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.line_cost = self.handling + self.health

    @property
    def scalars(self) -> Scalars:
        """The arrays parcels are priced and short lines explained from, as Python lists
        (built on first use)."""
        if self._scalars is not None:
            return self._scalars
        net = self.network
        self._scalars = Scalars(
            self.cand.tolist(), self.eta.tolist(), self.first.tolist(),
            self.additional.tolist(), self.fixed.tolist(), self.lateness.tolist(),
            self.qty.tolist(), self.unit_weight.tolist(), self.avail.tolist(),
            self.eta_all.tolist(), self.capacity_all.tolist(), *_sites(net, self.dest))
        return self._scalars

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
        u = [int(x) for x in units]                   # exact Python ints: a few lines
        t = self.scalars
        slab = C.slabs(sum(map(mul, u, t.unit_weight)), self.slab_g)
        ship = C.shipping(t.first[c], t.additional[c], slab)
        w = t.cand[c]
        thr = self.network.stock_health_threshold
        drained = sum([max(0, x - max(0, row[w] - thr)) for x, row in zip(u, t.avail_rows)])
        return CostBreakdown(
            handling=sum(u) * t.handling[w], shipping=ship, fixed=t.fixed[c],
            rto=C.rto(ship, self.rto_ppm), lateness=t.lateness[c],
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

    def block_costs(self, masks: np.ndarray | None = None) -> np.ndarray:
        """Cost of shipping each block of lines from each candidate, ``(n_blocks, C)``.

        ``masks`` is a 0/1 int64 matrix ``(n_blocks, L)`` (``None``: each line a block of
        its own, the identity, without the products); infeasible pairs cost
        :data:`routing.cost.INF`.
        """
        if masks is None:
            weight, units, line_cost, ok = self.weight_g, self.qty, self.line_cost, self.eligible
        else:
            weight, units = masks @ self.weight_g, masks @ self.qty
            line_cost = masks @ self.line_cost
            ok = masks @ (~self.eligible).astype(np.int64) == 0
        ship = C.shipping(self.first, self.additional, C.slabs(weight, self.slab_g)[:, None])
        total = ship + C.rto(ship, self.rto_ppm) + (self.fixed + self.lateness) + line_cost
        return np.where(ok & (units[:, None] <= self.capacity), total, C.INF)


def capacity_all(capacity: np.ndarray) -> np.ndarray:
    """Units each warehouse can still ship, :data:`UNLIMITED` for ``-1`` (no limit)."""
    return np.where(capacity < 0, UNLIMITED, capacity)


@lru_cache(maxsize=8)
def _capacity_all(network: Network) -> np.ndarray:
    """:func:`capacity_all` of the network's daily capacity (read-only, shared)."""
    out = capacity_all(network.capacity)
    out.flags.writeable = False
    return out


def _sites(network: Network, dest: int) -> tuple[list[int], list[str], list[float]]:
    """Handling per unit, zone name and distance of each warehouse for ``dest``, as
    Python values (shared, read-only)."""
    return _site_lists(network)[dest]


@lru_cache(maxsize=8)
def _site_lists(network: Network) -> list[tuple[list[int], list[str], list[float]]]:
    """:func:`_sites` of every destination, built once per network."""
    handling = network.handling_paise.tolist()
    names = [z.name for z in network.zones]
    return [(handling, [names[z] for z in zones], dist)
            for zones, dist in zip(network.zone.tolist(), network.distance_km.tolist())]


@lru_cache(maxsize=8)
def _by_destination(network: Network) -> np.ndarray:
    """``(D, 5, W)``: per destination, the warehouses' first-slab and additional-slab
    price, fixed cost, handling per unit and transit days — one gather per order
    (read-only, shared)."""
    n_dest, n_wh = network.first_paise.shape
    out = np.empty((n_dest, 5, n_wh), np.int64)
    out[:, 0], out[:, 1] = network.first_paise, network.additional_paise
    out[:, 2], out[:, 3] = network.fixed_paise, network.handling_paise
    out[:, 4] = network.transit_days
    out.flags.writeable = False
    return out


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
    qty = np.array([line.qty for line in order.lines], np.int64)
    unit_w = np.array([catalog.sku(s).unit_weight_g for s in skus], np.int64)
    avail = np.asarray(availability.rows(skus), dtype=np.int64)
    if avail.shape != (len(skus), network.n_warehouses):
        raise ValueError(f"availability rows have shape {avail.shape}, expected "
                         f"{(len(skus), network.n_warehouses)}")
    cap_all = (_capacity_all(network) if capacity_left is None
               else capacity_all(np.asarray(capacity_left, np.int64)))
    eta_all = network.transit_days[dest]

    q = qty[:, None]
    ok = (avail >= q) & (cap_all >= q)              # (L, W): line l ships whole from w
    on_time = eta_all <= order.promise_days if order.hard_promise else None
    if on_time is not None:
        ok &= on_time
    most = None                                     # (L, W): most units w can send of l
    if split:
        most = np.minimum(np.minimum(avail, cap_all), q)
        if on_time is not None:
            most = np.where(on_time, most, 0)
        cand = np.logical_or.reduce(most > 0, axis=0).nonzero()[0]
    else:
        cand = np.logical_or.reduce(ok, axis=0).nonzero()[0]
    return PlanningProblem(
        network=network, order=order, dest=dest, skus=skus, qty=qty,
        weight_g=unit_w * qty, avail=avail, eta_all=eta_all, capacity_all=cap_all, cand=cand,
        rto_ppm=int(network.rto_ppm[dest]), slab_g=network.slab_g, split=bool(split),
        unit_weight=unit_w, health_paise=network.stock_health_paise if include_stock_health else 0,
        **(_per_candidate(network, order, dest, avail, q, ok, most, cap_all, cand,
                          include_stock_health)
           if len(cand) else _no_candidates(len(skus))),
    )


def _per_candidate(network: Network, order: Order, dest: int, avail: np.ndarray,
                   q: np.ndarray, ok: np.ndarray, most: np.ndarray | None, cap_all: np.ndarray,
                   cand: np.ndarray, include_stock_health: bool) -> dict[str, np.ndarray]:
    """The problem's arrays over candidates, ``(L, C)`` and ``(C,)``; ``q`` is the
    quantities as a column, ``most`` the units each warehouse can send of each line for
    split orders (``None``: whole lines)."""
    eligible = ok[:, cand]
    health = C.drained_units(avail[:, cand], q, network.stock_health_threshold)
    first, additional, fixed, handling, eta = _by_destination(network)[dest][:, cand]
    return {
        "eligible": eligible, "handling": q * handling,
        "health": (health * network.stock_health_paise if include_stock_health
                   else np.zeros_like(health)),
        "first": first, "additional": additional, "fixed": fixed,
        "lateness": C.late_days(eta, order.promise_days) * network.lateness_paise_per_day,
        "eta": eta, "capacity": cap_all[cand],
        "units_max": np.where(eligible, q, 0) if most is None else most[:, cand],
    }


@lru_cache(maxsize=None)
def _no_candidates(n_lines: int) -> dict[str, np.ndarray]:
    """:func:`_per_candidate` when no warehouse can serve any line: every array is
    empty (shared: an empty array holds nothing to change)."""
    by_line, by_cand = np.zeros((n_lines, 0), np.int64), np.zeros(0, np.int64)
    return {"eligible": np.zeros((n_lines, 0), bool), "handling": by_line, "health": by_line,
            "first": by_cand, "additional": by_cand, "fixed": by_cand, "lateness": by_cand,
            "eta": by_cand, "capacity": by_cand, "units_max": by_line}
