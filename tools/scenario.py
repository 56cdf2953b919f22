"""Deterministic generated inputs: random networks and orders, and the flash-sale burst.

Everything here is a pure function of its seed, so tests and the benchmark are
reproducible.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

import numpy as np

from allocator.catalog import Catalog, Sku, Warehouse
from routing.availability import StockMatrix
from routing.network import DEMO_NETWORK_FILE, Network
from routing.order import Order, OrderLine


def demo_network_dict() -> dict[str, Any]:
    ref = resources.files("routing") / "data" / DEMO_NETWORK_FILE
    return json.loads(ref.read_text(encoding="utf-8"))


def random_network(rng: np.random.Generator, n_warehouses: int, n_destinations: int = 6,
                   capacity: bool = False) -> Network:
    """A small random network over India-shaped coordinates (for property tests)."""
    base = demo_network_dict()
    lat = lambda: round(float(rng.uniform(9, 31)), 2)  # noqa: E731
    lon = lambda: round(float(rng.uniform(70, 93)), 2)  # noqa: E731
    card = {}
    for zone in base["rate_card"]:
        first = int(rng.integers(30, 100))
        card[zone] = {"first_500g": first,
                      "each_additional_500g": int(rng.integers(5, first + 1))}
    base["rate_card"] = card
    base["lateness_penalty_per_day"] = int(rng.integers(0, 100))
    base["stock_health"] = {"threshold_units": int(rng.integers(0, 4)),
                            "penalty_per_unit": int(rng.integers(0, 30))}
    base["warehouses"] = [{
        "id": f"W{i}", "lat": lat(), "lon": lon(),
        "handling_per_unit": round(float(rng.uniform(0, 15)), 2),
        "fixed_per_shipment": round(float(rng.uniform(0, 40)), 2),
        "daily_capacity_units": int(rng.integers(1, 8)) if capacity and rng.random() < 0.5 else None,
        "rate_multiplier": round(float(rng.uniform(0.8, 1.2)), 2),
    } for i in range(n_warehouses)]
    base["destinations"] = [{
        "pincode": str(110001 + i), "lat": lat(), "lon": lon(),
        "zone": [None, "metro", "remote"][int(rng.integers(0, 3))],
        "rto_rate": round(float(rng.uniform(0.0, 0.3)), 3),
    } for i in range(n_destinations)]
    return Network.from_dict(base, source="random network")


def random_catalog(rng: np.random.Generator, n_skus: int) -> Catalog:
    skus = [Sku(f"S{i}", f"SKU {i}", int(rng.integers(50, 2500)),
                (f"S{i ^ 1}",) if (i ^ 1) < n_skus else ()) for i in range(n_skus)]
    return Catalog(skus, [Warehouse("W0", "W0", 0.0, 0.0)])


def random_stock(rng: np.random.Generator, catalog: Catalog, network: Network,
                 density: float = 0.6, max_units: int = 6) -> StockMatrix:
    shape = (len(catalog.skus), network.n_warehouses)
    units = np.where(rng.random(shape) < density, rng.integers(0, max_units + 1, shape), 0)
    return StockMatrix(catalog.sku_ids, units)


def random_order(rng: np.random.Generator, catalog: Catalog, network: Network,
                 n_lines: int, *, max_qty: int = 3, constraints: bool = True) -> Order:
    """A random order; with ``constraints`` it sometimes has a promise or max_shipments."""
    skus = rng.choice(len(catalog.skus), size=n_lines, replace=False)
    lines = tuple(OrderLine(catalog.skus[int(s)].id, int(rng.integers(1, max_qty + 1)))
                  for s in skus)
    dest = network.destinations[int(rng.integers(0, len(network.destinations)))].pincode
    promise = hard = max_ship = None
    if constraints:
        if rng.random() < 0.5:
            promise = int(rng.integers(1, 6))
            hard = bool(rng.random() < 0.3)
        if rng.random() < 0.3:
            max_ship = int(rng.integers(1, n_lines + 1))
    return Order(lines, dest, promise_days=promise, hard_promise=bool(hard),
                 max_shipments=max_ship)


def bench_network(n_warehouses: int = 50, seed: int = 11) -> Network:
    """The demo network's pincodes served by ``n_warehouses`` warehouses placed near
    randomly chosen real destination cities (coordinates jittered by up to ~20 km)."""
    rng = np.random.default_rng(seed)
    base = demo_network_dict()
    dests = base["destinations"]
    picks = rng.choice(len(dests), size=n_warehouses, replace=False)
    base["name"] = f"bench-india-{n_warehouses}"
    base["warehouses"] = [{
        "id": f"WH-{i:02d}", "name": f"FC near {dests[int(d)]['city']}",
        "city": dests[int(d)]["city"],
        "lat": round(dests[int(d)]["lat"] + float(rng.uniform(-0.15, 0.15)), 3),
        "lon": round(dests[int(d)]["lon"] + float(rng.uniform(-0.15, 0.15)), 3),
        "handling_per_unit": round(float(rng.uniform(7, 13)), 1),
        "fixed_per_shipment": round(float(rng.uniform(20, 32)), 1),
        "daily_capacity_units": int(rng.integers(5_000, 60_000)),
        "rate_multiplier": round(float(rng.uniform(0.93, 1.08)), 2),
    } for i, d in enumerate(picks)]
    return Network.from_dict(base, source=base["name"])


@dataclass(frozen=True)
class FlashSale:
    """A burst of orders (in arrival order) competing for scarce stock."""

    orders: tuple[Order, ...]
    stock: StockMatrix
    hot_skus: tuple[str, ...]


def flash_sale(network: Network, catalog: Catalog, *, seed: int = 2024, n_orders: int = 300,
               n_hot: int = 4, supply_ratio: float = 0.7) -> FlashSale:
    """A deterministic flash sale: ``n_orders`` orders on ``n_hot`` hot SKUs.

    Demand follows population-ish weights (metros ×4); 25 % of orders carry two hot
    SKUs; total stock is ``supply_ratio`` of demand, spread unevenly: most of each
    SKU sits in two or three warehouses, a trickle elsewhere.
    """
    rng = np.random.default_rng(seed)
    hot = tuple(catalog.skus[i].id for i in range(n_hot))
    weights = np.array([4.0 if d.zone == "metro" else 1.0 for d in network.destinations])
    weights /= weights.sum()
    orders = []
    demand = np.zeros(n_hot, np.int64)
    for i in range(n_orders):
        k = 2 if rng.random() < 0.25 else 1
        picks = rng.choice(n_hot, size=k, replace=False, p=_zipf(n_hot))
        lines = []
        for s in picks:
            q = 2 if rng.random() < 0.1 else 1
            demand[s] += q
            lines.append(OrderLine(hot[int(s)], q))
        dest = network.destinations[int(rng.choice(len(weights), p=weights))].pincode
        promise = int(rng.integers(2, 6))
        orders.append(Order(tuple(lines), dest, promise_days=promise, id=f"FS-{i:04d}"))
    matrix = np.zeros((n_hot, network.n_warehouses), np.int64)
    for s in range(n_hot):
        total = int(demand[s] * supply_ratio)
        share = rng.dirichlet(np.full(network.n_warehouses, 0.3))
        matrix[s] = np.floor(share * total).astype(np.int64)
        matrix[s, int(np.argmax(share))] += total - int(matrix[s].sum())
    return FlashSale(tuple(orders), StockMatrix(list(hot), matrix), hot)


def scattered_bulk(sale: FlashSale, network: Network, *, seed: int = 2024,
                   max_units: int = 6, qty: tuple[int, int] = (3, 8)
                   ) -> tuple[list[Order], StockMatrix]:
    """Where splitting matters: the second half of ``sale``'s orders with each line
    raised to ``qty`` units (a reseller's or an office's basket), against the sale's
    SKUs scattered thinly over every warehouse (0–``max_units`` units per cell), as
    late in a sale or after returns come back to many warehouses."""
    rng = np.random.default_rng(seed)
    stock = StockMatrix(list(sale.hot_skus),
                        rng.integers(0, max_units + 1, (len(sale.hot_skus), network.n_warehouses)))
    orders = [o.with_lines(tuple(OrderLine(l.sku, int(rng.integers(qty[0], qty[1] + 1)))
                                 for l in o.lines))
              for o in sale.orders[len(sale.orders) // 2:]]
    return orders, stock


def _zipf(n: int) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1)
    return w / w.sum()
