"""A plan that explains itself: shipments, cost breakdown, ETA, solver, runner-up.

:meth:`Plan.to_dict` is the JSON shape returned by the CLI and (later) the HTTP API;
docs/ROUTING.md documents every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import compress
from typing import Any, Sequence

import numpy as np

from routing.cost import COMPONENTS, CostBreakdown, inr
from routing.network_parts import Destination
from routing.order import Order, OrderLine
from routing.problem import PlanningProblem, Solution


@dataclass(frozen=True)
class Shipment:
    """One parcel: which warehouse ships which lines, its weight, ETA and cost."""

    warehouse: str
    warehouse_name: str
    lines: tuple[OrderLine, ...]
    weight_g: int
    slabs: int
    zone: str
    distance_km: float
    eta_days: int
    eta_date: date
    late_days: int
    cost: CostBreakdown

    @property
    def units(self) -> int:
        return sum(line.qty for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "warehouse": self.warehouse, "warehouse_name": self.warehouse_name,
            "lines": [{"sku": l.sku, "qty": l.qty} for l in self.lines],
            "units": self.units, "weight_g": self.weight_g, "slabs": self.slabs,
            "zone": self.zone, "distance_km": round(self.distance_km, 1),
            "eta_days": self.eta_days, "eta_date": self.eta_date.isoformat(),
            "late_days": self.late_days, "cost": self.cost.to_dict(),
        }


@dataclass(frozen=True)
class RunnerUp:
    """The second-best plan, what it does differently and by how much, per component,
    it loses."""

    shipments: tuple[Shipment, ...]
    cost: CostBreakdown
    extra: CostBreakdown  # runner-up minus best, per component
    changes: tuple[dict[str, Any], ...] = ()  # lines whose warehouses differ
    chosen_parcels: int = 0

    def why(self) -> str:
        return runner_up_why(self.extra.as_tuple(), [s.warehouse for s in self.shipments],
                             self.changes, self.chosen_parcels)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shipments": [{"warehouse": s.warehouse, "lines": [{"sku": l.sku, "qty": l.qty}
                                                               for l in s.lines],
                           "eta_days": s.eta_days} for s in self.shipments],
            "cost": self.cost.to_dict(),
            "extra_cost": inr(self.extra.total),
            "extra_by_component": self.extra.rupees(),
            "changes": [dict(c) for c in self.changes],
            "why": self.why(),
        }


def runner_up_why(extra: tuple[int, ...], warehouses: Sequence[str],
                  changes: Sequence[dict[str, Any]], chosen_parcels: int) -> str:
    """The runner-up's ``why``: what it ships differently (``changes``, from its parcels
    at ``warehouses``) and what that costs more (``extra``: paise per component, in
    :data:`~routing.cost.COMPONENTS` order)."""
    total = sum(extra)
    deltas = [(name, d) for name, d in zip(COMPONENTS, extra) if d]
    deltas.sort(key=lambda t: -abs(t[1]))
    parts = ", ".join(f"{name} {'+' if d > 0 else '−'}₹{abs(d) / 100:.2f}"
                      for name, d in deltas)
    n = len(warehouses)
    where = " + ".join(warehouses)
    moves = "; ".join(f"{c['sku']} from {_parts(c['to'])} instead of {_parts(c['from'])}"
                      for c in changes)
    parcels = f"{n} parcel{'s' if n > 1 else ''}: {where}"
    if chosen_parcels and chosen_parcels != n:
        parcels += f", against {chosen_parcels}"
    head = f"next best ships {moves} ({parcels})" if moves else \
        f"next best ships from {parcels}"
    tail = f": {parts}" if parts else ""
    if total == 0:
        return (f"{head} and costs the same; the chosen plan wins the tie-break "
                "(fewer parcels, then earlier ETA, then warehouses listed first in the "
                "network)" + tail)
    return f"{head} and costs ₹{total / 100:.2f} more{tail}"


def _parts(where: dict[str, int]) -> str:
    """``{"WH-A": 2, "WH-B": 1}`` → ``"WH-A (2) + WH-B (1)"``; one warehouse: its id."""
    if len(where) == 1:
        return next(iter(where))
    return " + ".join(f"{w} ({q})" for w, q in where.items())


@dataclass
class ShortLine:
    """A line no single warehouse can ship whole under the order's constraints."""

    sku: str
    qty: int
    reason: str                        # out_of_stock | promise | capacity
    best_warehouse: str | None
    best_available: int
    total_available: int
    earliest_eta_days: int | None = None
    substitutes: list[dict[str, Any]] = field(default_factory=list)
    split_would_fill: bool = False    # on-time, capacity-limited units add up to qty

    def to_dict(self) -> dict[str, Any]:
        out = {"sku": self.sku, "qty": self.qty, "reason": self.reason,
               "best_warehouse": self.best_warehouse, "best_available": self.best_available,
               "total_available": self.total_available,
               "split_would_fill": self.split_would_fill,
               "substitutes": self.substitutes}
        if self.earliest_eta_days is not None:
            out["earliest_eta_days"] = self.earliest_eta_days
        return out


NO_PLAN_FOUND = "no_plan_found"
"""The shortfall reason when the search stopped (time, budget) without a plan or a proof."""


@dataclass
class Shortfall:
    """Why an order cannot be planned, and what could be done instead."""

    reason: str                        # short_lines | max_shipments | capacity | no_plan_found
    message: str
    short_lines: list[ShortLine] = field(default_factory=list)
    min_shipments_needed: int | None = None
    ship_now: "Plan | dict[str, Any] | None" = None   # a plan, or its JSON already
    backorder: list[OrderLine] = field(default_factory=list)

    @property
    def about_stock(self) -> bool:
        """Whether the refusal is the stock's doing; not when the search stopped before
        finding a plan or proving there is none (planning again may fill the order)."""
        return self.reason != NO_PLAN_FOUND

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"reason": self.reason, "message": self.message,
                               "short_lines": [s.to_dict() for s in self.short_lines]}
        if self.min_shipments_needed is not None:
            out["min_shipments_needed"] = self.min_shipments_needed
        if self.short_lines:
            out["backorder_option"] = {
                "ship_now": (self.ship_now.to_dict() if isinstance(self.ship_now, Plan)
                             else self.ship_now),
                "backorder": [{"sku": l.sku, "qty": l.qty} for l in self.backorder],
            }
        return out


@dataclass
class Plan:
    """The routing answer for one order (planned or unfillable)."""

    order: Order
    destination: Destination
    solver: str
    solver_status: str
    split_lines: bool = False          # whether this order's lines could be split
    shipments: tuple[Shipment, ...] = ()
    cost: CostBreakdown | None = None
    runner_up: RunnerUp | None = None
    substitutions: list[dict[str, Any]] = field(default_factory=list)
    shortfall: Shortfall | None = None
    elapsed_ms: float = 0.0
    bound: int | None = None           # proven lower bound on the optimum (paise)

    @property
    def gap(self) -> float | None:
        """Proven optimality gap: (cost − bound) / cost (0 when proved optimal)."""
        if self.cost is None or self.bound is None:
            return None
        total = self.cost.total
        return 0.0 if total <= 0 else max(0.0, (total - self.bound) / total)

    def splits(self) -> list[dict[str, Any]]:
        """Lines whose units ship from more than one warehouse, with each part."""
        parts: dict[str, list[dict[str, Any]]] = {}
        for s in self.shipments:
            for line in s.lines:
                parts.setdefault(line.sku, []).append({"warehouse": s.warehouse,
                                                       "qty": line.qty})
        return [{"sku": sku, "qty": sum(p["qty"] for p in ps), "parts": ps}
                for sku, ps in parts.items() if len(ps) > 1]

    @property
    def filled(self) -> bool:
        return self.shortfall is None

    @property
    def status(self) -> str:
        return "planned" if self.filled else "unfillable"

    @property
    def eta_days(self) -> int | None:
        return max((s.eta_days for s in self.shipments), default=None)

    def to_dict(self) -> dict[str, Any]:
        d = self.destination
        ships = self.shipments
        eta_date = max((s.eta_date for s in ships), default=None)
        gap = self.gap
        return {
            "status": self.status,
            "order": self.order.to_dict(),
            "destination": {"pincode": d.pincode, "city": d.city, "state": d.state,
                            "rto_rate": d.rto_rate},
            "solver": self.solver,
            "solver_status": self.solver_status,
            "currency": "INR",
            "shipments": [s.to_dict() for s in ships],
            "cost": None if self.cost is None else self.cost.to_dict(),
            "eta_days": max((s.eta_days for s in ships), default=None),
            "eta_date": None if eta_date is None else eta_date.isoformat(),
            "runner_up": None if self.runner_up is None else self.runner_up.to_dict(),
            "substitutions": self.substitutions,
            "split_lines": self.split_lines,
            "splits": self.splits() if len(ships) > 1 else [],   # one parcel: nothing split
            "shortfall": None if self.shortfall is None else self.shortfall.to_dict(),
            "bound": None if self.bound is None else inr(self.bound),
            "gap": None if gap is None else round(gap, 6),
            "elapsed_ms": round(self.elapsed_ms, 3),
        }


def shipments_of(problem: PlanningProblem, alloc: np.ndarray, today: date) -> tuple[Shipment, ...]:
    """Group a units allocation ``(L, C)`` into parcels, sorted by warehouse id."""
    net = problem.network
    t = problem.scalars
    promise = problem.order.promise_days
    rows = np.asarray(alloc, np.int64).tolist()         # exact Python ints from here on
    out = []
    for c in sorted({c for row in rows for c in compress(range(len(row)), row)}):
        col = [row[c] for row in rows]
        w = t.cand[c]
        wh = net.warehouses[w]
        weight = sum(x * g for x, g in zip(col, t.unit_weight))
        eta = t.eta[c]
        out.append(Shipment(
            warehouse=wh.id, warehouse_name=wh.name,
            lines=tuple(OrderLine(sku, x) for sku, x in zip(problem.skus, col) if x),
            weight_g=weight, slabs=-(-weight // problem.slab_g),
            zone=t.zone[w], distance_km=t.distance_km[w],
            eta_days=eta, eta_date=today + timedelta(days=eta),
            late_days=0 if promise is None else max(0, eta - promise),
            cost=problem.part_cost(col, c),
        ))
    if len(out) > 1:
        out.sort(key=lambda s: s.warehouse)
    return tuple(out)


def _total(shipments: tuple[Shipment, ...]) -> CostBreakdown:
    if not shipments:
        return CostBreakdown()
    total = shipments[0].cost
    for s in shipments[1:]:
        total = total + s.cost
    return total


def tie_key(problem: PlanningProblem, alloc: np.ndarray) -> tuple[Any, ...]:
    """The documented tie-break between plans of equal cost: fewer parcels, then the
    earlier ETA, then warehouses listed earlier in the network file."""
    used = np.flatnonzero(alloc.sum(axis=0))
    eta = int(problem.eta[used].max()) if len(used) else 0
    return (len(used), eta, tuple(int(problem.cand[c]) for c in used),
            tuple(-int(x) for x in alloc[:, used].T.ravel()))


def changes(problem: PlanningProblem, best: np.ndarray, other: np.ndarray) -> tuple[dict[str, Any], ...]:
    """Per line whose parts differ: ``{"sku", "from": {wh: qty}, "to": {wh: qty}}``."""
    ids = problem.network.warehouse_ids
    cand = problem.scalars.cand

    def parts(row: list[int]) -> dict[str, int]:
        return {ids[cand[c]]: row[c] for c in compress(range(len(row)), row)}

    return tuple({"sku": sku, "from": parts(b), "to": parts(o)}
                 for sku, b, o in zip(problem.skus, np.asarray(best, np.int64).tolist(),
                                      np.asarray(other, np.int64).tolist()) if b != o)


def build_plan(problem: PlanningProblem, solution: Solution, order: Order, today: date) -> Plan:
    """A filled :class:`Plan` from a solution (``order`` is the order as the caller gave it).

    When the runner-up costs exactly as much as the best plan, :func:`tie_key` decides
    which of the two is chosen."""
    best = solution.best_alloc(problem)
    assert best is not None
    second = solution.second_alloc(problem)
    if second is not None and solution.runner_up_cost == solution.cost \
            and tie_key(problem, second) < tie_key(problem, best):
        best, second = second, best
    shipments = shipments_of(problem, best, today)
    cost = _total(shipments)
    runner = None
    if second is not None:
        r_ship = shipments_of(problem, second, today)
        r_cost = _total(r_ship)
        runner = RunnerUp(r_ship, r_cost, r_cost - cost, changes(problem, best, second),
                          len(shipments))
    return Plan(order=order, destination=problem.destination, solver=solution.solver,
                solver_status=solution.status, split_lines=problem.split, shipments=shipments,
                cost=cost, runner_up=runner,
                bound=cost.total if solution.status == "optimal" else solution.bound)
