"""A stand-in for a legacy allocation flow, to try shadow mode without a real one: each
line ships whole from the nearest warehouse that holds it (what many order-management
systems do), and an order none can fill line by line is left unfilled. Also writes a
generated order log with those decisions."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from allocator.catalog import Catalog
from routing import Network, Order
from routing.availability import Availability
from tools.scenario import random_order


def nearest_stocked(order: Order, stock: Availability, network: Network) -> list[tuple[str, str, int]]:
    """The legacy decision for ``order``: per line, the nearest warehouse holding all its
    units; [] when some line has none."""
    dest = network.destination_index(order.destination)
    nearest = np.argsort(network.distance_km[dest], kind="stable")
    rows = stock.rows([line.sku for line in order.lines])
    out = []
    for line, row in zip(order.lines, rows):
        w = next((int(w) for w in nearest if row[w] >= line.qty), None)
        if w is None:
            return []
        out.append((line.sku, network.warehouse_ids[w], line.qty))
    return out


def write_order_log(folder: Path, catalog: Catalog, network: Network, stock: Availability,
                    n_orders: int, seed: int = 5) -> tuple[Path, Path]:
    """``orders.jsonl`` (one order per line) and ``decisions.jsonl`` (the legacy flow's
    choice for each) in ``folder``."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    orders, decisions = folder / "orders.jsonl", folder / "decisions.jsonl"
    with open(orders, "w") as fo, open(decisions, "w") as fd:
        for i in range(n_orders):
            order = random_order(rng, catalog, network, int(rng.integers(1, 4)),
                                 constraints=False)
            row = {"id": f"ORD-{i:05d}", "destination": order.destination,
                   "lines": [asdict(line) for line in order.lines]}
            fo.write(json.dumps(row) + "\n")
            lines = nearest_stocked(order, stock, network)
            fd.write(json.dumps({"order_id": row["id"], "lines": [
                {"sku": s, "warehouse": w, "qty": q} for s, w, q in lines]}) + "\n")
    return orders, decisions
