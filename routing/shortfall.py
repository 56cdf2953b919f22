"""Why a line cannot ship, and which substitutes could ship instead."""

from __future__ import annotations

from typing import Any

import numpy as np

from allocator.catalog import Catalog
from routing.availability import Availability
from routing.plan import ShortLine
from routing.problem import Problem


def line_filters(problem: Problem, avail: np.ndarray, qty: int) -> tuple[np.ndarray, ...]:
    """Masks over network warehouses: (has stock, also meets a hard promise, also has capacity)."""
    order = problem.order
    in_stock = avail >= qty
    on_time = in_stock & (problem.eta_all <= order.promise_days) if order.hard_promise else in_stock
    return in_stock, on_time, on_time & (problem.capacity_all >= qty)


def short_lines(problem: Problem, catalog: Catalog, availability: Availability
                ) -> list[ShortLine]:
    """Lines that no warehouse can ship whole, with the reason and fillable substitutes."""
    net = problem.network
    out = []
    for l, sku in enumerate(problem.skus):
        qty = int(problem.qty[l])
        row = problem.avail[l]
        in_stock, on_time, ok = line_filters(problem, row, qty)
        if ok.any():
            continue
        reason = "out_of_stock" if not in_stock.any() else "promise" if not on_time.any() \
            else "capacity"
        best = int(np.argmax(row))
        out.append(ShortLine(
            sku=sku, qty=qty, reason=reason,
            best_warehouse=net.warehouse_ids[best] if row[best] > 0 else None,
            best_available=int(row[best]), total_available=int(row.sum()),
            earliest_eta_days=int(problem.eta_all[in_stock].min()) if reason == "promise" else None,
            substitutes=fillable_substitutes(problem, catalog, availability, sku, qty),
        ))
    return out


def fillable_substitutes(problem: Problem, catalog: Catalog, availability: Availability,
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


def partial_qty(problem: Problem, line: int) -> int:
    """Most units of a short line one warehouse could ship now (for the backorder option)."""
    row = problem.avail[line]
    _, on_time, _ = line_filters(problem, row, 1)
    return int(np.minimum(row, problem.capacity_all)[on_time].max(initial=0))
