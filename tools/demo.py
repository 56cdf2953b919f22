"""The in-process flash-sale demo: many buyers, a few hot SKUs, abandons and expiries.

Buyers arrive in ticks of one simulated second; each tick is one batch applied to the
ledger (holds FCFS, then the commits, releases and shipments that fall due). At the
end the clock runs past every TTL and the ledger is audited.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from allocator.audit import audit
from allocator.catalog import Catalog, demo_catalog
from allocator.ledger import Ledger
from allocator.ops import BatchBuilder, Code, OpKind

TICK_MS = 1000


@dataclass
class DemoSummary:
    """What the demo prints: counts of every outcome and the audit's verdict."""

    skus: int = 0
    warehouses: int = 0
    hot_skus: list[str] = field(default_factory=list)
    buyers: int = 0
    orders: int = 0
    holds_accepted: int = 0
    holds_refused: int = 0
    commits: int = 0
    releases: int = 0
    expiries: int = 0
    shipped: int = 0
    units_initial: int = 0
    units_restocked: int = 0
    units_sold: int = 0
    units_left: int = 0
    hot_units_initial: int = 0
    hot_units_sold: int = 0
    oversold_units: int = 0
    audit_ok: bool = False
    batches: int = 0
    ops_applied: int = 0
    ledger_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        verdict = "CLEAN" if self.audit_ok and self.oversold_units == 0 else "PROBLEMS FOUND"
        rows = [
            ("catalog", f"{self.skus} SKUs x {self.warehouses} warehouses"),
            ("hot SKUs", ", ".join(self.hot_skus)),
            ("buyers / orders", f"{self.buyers} / {self.orders}"),
            ("holds accepted", self.holds_accepted),
            ("holds refused (sold out)", self.holds_refused),
            ("commits (paid)", self.commits),
            ("releases (abandoned)", self.releases),
            ("expiries (walked away)", self.expiries),
            ("shipped", self.shipped),
            ("hot units sold / stocked", f"{self.hot_units_sold} / {self.hot_units_initial}"
                                         " (+ returns)"),
            ("units sold", self.units_sold),
            ("units left (available)", self.units_left),
            ("oversold units", self.oversold_units),
            ("ledger work", f"{self.ops_applied:,} ops in {self.batches} batches, "
                            f"{self.ledger_ms:.0f} ms"),
            ("audit", verdict),
        ]
        width = max(len(k) for k, _ in rows)
        lines = ["Flash-sale demo (in-process ledger)", "-" * 40]
        lines += [f"{k.ljust(width)}  {v}" for k, v in rows]
        return "\n".join(lines)


def _initial_stock(rng: np.random.Generator, ledger: Ledger, hot_rows: np.ndarray) -> None:
    shape = (len(ledger.sku_ids), ledger.n_warehouses)
    stock = rng.integers(0, 40, size=shape) * (rng.random(shape) < 0.6)
    stock[hot_rows] = 0
    for row in hot_rows:  # scarce: a few warehouses carry the sale's stock
        whs = rng.choice(ledger.n_warehouses, size=4, replace=False)
        stock[row, whs] = rng.integers(20, 60, size=4)
    ledger.on_hand[:] = stock.reshape(-1)


def run_demo(buyers: int = 20_000, seed: int = 42, catalog: Catalog | None = None,
             ttl_s: int = 120, hot: int = 3) -> DemoSummary:
    """Run the simulated sale and return its summary (nothing printed here)."""
    catalog = catalog or demo_catalog()
    rng = np.random.default_rng(seed)
    ledger = Ledger(catalog.sku_ids, catalog.warehouse_ids, capacity=4 * buyers)
    n_skus, n_wh = len(catalog.skus), len(catalog.warehouses)
    hot_rows = rng.choice(n_skus, size=hot, replace=False)
    _initial_stock(rng, ledger, hot_rows)
    s = DemoSummary(skus=n_skus, warehouses=n_wh, buyers=buyers,
                    hot_skus=[catalog.skus[r].id for r in hot_rows],
                    units_initial=int(ledger.on_hand.sum()))
    hot_cells = (hot_rows[:, None] * n_wh + np.arange(n_wh)).reshape(-1)
    s.hot_units_initial = int(ledger.on_hand[hot_cells].sum())

    ticks = 300
    arrivals = np.sort(rng.integers(0, ticks, size=buyers))
    zipf = 1.0 / np.arange(1, n_skus + 1) ** 1.1
    zipf_rows = rng.permutation(n_skus)
    # fate of each successful hold: 0 pay, 1 abandon, 2 walk away (let it expire)
    due: dict[int, list[tuple[OpKind, int]]] = {}
    next_op = 1
    apply_time = 0.0
    shipped_units = 0
    for tick in range(ticks + ttl_s + 5):
        now = tick * TICK_MS
        batch = BatchBuilder()
        new_buyers = int(np.count_nonzero(arrivals == tick))
        for _ in range(new_buyers):
            if rng.random() < 0.6:
                row = int(rng.choice(hot_rows))
            else:
                row = int(zipf_rows[rng.choice(n_skus, p=zipf / zipf.sum())])
            avail = ledger.available[row * n_wh:(row + 1) * n_wh]
            wh = int(np.argmax(avail))  # a simple rule until routing plans the order
            qty = 1 if rng.random() < 0.85 else 2
            batch.hold(next_op, [(row * n_wh + wh, qty)], ttl_s * 1000)
            next_op += 1
        for kind, hold_id in due.pop(tick, []):
            {OpKind.COMMIT: batch.commit, OpKind.RELEASE: batch.release,
             OpKind.SHIP: batch.ship}[kind](next_op, hold_id)
            next_op += 1
        ops = batch.build(now)
        t0 = time.perf_counter()
        result = ledger.apply(ops)
        expired = ledger.expire(now)
        apply_time += time.perf_counter() - t0
        s.ops_applied += len(ops)
        s.batches += 1
        s.expiries += len(expired)
        for i in range(len(ops)):
            kind, code = int(ops.kind[i]), int(result.code[i])
            if kind == OpKind.HOLD:
                s.orders += 1
                if code != Code.OK:
                    s.holds_refused += 1
                    continue
                s.holds_accepted += 1
                fate = rng.choice(3, p=[0.8, 0.1, 0.1])
                hold_id = int(result.value[i])
                if fate == 0:
                    due.setdefault(tick + int(rng.integers(5, 60)), []).append((OpKind.COMMIT, hold_id))
                elif fate == 1:
                    due.setdefault(tick + int(rng.integers(5, 60)), []).append((OpKind.RELEASE, hold_id))
            elif kind == OpKind.COMMIT and code == Code.OK:
                s.commits += 1
                if rng.random() < 0.5:
                    due.setdefault(tick + 30, []).append((OpKind.SHIP, int(result.value[i])))
            elif kind == OpKind.RELEASE and code == Code.OK:
                s.releases += 1
            elif kind == OpKind.SHIP and code == Code.OK:
                s.shipped += 1
                shipped_units += int(ledger.hold_view(int(result.value[i])).lines[0][2])
        if tick == ticks // 2:  # a customer return lands mid-sale
            cell = int(hot_cells[np.argmax(ledger.on_hand[hot_cells])])
            sku, wh = ledger.cell_ids(cell)
            ledger.restock(next_op, sku, wh, 5, now, is_return=True)
            next_op += 1
            s.units_restocked += 5
    report = audit(ledger)
    s.audit_ok = report.ok
    s.oversold_units = report.oversold_units
    s.units_sold = int(ledger.committed.sum()) + shipped_units
    s.units_left = int(ledger.available.sum())
    s.hot_units_sold = int(ledger.committed[hot_cells].sum()) + int(
        s.hot_units_initial + 5 - ledger.on_hand[hot_cells].sum())
    s.ledger_ms = apply_time * 1000
    return s
