"""reserve's planner: route an order on the client's availability view.

:class:`RoutedPlanner` reads the availability of the order's SKUs and their catalog
substitutes (the shortfall answer names them) as rows in the layout's warehouse
order, plans with :class:`routing.Router`, and returns the lines to hold with the
plan JSON. An order no plan can fill raises :class:`InsufficientStock` carrying the
plan's shortfall (short lines, substitutes, backorder option).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from allocator.catalog import Catalog
from allocator.errors import CatalogError, InsufficientStock
from routing import Network, Order, Plan, Router, StockMap

Line = tuple[str, str, int]
Rows = Mapping[str, np.ndarray]  # sku -> available units per warehouse (layout order)


class RoutedPlanner:
    """Plans orders over ``network``; availability rows come in ``warehouses`` order."""

    def __init__(self, network: Network, catalog: Catalog, warehouses: Sequence[str],
                 router: Router | None = None) -> None:
        missing = set(network.warehouse_ids) - set(catalog.warehouse_ids)
        if missing:
            raise CatalogError(f"network warehouses {sorted(missing)} are not in the catalog")
        self.network = network
        self.catalog = catalog
        self.router = router or Router(network, catalog)
        col = {w: j for j, w in enumerate(warehouses)}
        self._take = np.array([col[w] for w in network.warehouse_ids], np.int64)

    def skus_to_read(self, order: Order) -> list[str]:
        """The order's SKUs and their substitutes (UnknownSku for a bad id)."""
        out: dict[str, None] = {}
        for sku in order.skus:
            out[sku] = None
            for sub in self.catalog.sku(sku).substitutes:
                out[sub] = None
        return list(out)

    def plan(self, order: Order, rows: Rows) -> Plan:
        """The plan on these availability rows (nothing is held)."""
        self.network.destination_index(order.destination)  # UnknownDestination first
        stock = StockMap({s: r[self._take] for s, r in rows.items()}, len(self._take))
        return self.router.plan(order, stock)

    @staticmethod
    def lines_of(plan: Plan) -> list[Line]:
        """What to hold for a filled plan; InsufficientStock with the shortfall if not."""
        if not plan.filled:
            shortfall = plan.shortfall
            assert shortfall is not None
            raise InsufficientStock(shortfall.message, reason=shortfall.reason,
                                    shortfall=shortfall.to_dict())
        return [(line.sku, s.warehouse, line.qty) for s in plan.shipments for line in s.lines]

    def plan_json(self, plan: Plan) -> dict[str, Any]:
        return plan.to_dict()
