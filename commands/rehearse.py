"""``allocator rehearse``: a flash-sale rehearsal with Locust, audited (see
docs/REHEARSAL.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

RPS_PER_BUYER = 5.5


def add_rehearse_command(sub: Any) -> None:
    p = sub.add_parser("rehearse", help="rehearse a flash sale with Locust, then audit stock")
    p.add_argument("--multiple", type=float, default=8.0,
                   help="top of the shape, in multiples of the expected peak (default 8)")
    p.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    peak = p.add_mutually_exclusive_group()
    peak.add_argument("--peak-users", type=int, default=None,
                      help="simulated buyers at 1x the expected peak (default 10)")
    peak.add_argument("--peak-rps", type=float, default=None,
                      help="the expected peak in requests/s instead: buyers = peak-rps / "
                      "rps-per-buyer")
    p.add_argument("--rps-per-buyer", type=float, default=RPS_PER_BUYER,
                   help=f"requests/s one buyer sends with the default think time "
                   f"(default {RPS_PER_BUYER}, measured on an unsaturated 2-core box)")
    p.add_argument("--host", help="a deployed API (e.g. https://alloc.example.com); "
                   "default: start Ray, Redis and the API here")
    p.add_argument("--out", type=Path, help="report folder (default reports/rehearsal-<time>)")
    p.add_argument("--processes", type=int, default=1, help="Locust worker processes")
    p.add_argument("--ttl", type=float, default=10.0,
                   help="hold TTL of the buyers' reservations, seconds (default 10)")
    p.add_argument("--skus", type=int, default=200, help="SKUs on sale (the first of the catalog)")
    p.add_argument("--hot", type=int, default=3, help="hot SKUs of the sale")
    p.add_argument("--wait", type=float, nargs=2, default=(0.05, 0.5), metavar=("MIN", "MAX"),
                   help="buyer think time between orders, seconds")
    p.add_argument("--no-kill-switch", action="store_true", help="skip the kill-switch phase")
    p.add_argument("--api-workers", type=int, default=1, help="uvicorn workers (local stack)")
    p.add_argument("--checkout-key", action="append", default=[],
                   help="--host: a checkout key (repeat for several)")
    p.add_argument("--ops-key", default="", help="--host: an ops+read key")
    p.add_argument("--admin-key", default="", help="--host: an admin key (kill-switch phase)")
    p.add_argument("--throttled-key", default="",
                   help="--host: a key with a low rate limit (429 phase)")
    p.add_argument("--json", action="store_true", help="print summary.json's content only")
    p.set_defaults(func=_rehearse)


def _rehearse(args: argparse.Namespace) -> int:
    from loadtest.rehearse import RehearsalOptions, rehearse
    from loadtest.report import render

    peak_users = args.peak_users or 10
    if args.peak_rps is not None:
        peak_users = max(1, round(args.peak_rps / args.rps_per_buyer))
    opts = RehearsalOptions(
        multiple=args.multiple, duration_s=args.duration, peak_users=peak_users,
        host=args.host, out=args.out, processes=args.processes, ttl_s=args.ttl,
        skus=args.skus, hot=args.hot, wait_min_s=args.wait[0], wait_max_s=args.wait[1],
        kill_switch=not args.no_kill_switch, api_workers=args.api_workers,
        checkout_keys=args.checkout_key, ops_key=args.ops_key, admin_key=args.admin_key,
        throttled_key=args.throttled_key,
        log=(lambda m: print(m, file=sys.stderr, flush=True)))
    summary = rehearse(opts)
    if args.json:
        print(json.dumps(summary))
    else:
        print(render(summary))
    return 0 if summary["verdict"] == "pass" else 1
