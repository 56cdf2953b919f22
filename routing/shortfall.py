"""Why a line cannot ship, and which substitutes could ship instead."""

from __future__ import annotations

from typing import Any

import numpy as np

from allocator.catalog import Catalog
from routing.availability import Availability
from routing.plan import ShortLine
from routing.problem import PlanningProblem


def line_filters(problem: PlanningProblem, avail: np.ndarray, qty: int) -> tuple[np.ndarray, ...]:
    """Masks over network warehouses: (has stock, also meets a hard promise, also has capacity)."""
    order = problem.order
    in_stock = avail >= qty
    on_time = in_stock & (problem.eta_all <= order.promise_days) if order.hard_promise else in_stock
    return in_stock, on_time, on_time & (problem.capacity_all >= qty)


def usable_units(problem: PlanningProblem, row: np.ndarray) -> np.ndarray:
    """Units of one SKU each network warehouse can send this order: on time (under a
    hard promise) and within its capacity left today; 0 elsewhere."""
    order = problem.order
    units = np.minimum(row, problem.capacity_all)
    if order.hard_promise:
        units = np.where(problem.eta_all <= order.promise_days, units, 0)
    return units


def short_lines(problem: PlanningProblem, catalog: Catalog, availability: Availability
                ) -> list[ShortLine]:
    """Lines the order cannot ship (whole from one warehouse; with split lines, from all
    of them together), with the reason and fillable substitutes.

    ``best_warehouse`` is the warehouse that can send the most units of the line to
    this order (never one that cannot send any: late under a hard promise, or with no
    capacity left); ``split_would_fill`` says whether the usable units of all
    warehouses together cover the line."""
    net = problem.network
    out = []
    for l, sku in enumerate(problem.skus):
        qty = int(problem.qty[l])
        row = problem.avail[l]
        usable = usable_units(problem, row)
        if problem.split:
            if usable.sum() >= qty:
                continue
            on_time_units = row if not problem.order.hard_promise else \
                np.where(problem.eta_all <= problem.order.promise_days, row, 0)
            reason = ("out_of_stock" if row.sum() < qty else
                      "promise" if on_time_units.sum() < qty else "capacity")
            in_stock = row > 0
        else:
            in_stock, on_time, ok = line_filters(problem, row, qty)
            if ok.any():
                continue
            reason = "out_of_stock" if not in_stock.any() else "promise" if not on_time.any() \
                else "capacity"
        best = int(np.argmax(usable))
        out.append(ShortLine(
            sku=sku, qty=qty, reason=reason,
            best_warehouse=net.warehouse_ids[best] if usable[best] > 0 else None,
            best_available=int(usable[best]), total_available=int(row.sum()),
            earliest_eta_days=(int(problem.eta_all[in_stock].min())
                               if reason == "promise" and in_stock.any() else None),
            substitutes=fillable_substitutes(problem, catalog, availability, sku, qty),
            split_would_fill=not problem.split and int(usable.sum()) >= qty,
        ))
    return out


def fillable_substitutes(problem: PlanningProblem, catalog: Catalog, availability: Availability,
                         sku: str, qty: int) -> list[dict[str, Any]]:
    """Catalog substitutes of ``sku`` (not already in the order) that one warehouse can ship."""
    subs = [s for s in catalog.sku(sku).substitutes if s not in problem.skus]
    if not subs:
        return []
    rows = availability.rows(subs)
    out = []
    for sub, row in zip(subs, rows):
        ok = line_filters(problem, row, qty)[2]
        if ok.any():
            best = int(np.argmax(np.where(ok, row, -1)))
            out.append({"sku": sub, "name": catalog.sku(sub).name,
                        "best_warehouse": problem.network.warehouse_ids[best],
                        "best_available": int(row[best])})
    return out


def partial_qty(problem: PlanningProblem, line: int) -> int:
    """Most units of a short line that could ship now (for the backorder option): from
    one warehouse, or with split lines from all of them."""
    usable = usable_units(problem, problem.avail[line])
    return int(min(usable.sum() if problem.split else usable.max(initial=0),
                   problem.qty[line]))
