"""``allocator route`` and ``allocator bench route``. Each handler returns an exit code:
0 planned, 1 unfillable (plan JSON still printed), 2 bad input (one line on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from typing import Any, Callable

from allocator.catalog import demo_catalog
from allocator.errors import AllocatorError, InvalidRequest
from routing.availability import demo_stock, load_stock
from routing.network import Network, demo_network
from routing.network_file import read_json
from routing.order import Order
from routing.planner import SOLVERS, Router

EXIT_OK, EXIT_UNFILLABLE, EXIT_BAD_INPUT = 0, 1, 2


def add_route_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``route``: plan one order and print the plan JSON."""
    p = subparsers.add_parser(
        "route", help="plan which warehouses ship an order, at what cost, arriving when",
        description="Plan an order over a delivery network and print the plan as JSON.")
    p.add_argument("--order", required=True, metavar="FILE",
                   help='order JSON: {"lines": [{"sku": .., "qty": ..}], "destination": "110001", ...}')
    p.add_argument("--network", metavar="FILE", help="network JSON (default: bundled demo network)")
    p.add_argument("--stock", metavar="FILE",
                   help='availability JSON {"stock": {sku: {warehouse: units}}} '
                        "(default: deterministic demo stock over the demo catalog)")
    p.add_argument("--solver", choices=SOLVERS, default="auto",
                   help="auto: exact fast path up to 6 lines, the large-order planner above "
                        "(default); cpsat: OR-Tools CP-SAT")
    p.add_argument("--today", type=date.fromisoformat, default=None, metavar="YYYY-MM-DD",
                   help="order date for ETA dates (default: today)")
    p.set_defaults(func=_guard(route_command))
    return p


def add_bench_route_command(bench_subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bench route``: planner latency vs CP-SAT, and batch vs greedy."""
    p = bench_subparsers.add_parser(
        "route", help="benchmark the router (fast path vs CP-SAT; flash-sale batch vs greedy)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--orders", type=int, default=1000, help="orders to plan (default 1000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--big-orders", type=int, default=20,
                   help="20-50-line orders to plan for big_p99_ms/big_max_gap (default 20)")
    p.set_defaults(func=_guard(bench_route_command))
    return p


def add_wave_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``wave``: plan many orders jointly (nothing is held) against greedy."""
    p = subparsers.add_parser(
        "wave", help="allocate a wave of orders jointly and compare each with greedy",
        description="Plan a wave of orders jointly (most filled, then least cost) and "
                    "print, per order, its allocation against greedy's, as JSON. Nothing "
                    "is held: POST /v1/allocations/wave holds.")
    p.add_argument("--orders", required=True, metavar="FILE",
                   help='{"orders": [order, ...]} (each as for route) or a JSON list')
    p.add_argument("--network", metavar="FILE", help="network JSON (default: bundled demo network)")
    p.add_argument("--stock", metavar="FILE", help="availability JSON (default: demo stock)")
    p.add_argument("--budget-ms", type=int, default=150, help="planning time (default 150)")
    p.add_argument("--split", choices=("yes", "no"), default=None,
                   help="override every order's split_lines")
    p.set_defaults(func=_guard(wave_command))
    return p


def wave_command(args: argparse.Namespace) -> int:
    from routing.wave import allocate_wave

    network = Network.load(args.network) if args.network else demo_network()
    catalog = demo_catalog()
    raw = read_json(args.orders, "orders")
    items = raw.get("orders") if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not items:
        raise InvalidRequest(f"{args.orders}: expected a non-empty list of orders")
    orders = [Order.from_dict(o) for o in items]
    for o in orders:
        network.destination_index(o.destination)
    if args.budget_ms < 1:
        raise InvalidRequest("--budget-ms must be at least 1")
    stock = (load_stock(args.stock, network, catalog) if args.stock
             else demo_stock(catalog, network))
    split = None if args.split is None else args.split == "yes"
    wave = allocate_wave(orders, network, catalog, stock, budget_s=args.budget_ms / 1000,
                         split=split)
    print(json.dumps(wave.to_dict(), indent=2, ensure_ascii=False))
    return EXIT_OK if wave.filled == len(orders) else EXIT_UNFILLABLE


def route_command(args: argparse.Namespace) -> int:
    network = Network.load(args.network) if args.network else demo_network()
    catalog = demo_catalog()
    order = Order.from_dict(read_json(args.order, "order"))
    stock = (load_stock(args.stock, network, catalog) if args.stock
             else demo_stock(catalog, network))
    plan = Router(network, catalog).plan(order, stock, today=args.today, solver=args.solver)
    print(json.dumps(plan.to_dict(), indent=2, ensure_ascii=False))
    return EXIT_OK if plan.filled else EXIT_UNFILLABLE


def bench_route_command(args: argparse.Namespace) -> int:
    from bench.route import format_text, run_bench

    result = run_bench(n_orders=args.orders, seed=args.seed, big_orders=args.big_orders)
    print(json.dumps(result) if args.json else format_text(result))
    return EXIT_OK


def _guard(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn expected input errors into one line on stderr and exit code 2."""
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except AllocatorError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run
