"""``allocator bench api``."""

from __future__ import annotations

import argparse
from typing import Any

from allocator.cli import emit


def add_bench_api_command(bench: Any) -> None:
    p = bench.add_parser("api", help="reserve → commit over HTTP vs a bare FastAPI echo")
    p.add_argument("--json", action="store_true", help="one compact JSON line")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    from api.bench import bench_api

    emit(bench_api(), args.json)
    return 0
