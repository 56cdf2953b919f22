"""Why a line cannot ship, and which substitutes could ship instead."""

from __future__ import annotations

from typing import Any

import numpy as np

from allocator.catalog import Catalog
from routing.availability import Availability
from routing.plan import ShortLine
from routing.problem import PlanningProblem


def line_filters(problem: PlanningProblem, avail: list[int], qty: int
                 ) -> tuple[list[bool], list[bool], list[bool]]:
    """Per network warehouse: (has stock, also meets a hard promise, also has capacity).

    Lists rather than arrays: one line over a few warehouses is cheaper in Python."""
    t = problem.scalars
    in_stock = [a >= qty for a in avail]
    on_time = ([s and e <= problem.order.promise_days for s, e in zip(in_stock, t.eta_all)]
               if problem.order.hard_promise else in_stock)
    return in_stock, on_time, [o and c >= qty for o, c in zip(on_time, t.capacity_all)]


def usable_units(problem: PlanningProblem, row: list[int]) -> list[int]:
    """Units of one SKU each network warehouse can send this order: on time (under a
    hard promise) and within its capacity left today; 0 elsewhere."""
    t = problem.scalars
    units = [min(a, c) for a, c in zip(row, t.capacity_all)]
    if problem.order.hard_promise:
        return _on_time(problem, units)
    return units


def _on_time(problem: PlanningProblem, units: list[int]) -> list[int]:
    """``units`` where the warehouse meets the order's (hard) promise, 0 elsewhere."""
    promise = problem.order.promise_days
    return [u if e <= promise else 0 for u, e in zip(units, problem.scalars.eta_all)]


def short_lines(problem: PlanningProblem, catalog: Catalog, availability: Availability
                ) -> list[ShortLine]:
    """Lines the order cannot ship (whole from one warehouse; with split lines, from all
    of them together), with the reason and fillable substitutes.

    ``best_warehouse`` is the warehouse that can send the most units of the line to
    this order (never one that cannot send any: late under a hard promise, or with no
    capacity left); ``split_would_fill`` says whether the usable units of all
    warehouses together cover the line."""
    net = problem.network
    t = problem.scalars
    out = []
    for sku, qty, row in zip(problem.skus, t.qty, t.avail_rows):
        usable = usable_units(problem, row) if any(row) else row   # none anywhere: zeros
        earliest = None
        if problem.split:
            if sum(usable) >= qty:
                continue
            on_time_units = _on_time(problem, row) if problem.order.hard_promise else row
            reason = ("out_of_stock" if sum(row) < qty else
                      "promise" if sum(on_time_units) < qty else "capacity")
            if reason == "promise":
                earliest = min(e for e, a in zip(t.eta_all, row) if a > 0)
        elif max(row) < qty:               # no warehouse holds the line whole
            reason = "out_of_stock"
        else:
            in_stock, on_time, ok = line_filters(problem, row, qty)
            if any(ok):
                continue
            reason = "promise" if not any(on_time) else "capacity"
            if reason == "promise":
                earliest = min(e for e, s in zip(t.eta_all, in_stock) if s)
        most = max(usable)
        best = usable.index(most)          # the first of the largest, as argmax
        out.append(ShortLine(
            sku=sku, qty=qty, reason=reason,
            best_warehouse=net.warehouse_ids[best] if most > 0 else None,
            best_available=most, total_available=sum(row), earliest_eta_days=earliest,
            substitutes=fillable_substitutes(problem, catalog, availability, sku, qty),
            split_would_fill=not problem.split and sum(usable) >= qty,
        ))
    return out


def fillable_substitutes(problem: PlanningProblem, catalog: Catalog, availability: Availability,
                         sku: str, qty: int) -> list[dict[str, Any]]:
    """Catalog substitutes of ``sku`` (not already in the order) that one warehouse can ship."""
    subs = [s for s in catalog.sku(sku).substitutes if s not in problem.skus]
    if not subs:
        return []
    rows = np.asarray(availability.rows(subs), np.int64).tolist()
    out = []
    for sub, row in zip(subs, rows):
        if max(row) < qty:                 # held whole nowhere
            continue
        ok = line_filters(problem, row, qty)[2]
        if any(ok):
            shown = [a if k else -1 for a, k in zip(row, ok)]
            best = shown.index(max(shown))
            out.append({"sku": sub, "name": catalog.sku(sub).name,
                        "best_warehouse": problem.network.warehouse_ids[best],
                        "best_available": row[best]})
    return out


def partial_qty(problem: PlanningProblem, line: int) -> int:
    """Most units of a short line that could ship now (for the backorder option): from
    one warehouse, or with split lines from all of them."""
    t = problem.scalars
    row = t.avail_rows[line]
    if not any(row):
        return 0
    usable = usable_units(problem, row)
    return min(sum(usable) if problem.split else max([0, *usable]), t.qty[line])
