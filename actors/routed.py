"""reserve's planner: route an order on live shard availability (routing/ on actors/).

:class:`RoutedPlanner` is the ``planner`` callable that :class:`Reservations.reserve`
calls before every hold attempt: it reads current availability of the order's SKUs
(and their catalog substitutes, for the shortfall answer) from the owning shards,
plans with :class:`routing.Router`, and returns the lines to hold with the plan JSON.
An order no plan can fill raises :class:`InsufficientStock` carrying the plan's
shortfall (short lines, substitutes, backorder option).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from allocator.catalog import Catalog
from allocator.errors import CatalogError, InsufficientStock
from routing import Network, Order, Plan, Router, StockMap

Line = tuple[str, str, int]
AvailableFn = Callable[[Sequence[str]], Mapping[str, Mapping[str, int]]]


class RoutedPlanner:
    """Plans an order over ``network`` with stock read through ``available``."""

    def __init__(self, network: Network, catalog: Catalog, router: Router | None = None) -> None:
        missing = set(network.warehouse_ids) - set(catalog.warehouse_ids)
        if missing:
            raise CatalogError(f"network warehouses {sorted(missing)} are not in the catalog")
        self.network = network
        self.catalog = catalog
        self.router = router or Router(network, catalog)

    def skus_to_read(self, order: Order) -> list[str]:
        """The order's SKUs and their substitutes (validated against the catalog)."""
        out: dict[str, None] = {}
        for sku in order.skus:
            out[sku] = None
            for sub in self.catalog.sku(sku).substitutes:  # UnknownSku for a bad id
                out[sub] = None
        return list(out)

    def availability(self, order: Order, available: AvailableFn) -> StockMap:
        """Live availability of the order's SKUs, in the network's warehouse order."""
        live = available(self.skus_to_read(order))
        whs = self.network.warehouse_ids
        rows = {sku: np.fromiter((per_wh.get(w, 0) for w in whs), np.int64, len(whs))
                for sku, per_wh in live.items()}
        return StockMap(rows, len(whs))

    def quote(self, order: Order, available: AvailableFn) -> Plan:
        """The plan on current availability (nothing is held)."""
        self.network.destination_index(order.destination)  # UnknownDestination first
        return self.router.plan(order, self.availability(order, available))

    def __call__(self, order: Order, available: AvailableFn) -> tuple[list[Line], dict[str, Any]]:
        plan = self.quote(order, available)
        if not plan.filled:
            raise unfillable_error(plan)
        lines = [(line.sku, s.warehouse, line.qty) for s in plan.shipments for line in s.lines]
        return lines, plan.to_dict()


def unfillable_error(plan: Plan) -> InsufficientStock:
    """The error reserve raises for an order no plan can fill, with the shortfall."""
    shortfall = plan.shortfall
    assert shortfall is not None
    return InsufficientStock(shortfall.message, reason=shortfall.reason,
                             shortfall=shortfall.to_dict())
