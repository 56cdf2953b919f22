"""routing: which warehouses ship which lines of an order, at what cost, arriving when.

Public API (see docs/ROUTING.md):

* :class:`Network` (``Network.load(path)``, :func:`demo_network`) — the delivery network;
* :class:`Order` (``Order.from_dict``) — an order to route;
* :class:`Availability` and :class:`StockMatrix` / :class:`StockMap` /
  :class:`StockFunction` — available units per (SKU, warehouse);
* :class:`Router` (``Router(network, catalog).plan(order, availability)``) → :class:`Plan`;
* :func:`allocate_batch` / :func:`greedy_allocate` → :class:`BatchAllocation` — joint
  allocation of a burst of orders competing for scarce stock.
"""

from routing.availability import (Availability, StockFunction, StockMap, StockMatrix,
                                  as_availability, demo_stock, load_stock)
from routing.batch import BatchAllocation, allocate_batch, greedy_allocate
from routing.errors import NetworkFileError, UnknownDestination
from routing.network import Network, demo_network
from routing.order import Order, OrderLine
from routing.plan import Plan
from routing.planner import Router, plan_order

__all__ = [
    "Availability", "BatchAllocation", "Network", "NetworkFileError", "Order", "OrderLine",
    "Plan", "Router", "StockFunction", "StockMap", "StockMatrix", "UnknownDestination",
    "allocate_batch", "as_availability", "demo_network", "demo_stock", "greedy_allocate",
    "load_stock", "plan_order",
]
