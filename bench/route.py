"""Router benchmark: planner latency against plain CP-SAT, and batch against greedy.

``python -m bench.route [--json]`` (or ``allocator bench route --json``) prints one
object; docs/ROUTING.md explains every key and the targets.
"""

from __future__ import annotations

import gc
import time
from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np

from allocator.catalog import demo_catalog
from routing.availability import StockMatrix, demo_stock
from routing.batch import allocate_batch, fcfs_plan_allocate, greedy_allocate
from routing.cpsat import solve_cpsat
from routing.network import demo_network
from routing.order import Order
from routing.planner import Router
from routing.problem import build_problem
from routing.wave import allocate_wave
from tools.scenario import bench_network, flash_sale, random_order, scattered_bulk

TARGET_P99_MS = 2.0
TARGET_BATCH_COST_RATIO = 0.95
TARGET_BIG_P99_MS = 20.0
TARGET_BIG_GAP = 0.01
TARGET_SPLIT_SAVING = 0.03
TARGET_WAVE_MS = 200.0
SPLIT_SHARE = 0.25
"""Share of the latency orders that may split their lines."""
BENCH_DAY = date(2025, 1, 1)


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def latency_bench(n_orders: int, seed: int, n_warehouses: int = 50) -> dict[str, Any]:
    """Plan ``n_orders`` 1–5-line orders end to end; solve the same orders with CP-SAT."""
    network = bench_network(n_warehouses, seed=seed)
    catalog = demo_catalog()
    stock = demo_stock(catalog, network, seed=seed)
    router = Router(network, catalog)
    rng = np.random.default_rng(seed)
    orders = [random_order(rng, catalog, network, int(rng.integers(1, 6)))
              for _ in range(n_orders)]
    orders = [replace(o, split_lines=True) if rng.random() < SPLIT_SHARE else o
              for o in orders]
    for order in orders[:20]:                       # warm caches and index tables
        router.plan(order, stock, today=BENCH_DAY).to_dict()

    fast_ms, cpu_ms, plans = [], [], []
    gc.collect()
    for order in orders:
        t0, c0 = time.perf_counter(), time.thread_time()
        plan = router.plan(order, stock, today=BENCH_DAY)
        plan.to_dict()
        fast_ms.append((time.perf_counter() - t0) * 1e3)
        cpu_ms.append((time.thread_time() - c0) * 1e3)
        plans.append(plan)

    cpsat_ms, agree, cpsat_optimal = [], 0, 0
    for order, plan in zip(orders, plans):
        t0 = time.perf_counter()
        problem = build_problem(order, network, catalog, stock)
        sol = solve_cpsat(problem, runner_up=False, time_limit_s=10.0)
        cpsat_ms.append((time.perf_counter() - t0) * 1e3)
        cpsat_optimal += sol.status in ("optimal", "infeasible")
        fast_cost = plan.cost.total if plan.filled and not plan.substitutions else None
        agree += fast_cost == sol.cost
    split_ms = [ms for o, ms in zip(orders, fast_ms) if o.split_lines]
    return {
        "orders": n_orders, "warehouses": n_warehouses, "lines_per_order": "1-5",
        "split_orders": len(split_ms),
        "split_p99_ms": _pct(split_ms, 99) if split_ms else None,
        "whole_p99_ms": _pct([ms for o, ms in zip(orders, fast_ms) if not o.split_lines], 99),
        "filled": sum(p.filled for p in plans),
        "p50_ms": _pct(fast_ms, 50), "p99_ms": _pct(fast_ms, 99), "p99_cpu_ms": _pct(cpu_ms, 99),
        "max_ms": round(max(fast_ms), 3),
        "cpsat_p50_ms": _pct(cpsat_ms, 50), "cpsat_p99_ms": _pct(cpsat_ms, 99),
        "speedup_p99": round(_pct(cpsat_ms, 99) / max(_pct(fast_ms, 99), 1e-9), 1),
        "optimal_agreement": round(agree / n_orders, 4),
        "cpsat_proved_optimal": round(cpsat_optimal / n_orders, 4),
    }


def batch_bench(seed: int = 2024) -> dict[str, Any]:
    """The bundled flash sale: joint CP-SAT allocation against the baselines."""
    network, catalog = demo_network(), demo_catalog()
    sale = flash_sale(network, catalog, seed=seed)
    greedy = greedy_allocate(sale.orders, network, catalog, sale.stock)
    fcfs = fcfs_plan_allocate(sale.orders, network, catalog, sale.stock)
    batch = allocate_batch(sale.orders, network, catalog, sale.stock)
    return {
        "flash_sale_orders": len(sale.orders),
        "flash_sale_units": int(sale.stock.matrix.sum()),
        "batch_filled": batch.filled, "greedy_filled": greedy.filled,
        "batch_cost": round(batch.cost_per_filled, 2),
        "greedy_cost": round(greedy.cost_per_filled, 2),
        "batch_cost_total": batch.cost.to_dict()["total"],
        "greedy_cost_total": greedy.cost.to_dict()["total"],
        "fcfs_planner_filled": fcfs.filled,
        "fcfs_planner_cost": round(fcfs.cost_per_filled, 2),
        "batch_status": batch.status, "batch_ms": round(batch.elapsed_ms, 1),
        **wave_bench(sale, network, catalog, batch.elapsed_ms),
    }


def wave_bench(sale: Any, network: Any, catalog: Any, batch_ms: float, runs: int = 5
               ) -> dict[str, Any]:
    """The same flash sale as a wave (``routing.wave.allocate_wave``, default 150 ms
    budget): the median wall time of ``runs``, against the exhaustive batch model as
    the baseline, and what it filled at what cost."""
    walls, waves = [], []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        waves.append(allocate_wave(sale.orders, network, catalog, sale.stock))
        walls.append((time.perf_counter() - t0) * 1e3)
    mid = int(np.argsort(walls)[len(walls) // 2])
    w = waves[mid]
    return {"wave_ms": round(walls[mid], 1), "wave_max_ms": round(max(walls), 1),
            "wave_baseline_ms": round(batch_ms, 1),
            "wave_speedup": round(batch_ms / max(walls[mid], 1e-9), 1),
            "wave_status": w.status, "wave_filled": w.filled,
            "wave_cost": round(w.total / 100 / w.filled, 2) if w.filled else 0.0}


def _split_compare(router: Router, orders: Any, stock: Any) -> dict[str, Any]:
    """Each order planned on ``stock`` with whole lines and with split lines: how many
    only splits fill, and the mean relative saving ``(whole − split) / whole`` over the
    orders both fill (a split plan is never dearer: whole-line plans are split plans)."""
    extra, savings = 0, []
    for order in orders:
        whole = router.plan(replace(order, split_lines=False), stock, today=BENCH_DAY)
        split = router.plan(replace(order, split_lines=True), stock, today=BENCH_DAY)
        if split.filled and not whole.filled:
            extra += 1
        elif split.filled and whole.filled:
            savings.append((whole.cost.total - split.cost.total) / whole.cost.total)
    return {"compared": len(orders), "extra_filled": extra,
            "cost_saving": round(float(np.mean(savings)), 4) if savings else 0.0,
            "cheaper_orders": int(sum(s > 0 for s in savings)), "both_filled": len(savings)}


def split_bench(seed: int = 2024) -> dict[str, Any]:
    """Split against whole-line plans on the flash-sale set (the bundled flash sale's
    orders, each planned on the sale's stock) — the issue's definition, reported as
    ``split_*`` — and, for reference, where splitting matters
    (``tools.scenario.scattered_bulk``: the sale's second half at 3–8 units a line
    against its SKUs scattered 0–6 units per warehouse), reported as ``bulk_split_*``."""
    network, catalog = demo_network(), demo_catalog()
    sale = flash_sale(network, catalog, seed=seed)
    router = Router(network, catalog)
    out = {f"split_{k}" if k != "compared" else "split_orders_compared": v
           for k, v in _split_compare(router, sale.orders, sale.stock).items()}
    orders, stock = scattered_bulk(sale, network, seed=seed)
    out.update({f"bulk_split_{k}": v for k, v in _split_compare(router, orders, stock).items()})
    return out


def big_orders(n_orders: int = 20, seed: int = 7, n_warehouses: int = 50
               ) -> tuple[Router, list[Order], StockMatrix]:
    """The big-order set: a router over ``n_warehouses``, ``n_orders`` orders of 20–50
    lines (no promise, no shipment limit) and the stock they are planned on."""
    network = bench_network(n_warehouses, seed=seed)
    catalog = demo_catalog()
    stock = demo_stock(catalog, network, seed=seed)
    rng = np.random.default_rng(seed + 1)
    orders = [random_order(rng, catalog, network, int(rng.integers(20, 51)), constraints=False)
              for _ in range(n_orders)]
    return Router(network, catalog), orders, stock


def big_bench(n_orders: int = 20, seed: int = 7, n_warehouses: int = 50) -> dict[str, Any]:
    """20–50-line orders over 50 warehouses, planned end to end by the router: latency
    and the proven optimality gap (cost − bound) / cost of each plan."""
    router, orders, stock = big_orders(n_orders, seed, n_warehouses)
    ms, cpu, gaps = [], [], []
    for order in orders:
        t0, c0 = time.perf_counter(), time.thread_time()
        plan = router.plan(order, stock, today=BENCH_DAY)
        plan.to_dict()
        ms.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.thread_time() - c0) * 1e3)
        gaps.append(1.0 if plan.gap is None else plan.gap)
    return {"big_orders": n_orders, "big_p50_ms": _pct(ms, 50), "big_p99_ms": _pct(ms, 99),
            "big_p99_cpu_ms": _pct(cpu, 99),
            "big_max_gap": round(max(gaps), 4)}


def run_bench(n_orders: int = 1000, seed: int = 7, big_orders: int = 20) -> dict[str, Any]:
    """Every benchmark, plus which targets were met."""
    out: dict[str, Any] = {"benchmark": "route", "cost_unit": "INR per filled order"}
    out.update(latency_bench(n_orders, seed))
    out.update(batch_bench())
    out.update(split_bench())
    out.update(big_bench(big_orders, seed=seed))
    out["targets"] = {
        "p99_ms<=2": out["p99_ms"] <= TARGET_P99_MS,
        "optimal_agreement==1": out["optimal_agreement"] == 1.0,
        "batch_filled>=greedy_filled": out["batch_filled"] >= out["greedy_filled"],
        "batch_cost<=0.95*greedy_cost":
            out["batch_cost"] <= TARGET_BATCH_COST_RATIO * out["greedy_cost"],
        "big_p99_ms<=20": out["big_p99_ms"] <= TARGET_BIG_P99_MS,
        "big_max_gap<=0.01": out["big_max_gap"] <= TARGET_BIG_GAP,
        "split_extra_filled>0": out["split_extra_filled"] > 0,
        "split_cost_saving>=0.03": out["split_cost_saving"] >= TARGET_SPLIT_SAVING,
        "wave_ms<=200": out["wave_ms"] <= TARGET_WAVE_MS,
        "wave_filled>=greedy_filled": out["wave_filled"] >= out["greedy_filled"],
    }
    return out


def format_text(result: dict[str, Any]) -> str:
    return "\n".join(f"{k:>28}: {v}" for k, v in result.items())
