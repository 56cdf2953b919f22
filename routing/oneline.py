"""One-line orders (most checkout orders) planned straight to the plan JSON.

For an order of one whole line the fast path's answer is simple: price the line at
every warehouse that can ship it, take the two cheapest (ties to the warehouse listed
first, then :func:`routing.plan.tie_key` between those two), and explain the
difference; when none can ship it, say why (the router's ``short_lines`` shortfall).
:class:`~routing.planner.Router` gets there through arrays, a
:class:`~routing.plan.Plan` and its ``to_dict``, most of the time spent building
objects for one parcel. :class:`OneLinePlanner` prices the dozen warehouses in plain
Python from per-destination lists built once and writes the same JSON directly (on
the demo network, back to back: about 50 µs against 150 µs).

It answers only what it answers exactly like the router (``tests/unit/
test_oneline.py`` checks the two are equal, field by field, on random orders, stock
and networks): one line, no substitutes to explore, a line that cannot split (split
off, or one unit), on the network's own daily capacity. Anything else is the
router's.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Callable, NamedTuple, Sequence

from allocator.catalog import Catalog
from routing.cost import cost_json, inr, rto, rupees
from routing.network import Network
from routing.order import Order, OrderLine
from routing.plan import runner_up_why


class _Site(NamedTuple):
    """What pricing a parcel to one destination needs, per warehouse (network order)."""

    first: list[int]
    additional: list[int]
    eta: list[int]
    zone: list[str]
    distance_km: list[float]
    rto_ppm: int
    destination: tuple[str, str, str, float]  # pincode, city, state, rto_rate


class OneLinePlanner:
    """Plans one-line whole-line orders over ``network`` as the router would, as JSON."""

    def __init__(self, network: Network, catalog: Catalog) -> None:
        self.network = network
        self.catalog = catalog
        self.ids = list(network.warehouse_ids)
        self.names = [w.name for w in network.warehouses]
        self.handling = network.handling_paise.tolist()
        self.fixed = network.fixed_paise.tolist()
        self.capacity = [c if c >= 0 else 1 << 40 for c in network.capacity.tolist()]
        self.order_w = range(len(self.ids))

    def applies(self, order: Order) -> bool:
        """Whether :meth:`plan` may answer ``order`` (else: the router)."""
        if len(order.lines) != 1 or order.allow_substitutes:
            return False
        return order.lines[0].qty == 1 or not self.network.splits_for(order)

    def plan(self, order: Order, row_of: Callable[[str], list[int]], today: date
             ) -> dict[str, Any] | None:
        """The plan JSON of an order :meth:`applies` to; ``row_of(sku)`` is a SKU's
        available units per network warehouse (the line's, and its substitutes' for a
        shortfall). ``None`` for availability below zero (the router's to explain).
        Unknown destination or SKU raise as the router's."""
        t0 = time.perf_counter()
        site = _site(self.network, self.network.destination_index(order.destination))
        line = order.lines[0]
        weight = self.catalog.sku(line.sku).unit_weight_g * line.qty
        row = row_of(line.sku)
        if min(row) < 0:
            return None
        out = self._filled(order, row, weight, site, today)
        if out is None:
            out = self._unfillable(order, row, row_of, site, today)
        out["elapsed_ms"] = round((time.perf_counter() - t0) * 1e3, 3)
        return out

    def _filled(self, order: Order, row: list[int], weight: int, site: _Site, today: date
                ) -> dict[str, Any] | None:
        """The cheapest warehouse's plan with the runner-up; None if none can ship."""
        net = self.network
        sku, qty = order.lines[0].sku, order.lines[0].qty
        promise = order.promise_days
        slab = -(-weight // net.slab_g)
        thr, health_paise = net.stock_health_threshold, net.stock_health_paise
        late_paise = net.lateness_paise_per_day
        best: tuple[int, int] | None = None      # (total, w), cheapest first
        second: tuple[int, int] | None = None
        for w in self.order_w:
            if row[w] < qty or self.capacity[w] < qty:
                continue
            eta = site.eta[w]
            late = 0 if promise is None else max(0, eta - promise)
            if order.hard_promise and late:
                continue
            ship = site.first[w] + (slab - 1) * site.additional[w]
            total = (ship + rto(ship, site.rto_ppm) + self.fixed[w] + late * late_paise
                     + qty * self.handling[w]
                     + max(0, qty - max(0, row[w] - thr)) * health_paise)
            if best is None or total < best[0]:
                best, second = (total, w), best
            elif second is None or total < second[0]:
                second = (total, w)
        if best is None:
            return None
        b, s = best[1], None if second is None else second[1]
        if s is not None and second[0] == best[0] and site.eta[s] < site.eta[b]:  # type: ignore[index]
            b, s = s, b          # routing.plan.tie_key between the two: earlier ETA
        chosen = self._cost(b, qty, row, slab, site, promise)
        shipment = self._shipment(b, sku, qty, weight, slab, site, promise, today,
                                  cost_json(chosen))
        runner = None if s is None else self._runner_up(b, s, sku, qty, row, slab, site,
                                                       promise, chosen)
        cost = cost_json(chosen)
        return self._render(order, site, "optimal", [shipment], cost, runner, None,
                            shipment["eta_days"], shipment["eta_date"], cost["total"], 0.0)

    def _unfillable(self, order: Order, row: list[int], row_of: Callable[[str], list[int]],
                    site: _Site, today: date) -> dict[str, Any]:
        """The line is short: why, its substitutes, and what could ship now (the router's
        ``short_lines`` shortfall, :mod:`routing.shortfall`)."""
        sku, qty = order.lines[0].sku, order.lines[0].qty
        promise = order.promise_days
        split = self.network.splits_for(order)     # here only with one unit
        late = [order.hard_promise and e > promise for e in site.eta]  # type: ignore[operator]
        usable = [0 if lt else min(a, c) for a, c, lt in zip(row, self.capacity, late)]
        earliest = None
        if max(row) < qty:
            reason = "out_of_stock"
        elif all(lt for a, lt in zip(row, late) if a >= qty):
            reason = "promise"
            earliest = min(e for e, a in zip(site.eta, row) if a >= qty)
        else:
            reason = "capacity"
        most = max(usable)
        short: dict[str, Any] = {
            "sku": sku, "qty": qty, "reason": reason,
            "best_warehouse": self.ids[usable.index(most)] if most > 0 else None,
            "best_available": most, "total_available": sum(row),
            "split_would_fill": not split and sum(usable) >= qty,
            "substitutes": self._substitutes(sku, qty, row_of, late)}
        if earliest is not None:
            short["earliest_eta_days"] = earliest
        now = most        # the most one warehouse can send: fewer than qty
        ship_now = None
        if now:
            ship_now = self._filled(order.with_lines((OrderLine(sku, now),)), row,
                                    self.catalog.sku(sku).unit_weight_g * now, site, today)
            if ship_now is not None:
                ship_now["elapsed_ms"] = 0.0       # a part of this plan, as the router's
        shortfall = {
            "reason": "short_lines", "message": f"no warehouse can ship {sku} ({reason})",
            "short_lines": [short],
            "backorder_option": {"ship_now": ship_now,
                                 "backorder": [{"sku": sku, "qty": qty - now}]}}
        return self._render(order, site, "infeasible", [], None, None, shortfall,
                            None, None, None, None)

    def _substitutes(self, sku: str, qty: int, row_of: Callable[[str], list[int]],
                     late: list[bool]) -> list[dict[str, Any]]:
        """Catalog substitutes one warehouse can ship whole, with the one holding most."""
        out = []
        for sub in self.catalog.sku(sku).substitutes:
            if sub == sku:
                continue
            row = row_of(sub)
            shown = [a if a >= qty and c >= qty and not lt else -1
                     for a, c, lt in zip(row, self.capacity, late)]
            most = max(shown)
            if most >= 0:
                out.append({"sku": sub, "name": self.catalog.sku(sub).name,
                            "best_warehouse": self.ids[shown.index(most)],
                            "best_available": most})
        return out

    def _render(self, order: Order, site: _Site, solver_status: str,
                shipments: list[dict[str, Any]], cost: dict[str, Any] | None,
                runner: dict[str, Any] | None, shortfall: dict[str, Any] | None,
                eta_days: int | None, eta_date: str | None, bound: float | None,
                gap: float | None) -> dict[str, Any]:
        """:meth:`routing.plan.Plan.to_dict`'s shape."""
        return {
            "status": "planned" if shortfall is None else "unfillable",
            "order": order.to_dict(),
            "destination": dict(zip(("pincode", "city", "state", "rto_rate"),
                                    site.destination)),
            "solver": "fastpath",
            "solver_status": solver_status,
            "currency": "INR",
            "shipments": shipments,
            "cost": cost,
            "eta_days": eta_days,
            "eta_date": eta_date,
            "runner_up": runner,
            "substitutions": [],
            "split_lines": self.network.splits_for(order),
            "splits": [],
            "shortfall": shortfall,
            "bound": bound,
            "gap": gap,
            "elapsed_ms": 0.0,
        }

    def _cost(self, w: int, qty: int, row: Sequence[int], slab: int, site: _Site,
              promise: int | None) -> tuple[int, ...]:
        """One parcel of the line from warehouse ``w``: paise per component, in
        :data:`~routing.cost.COMPONENTS` order."""
        ship = site.first[w] + (slab - 1) * site.additional[w]
        net = self.network
        late = 0 if promise is None else max(0, site.eta[w] - promise)
        return (qty * self.handling[w], ship, self.fixed[w], rto(ship, site.rto_ppm),
                late * net.lateness_paise_per_day,
                max(0, qty - max(0, row[w] - net.stock_health_threshold))
                * net.stock_health_paise)

    def _shipment(self, w: int, sku: str, qty: int, weight: int, slab: int, site: _Site,
                  promise: int | None, today: date, cost: dict[str, Any]) -> dict[str, Any]:
        eta = site.eta[w]
        return {
            "warehouse": self.ids[w], "warehouse_name": self.names[w],
            "lines": [{"sku": sku, "qty": qty}],
            "units": qty, "weight_g": weight, "slabs": slab,
            "zone": site.zone[w], "distance_km": round(site.distance_km[w], 1),
            "eta_days": eta, "eta_date": _eta_date(today, eta),
            "late_days": 0 if promise is None else max(0, eta - promise),
            "cost": cost,
        }

    def _runner_up(self, b: int, s: int, sku: str, qty: int, row: Sequence[int], slab: int,
                   site: _Site, promise: int | None, chosen: tuple[int, ...]
                   ) -> dict[str, Any]:
        cost = self._cost(s, qty, row, slab, site, promise)
        extra = tuple(x - y for x, y in zip(cost, chosen))
        changes = [{"sku": sku, "from": {self.ids[b]: qty}, "to": {self.ids[s]: qty}}]
        return {
            "shipments": [{"warehouse": self.ids[s], "lines": [{"sku": sku, "qty": qty}],
                           "eta_days": site.eta[s]}],
            "cost": cost_json(cost),
            "extra_cost": inr(sum(extra)),
            "extra_by_component": rupees(extra),
            "changes": changes,
            "why": runner_up_why(extra, [self.ids[s]], changes, 1),
        }


@lru_cache(maxsize=4096)
def _site(network: Network, dest: int) -> _Site:
    """Per-destination lists (built on first use, shared)."""
    d = network.destinations[dest]
    names = [z.name for z in network.zones]
    return _Site(network.first_paise[dest].tolist(), network.additional_paise[dest].tolist(),
                 network.transit_days[dest].tolist(),
                 [names[z] for z in network.zone[dest].tolist()],
                 network.distance_km[dest].tolist(), int(network.rto_ppm[dest]),
                 (d.pincode, d.city, d.state, d.rto_rate))


@lru_cache(maxsize=64)
def _eta_date(today: date, eta_days: int) -> str:
    return (today + timedelta(days=eta_days)).isoformat()
