"""``allocator reconcile``: post the warehouse system's counts to a running API's
reconciliation endpoint, write the report (CSV + summary JSON), print the summary."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any


def add_reconcile_command(sub: Any) -> None:
    p = sub.add_parser("reconcile", help="compare WMS counts with the ledger, fix the safe "
                       "differences, write a report")
    p.add_argument("--counts", required=True,
                   help="CSV (sku,warehouse,on_hand[,in_transit]) or JSON file, or URL")
    p.add_argument("--api", default="http://127.0.0.1:8000",
                   help="the allocator API (default http://127.0.0.1:8000)")
    p.add_argument("--key", default="dev-ops-key", help="an API key with the ops scope")
    p.add_argument("--accept-increases", action="store_true",
                   help="also correct phantom stock (WMS above the ledger) upwards")
    p.add_argument("--dry-run", action="store_true", help="classify only, change nothing")
    p.add_argument("--out", type=Path, default=Path("reports/reconcile"),
                   help="report folder (default reports/reconcile)")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.set_defaults(func=_reconcile)


def _reconcile(args: argparse.Namespace) -> int:
    import httpx

    from service.reconcile import load_counts, write_report

    try:
        counts = load_counts(args.counts)
    except (OSError, ValueError, httpx.HTTPError) as exc:
        print(f"allocator reconcile: cannot read counts from {args.counts}: {exc}",
              file=sys.stderr)
        return 2
    body = {"counts": [{k: v for k, v in vars(c).items() if v is not None} for c in counts],
            "accept_increases": args.accept_increases, "dry_run": args.dry_run}
    try:
        r = httpx.post(f"{args.api.rstrip('/')}/v1/inventory/reconcile", json=body, timeout=120,
                       headers={"Authorization": f"Bearer {args.key}",
                                "Idempotency-Key": uuid.uuid4().hex})
    except httpx.HTTPError as exc:
        print(f"allocator reconcile: {args.api} unreachable: {exc}", file=sys.stderr)
        return 2
    if r.status_code != 200:
        print(f"allocator reconcile: {r.status_code} {r.text}", file=sys.stderr)
        return 2
    report = r.json()
    where = write_report(report, args.out)
    print(json.dumps(report if args.json else {**report["summary"], "report": str(where)}))
    return 0
