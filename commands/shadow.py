"""``allocator shadow``: plan an order log beside the legacy flow's decisions and report
the differences (tools/shadow.py)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any


def add_shadow_command(sub: Any) -> None:
    p = sub.add_parser("shadow", help="compare the planner with the legacy flow's decisions")
    p.add_argument("--orders", type=Path, help="order log: JSON array or JSON lines of orders "
                   "(each with an id)")
    p.add_argument("--decisions", type=Path, help="the legacy flow's decisions: "
                   "{order_id, lines: [{sku, warehouse, qty}]} per order (no lines: unfilled)")
    p.add_argument("--stock", type=Path, help="stock snapshot JSON (default: the demo stock)")
    p.add_argument("--network", type=Path, help="network JSON (default: the bundled demo)")
    p.add_argument("--generate", type=int, metavar="N", help="first write a demo log of N "
                   "orders and a nearest-warehouse legacy flow's decisions into --out")
    p.add_argument("--today", type=date.fromisoformat, default=None)
    p.add_argument("--out", type=Path, default=Path("reports/shadow"))
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_shadow)


def _shadow(args: argparse.Namespace) -> int:
    from allocator.catalog import demo_catalog
    from allocator.errors import AllocatorError
    from routing import Network, Order, Router, demo_network
    from routing.availability import demo_stock, load_stock
    from tools.legacy import write_order_log
    from tools.shadow import compare, parse_decisions, read_records, summarise, write_report

    try:
        network = Network.load(args.network) if args.network else demo_network()
        catalog = demo_catalog()
        stock = (load_stock(args.stock, network, catalog) if args.stock
                 else demo_stock(catalog, network))
        if args.generate:
            args.orders, args.decisions = write_order_log(args.out, catalog, network, stock,
                                                          args.generate)
        if args.orders is None or args.decisions is None:
            print("allocator shadow: give --orders and --decisions, or --generate N",
                  file=sys.stderr)
            return 2
        orders = [Order.from_dict(o) for o in read_records(args.orders)]
        decisions = parse_decisions(read_records(args.decisions))
        router, today = Router(network, catalog), args.today or date.today()
        rows = [compare(router, o, stock, decisions.get(o.id), today) for o in orders]
    except (AllocatorError, OSError, ValueError) as exc:
        print(f"allocator shadow: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    summary = summarise(rows)
    write_report(rows, summary, args.out)
    print(json.dumps(summary) if args.json else
          "\n".join(f"{k}: {v}" for k, v in summary.items()) + f"\nreport: {args.out}")
    return 0
