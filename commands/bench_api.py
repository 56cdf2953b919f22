"""``allocator bench api``."""

from __future__ import annotations

import argparse
from typing import Any

from allocator.console import emit


def add_bench_api_command(bench: Any) -> None:
    p = bench.add_parser("api", help="reserve → commit over HTTP vs a bare FastAPI echo")
    p.add_argument("--json", action="store_true", help="one compact JSON line")
    p.add_argument("--connections", type=int, default=32,
                   help="concurrent keep-alive connections (default 32)")
    p.add_argument("--seconds", type=float, default=10.0,
                   help="measured seconds per phase (default 10)")
    p.add_argument("--rounds", type=int, default=2,
                   help="interleaved echo / reserve slices the seconds are split into")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per phase")
    p.add_argument("--workers", type=int, nargs="+", default=[1],
                   help="uvicorn workers of every server; several counts run one after "
                        "the other, the first gives the main figures (default 1)")
    p.add_argument("--clients", type=int, default=1,
                   help="load-generator processes (default 1)")
    p.add_argument("--batch-orders", type=int, default=5_000,
                   help="rows per bulk request (default 5000)")
    p.add_argument("--batch-connections", type=int, default=2,
                   help="concurrent bulk requests (default 2)")
    p.add_argument("--batch-seconds", type=float,
                   help="measured seconds of the bulk phase (default --seconds)")
    p.add_argument("--no-pre-routed", action="store_true",
                   help="skip the pre-routed reserve → commit phase")
    p.add_argument("--sync-echo", action="store_true",
                   help="baseline endpoint as a plain def (threadpool) instead of async def")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from bench.api import bench_api

    emit(bench_api(connections=args.connections, seconds=args.seconds, workers=tuple(args.workers),
                   clients=args.clients, warmup_s=args.warmup, rounds=args.rounds,
                   batch_orders=args.batch_orders,
                   batch_connections=args.batch_connections,
                   batch_seconds=args.batch_seconds,
                   pre_routed=not args.no_pre_routed, sync_echo=args.sync_echo), args.json)
    return 0
