"""The ``allocator`` command: the composition root that wires every layer's commands.

The heavy layers (Ray, OR-Tools, FastAPI) are imported by a command's handler when it
runs, so ``allocator demo`` does not pay for them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

from allocator.console import emit
from allocator.errors import AllocatorError


def _cmd_demo(args: argparse.Namespace) -> int:
    from tools.demo import run_demo

    summary = run_demo(buyers=args.buyers, seed=args.seed)
    if args.json:
        emit(summary.to_dict(), True)
    else:
        print(summary.render())
    return 0 if summary.audit_ok and summary.oversold_units == 0 else 1


def _cmd_bench_core(args: argparse.Namespace) -> int:
    from bench.core import bench_core

    emit(bench_core(n_lines=args.lines, batch=args.batch, seed=args.seed), args.json)
    return 0


def _register_layer_commands(sub: Any, bench: Any) -> None:
    """The commands of the other layers (imported here, on use, not at start-up)."""
    from commands.bench_api import add_bench_api_command
    from commands.events import add_events_command
    from commands.reconcile import add_reconcile_command
    from commands.rehearse import add_rehearse_command
    from commands.route import add_bench_route_command, add_route_command, add_wave_command
    from commands.serve import add_bench_actors_command, add_serve_command
    from commands.shadow import add_shadow_command

    add_route_command(sub)
    add_wave_command(sub)
    add_bench_route_command(bench)
    add_serve_command(sub)
    add_bench_actors_command(bench)
    add_rehearse_command(sub)
    add_bench_api_command(bench)
    add_events_command(sub)
    add_reconcile_command(sub)
    add_shadow_command(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="allocator", description="Route and reserve inventory under flash-sale load.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the flash-sale demo and print a summary")
    demo.add_argument("--buyers", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument("--json", action="store_true", help="print the summary as JSON")
    demo.set_defaults(func=_cmd_demo)

    bench = sub.add_parser("bench", help="benchmarks; each prints one JSON summary")
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    core = bench_sub.add_parser("core", help="ledger batch holds vs a plain dict loop")
    core.add_argument("--lines", type=int, default=1_048_576)
    core.add_argument("--batch", type=int, default=4096)
    core.add_argument("--seed", type=int, default=7)
    core.add_argument("--json", action="store_true", help="one compact JSON line")
    core.set_defaults(func=_cmd_bench_core)

    _register_layer_commands(sub, bench_sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except AllocatorError as exc:
        print(f"allocator: {exc.code}: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
