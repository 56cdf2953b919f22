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
from allocator.errors import AllocatorError
from routing.availability import demo_stock, load_stock
from routing.network import Network, demo_network, read_json
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
                   help="auto: fast path up to 6 lines, CP-SAT above (default)")
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
