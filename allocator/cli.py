"""The ``allocator`` command: the composition root that wires every layer's commands.

Subcommands of other layers are imported lazily so that ``allocator demo`` does not
pay for Ray or OR-Tools imports it does not use.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

from allocator.console import emit
from allocator.errors import AllocatorError


def _cmd_demo(args: argparse.Namespace) -> int:
    from allocator.demo import run_demo

    summary = run_demo(buyers=args.buyers, seed=args.seed)
    if args.json:
        emit(summary.to_dict(), True)
    else:
        print(summary.render())
    return 0 if summary.audit_ok and summary.oversold_units == 0 else 1


def _cmd_bench_core(args: argparse.Namespace) -> int:
    from allocator.bench.core import bench_core

    emit(bench_core(n_lines=args.lines, batch=args.batch, seed=args.seed), args.json)
    return 0


def _optional_commands() -> list[Callable[[Any, Any], None]]:
    """Registrars contributed by other layers, skipped if a layer is not installed."""
    registrars: list[Callable[[Any, Any], None]] = []
    try:
        from routing.cli import add_bench_route_command, add_route_command

        registrars.append(lambda sub, bench: add_route_command(sub))
        registrars.append(lambda sub, bench: add_bench_route_command(bench))
    except ImportError:  # pragma: no cover - a layer missing from this install
        pass
    try:
        from actors.cli import add_bench_actors_command, add_serve_command

        registrars.append(lambda sub, bench: add_serve_command(sub))
        registrars.append(lambda sub, bench: add_bench_actors_command(bench))
    except ImportError:  # pragma: no cover
        pass
    try:
        from loadtest.cli import add_rehearse_command

        registrars.append(lambda sub, bench: add_rehearse_command(sub))
    except ImportError:  # pragma: no cover
        pass
    try:
        from api.cli import add_bench_api_command

        registrars.append(lambda sub, bench: add_bench_api_command(bench))
    except ImportError:  # pragma: no cover
        pass
    return registrars


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

    for register in _optional_commands():
        register(sub, bench_sub)
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
