"""``allocator rehearse``: a flash-sale rehearsal with Locust, judged against an SLO and
audited (see docs/REHEARSAL.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

# The demo's expected peak: 8x of it (240 req/s) holds the SLO with room to spare on a
# 2-core machine that also runs Locust, the API, the shards and Redis (measured knee of
# that setup: ~410-460 req/s at p99 <= 100 ms; docs/REHEARSAL.md).
DEFAULT_PEAK_RPS = 30.0
DEFAULT_SLO_P99_MS = 100.0


def _positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _float_in(low: float, high: float, expected: str) -> Any:
    """An argparse type: a float with ``low <= value < high``, else ``expected``."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value < high:
            raise argparse.ArgumentTypeError(f"{expected}, got {text}")
        return value
    return parse


_seconds = _float_in(0, float("inf"), "must be a number of seconds >= 0")
_fraction = _float_in(0, 1, "a fraction in [0, 1) (0.001 = 0.1 %)")


def default_rps_per_buyer(slo_p99_ms: float) -> float:
    """One request every 5 SLOs per buyer (2/s at 100 ms), so that a buyer keeps its
    schedule until answers take 5x the objective, long after the verdict has failed;
    at least one a second (an order's requests stay well inside the hold's TTL and
    Locust's stop timeout), at most 10."""
    return round(min(10.0, max(1.0, 1000.0 / (5 * slo_p99_ms))), 3)


def add_rehearse_command(sub: Any) -> None:
    p = sub.add_parser("rehearse", help="rehearse a flash sale with Locust: an SLO verdict "
                       "per stage, a capacity search, an audit of the stock")
    pos_f, pos_i = _positive(float), _positive(int)
    p.add_argument("--multiple", type=pos_f, default=8.0,
                   help="top of the shape, in multiples of the expected peak (default 8)")
    p.add_argument("--duration", type=pos_f, default=60.0, help="seconds of load (default 60)")
    peak = p.add_mutually_exclusive_group()
    peak.add_argument("--peak-rps", type=pos_f, default=None,
                      help=f"the expected peak, requests/s the buyers offer at 1x (default "
                      f"{DEFAULT_PEAK_RPS:g})")
    peak.add_argument("--peak-users", type=pos_i, default=None,
                      help="the expected peak as buyers instead (peak = buyers x rps-per-buyer)")
    p.add_argument("--rps-per-buyer", type=pos_f, default=None,
                   help="requests/s each simulated buyer offers on its fixed schedule "
                   "(default: one every 5 SLOs, 2/s at 100 ms; 1 to 10)")
    p.add_argument("--slo-p99-ms", type=pos_f, default=DEFAULT_SLO_P99_MS,
                   help="a stage fails when its p99 is above this (default 100)")
    p.add_argument("--max-error-rate", type=_fraction, default=0.001,
                   help="a stage fails when failed + shed (429/503) requests are above this "
                   "fraction (default 0.001 = 0.1 %%)")
    p.add_argument("--find-capacity", action="store_true",
                   help="instead of the stages: step the offered rate up until a step misses "
                   "the SLO; report capacity_rps and mark the knee on the chart")
    p.add_argument("--capacity-start-rps", type=pos_f, default=None,
                   help="--find-capacity: the first step (default: the peak)")
    p.add_argument("--capacity-factor", type=pos_f, default=1.25,
                   help="--find-capacity: each step offers this much more (default 1.25)")
    p.add_argument("--capacity-max-rps", type=pos_f, default=None,
                   help="--find-capacity: stop stepping here (default 3x multiple x peak)")
    p.add_argument("--step-duration", type=pos_f, default=10.0,
                   help="--find-capacity: seconds each step holds (default 10)")
    p.add_argument("--capacity-warmup", type=_seconds, default=10.0,
                   help="--find-capacity: seconds of load at half the first step's rate "
                   "before it, not judged (default 10; 0: none)")
    p.add_argument("--host", help="a deployed API (e.g. https://alloc.example.com); "
                   "default: start Ray, Redis and the API here")
    p.add_argument("--out", type=Path, help="report folder (default reports/rehearsal-<time>)")
    p.add_argument("--processes", type=pos_i, default=1,
                   help="Locust processes on this machine (each uses at most one core)")
    dist = p.add_mutually_exclusive_group()
    dist.add_argument("--expect-workers", type=pos_i, default=0,
                      help="be the Locust master of N workers started elsewhere with the same "
                      "command and --worker THIS_HOST; they generate all the load")
    dist.add_argument("--worker", metavar="MASTER[:PORT]",
                      help="be a Locust worker of the rehearsal whose master runs on MASTER "
                      "(give the same flags as the master)")
    p.add_argument("--master-port", type=pos_i, default=5557,
                   help="the master's port (--expect-workers; default 5557)")
    p.add_argument("--ttl", type=pos_f, default=10.0,
                   help="hold TTL of the buyers' reservations, seconds (default 10)")
    p.add_argument("--skus", type=pos_i, default=200,
                   help="SKUs on sale (the first of the catalog)")
    p.add_argument("--hot", type=pos_i, default=3, help="hot SKUs of the sale")
    p.add_argument("--no-kill-switch", action="store_true", help="skip the kill-switch phase")
    p.add_argument("--api-workers", type=pos_i, default=None,
                   help="uvicorn workers of the local stack (default: one per core, at most 4)")
    p.add_argument("--shards", type=pos_i, default=None,
                   help="shard actors of the local stack (default: one per two cores, at "
                        "most 4)")
    p.add_argument("--checkout-key", action="append", default=[],
                   help="--host: a checkout key (repeat for several)")
    p.add_argument("--ops-key", default="", help="--host: an ops+read key")
    p.add_argument("--admin-key", default="", help="--host: an admin key (kill-switch phase)")
    p.add_argument("--throttled-key", default="",
                   help="--host: a key with a low rate limit (429 phase)")
    p.add_argument("--json", action="store_true", help="print summary.json's content only")
    p.set_defaults(func=_rehearse, _parser=p)


def _shortest_hold(duration_s: float, multiple: float) -> float:
    """Seconds measured in the shortest hold of the shape (at the slowest buyers)."""
    from loadtest.shape import build_stages, settle_s

    holds = [s.end_s - s.start_s for s in build_stages(duration_s, multiple, 10)
             if s.label.startswith("hold")]
    return min(h - settle_s(h, 1.0) for h in holds)


def options_from_args(args: argparse.Namespace) -> Any:
    """RehearsalOptions from the parsed flags (ValueError on a bad combination)."""
    from loadtest.options import RehearsalOptions, default_api_workers, default_shards

    if args.capacity_factor <= 1:
        raise ValueError("--capacity-factor must be > 1")
    if args.step_duration < 4:
        raise ValueError("--step-duration must be at least 4 s (a step is measured after "
                         "its buyers settle)")
    if not args.find_capacity and _shortest_hold(args.duration, args.multiple) < 2.0:
        least = next(d for d in range(int(args.duration) + 1, 10_000)
                     if _shortest_hold(d, args.multiple) >= 2.0)
        raise ValueError(f"--duration {args.duration:g} is too short: each hold needs 2 s "
                         f"to be measured after its buyers settle (give {least} s or more)")
    if args.expect_workers and args.processes > 1:
        raise ValueError("--processes is for a machine that generates load: with "
                         "--expect-workers give it to each --worker instead")
    if args.host and args.shards:
        raise ValueError("--shards sizes the local stack: a deployed cluster (--host) "
                         "has the shards it was started with")
    if args.hot > args.skus:
        raise ValueError("--hot cannot exceed --skus")
    rps_per_buyer = args.rps_per_buyer or default_rps_per_buyer(args.slo_p99_ms)
    if 3.0 / rps_per_buyer > args.ttl:
        raise ValueError(f"--rps-per-buyer {rps_per_buyer:g} is too slow for --ttl "
                         f"{args.ttl:g}: a buyer commits a few requests after it reserves, "
                         "so 3 / rps-per-buyer must be within the TTL")
    if args.peak_users is not None:
        peak_users = args.peak_users
    else:  # buyers at 1x: whole buyers, each at most rps_per_buyer
        peak_rps = args.peak_rps or DEFAULT_PEAK_RPS
        peak_users = max(1, -(-peak_rps // rps_per_buyer))
        rps_per_buyer = peak_rps / peak_users
    if (args.capacity_max_rps and args.capacity_start_rps
            and args.capacity_max_rps < args.capacity_start_rps):
        raise ValueError("--capacity-max-rps is below --capacity-start-rps")
    return RehearsalOptions(
        multiple=args.multiple, duration_s=args.duration, peak_users=int(peak_users),
        rps_per_buyer=rps_per_buyer, host=args.host, out=args.out, processes=args.processes,
        expect_workers=args.expect_workers, master_port=args.master_port,
        slo_p99_ms=args.slo_p99_ms, max_error_rate=args.max_error_rate,
        find_capacity=args.find_capacity, capacity_start_rps=args.capacity_start_rps or 0.0,
        capacity_factor=args.capacity_factor, capacity_max_rps=args.capacity_max_rps or 0.0,
        step_s=args.step_duration, warmup_s=args.capacity_warmup, ttl_s=args.ttl,
        skus=args.skus, hot=args.hot,
        kill_switch=not args.no_kill_switch,
        shards=args.shards or default_shards(),
        api_workers=args.api_workers or default_api_workers(),
        checkout_keys=args.checkout_key, ops_key=args.ops_key, admin_key=args.admin_key,
        throttled_key=args.throttled_key,
        log=(lambda m: print(m, file=sys.stderr, flush=True)))


def _rehearse(args: argparse.Namespace) -> int:
    from loadtest.generator import parse_master, run_worker
    from loadtest.rehearse import UnreachableTarget, rehearse
    from loadtest.report import render

    try:
        opts = options_from_args(args)
        if args.worker:
            parse_master(args.worker)
    except ValueError as exc:
        args._parser.error(str(exc))
    if args.worker:
        return run_worker(opts, args.worker)
    try:
        summary = rehearse(opts)
    except UnreachableTarget as exc:
        print(f"allocator rehearse: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        print(render(summary))
    return 0 if summary["verdict"] == "pass" else 1
