"""Reconciliation against the warehouse system: compare each pushed or fetched count
with the ledger, classify the difference (:mod:`allocator.reconcile`), apply the safe
corrections as versioned syncs, publish a ``drift`` event with its cause for every
difference, keep running totals for the metrics, and — on a schedule — fetch the counts
from a file or URL and write a report (CSV + summary JSON)."""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from allocator.config import Keys
from allocator.errors import InvalidRequest
from allocator.reconcile import Cause, Finding, classify, summarise
from service.inventory import Count, Inventory
from storage.coalesce import Coalescer
from storage.events import publish

log = logging.getLogger("allocator.reconcile")


@dataclass(frozen=True)
class WmsCount:
    """A warehouse system's count of one cell; ``in_transit``: units it shipped whose
    confirmation may not have reached the allocator (None: unknown)."""

    sku: str
    warehouse: str
    on_hand: int
    in_transit: int | None = None


class Reconciler:
    def __init__(self, inventory: Inventory, redis: Coalescer, keys: Keys) -> None:
        self.inventory = inventory
        self.redis = redis
        self.keys = keys
        self.totals: dict[str, dict[str, int]] = {c.value: {"cells": 0, "units": 0}
                                                  for c in Cause}
        self.runs = 0
        self._task: asyncio.Task | None = None

    async def run(self, counts: Sequence[WmsCount], accept_increases: bool = False,
                  dry_run: bool = False, version: int | None = None) -> dict[str, Any]:
        """Reconcile these cells; the report (summary and one finding per cell)."""
        self._validate(counts)
        version = version or int(time.time() * 1000)
        skus = sorted({c.sku for c in counts})
        stock = dict(zip(skus, await asyncio.gather(*(self.inventory.stock(s) for s in skus))))
        findings = []
        for c in counts:
            row = stock[c.sku][c.warehouse]
            findings.append(classify(c.sku, c.warehouse, row["on_hand"], row["held"],
                                     row["committed"], c.on_hand, c.in_transit,
                                     accept_increases))
        to_fix = [f for f in findings if f.target is not None]
        answers = [] if dry_run else await self.inventory.sync(
            [Count(f.sku, f.warehouse, f.target, version) for f in to_fix])  # type: ignore[arg-type]
        status = {(a["sku"], a["warehouse"]): a["status"] for a in answers}
        run_id = uuid.uuid4().hex[:12]
        if not dry_run:
            await self._publish(run_id, findings, status)
            self._count(findings)
        applied = sum(1 for s in status.values() if s == "ok")
        return {"run_id": run_id, "at_ms": int(time.time() * 1000), "version": version,
                "dry_run": dry_run, "accept_increases": accept_increases,
                "summary": summarise(findings, applied, len(status) - applied),
                "findings": [dict(f.to_dict(), applied=status.get((f.sku, f.warehouse)))
                             for f in findings]}

    def _validate(self, counts: Sequence[WmsCount]) -> None:
        if not counts:
            raise InvalidRequest("counts: at least one count")
        seen: set[tuple[str, str]] = set()
        for i, c in enumerate(counts):
            self.inventory.client.check(c.sku, c.warehouse)
            if (c.sku, c.warehouse) in seen:
                raise InvalidRequest(f"counts[{i}]: {c.sku}@{c.warehouse} counted twice")
            seen.add((c.sku, c.warehouse))
            if c.on_hand < 0 or (c.in_transit or 0) < 0:
                raise InvalidRequest(f"counts[{i}]: units cannot be negative")

    async def _publish(self, run_id: str, findings: list[Finding],
                       status: dict[tuple[str, str], str]) -> None:
        """One ``drift`` event per difference, with its cause (docs/EVENTS.md); sent
        together, so the coalescing pipeline carries them in a few round trips."""
        at = int(time.time() * 1000)
        await asyncio.gather(*(publish(self.redis, self.keys, {
            "event_id": f"reconcile:{run_id}:{f.sku}@{f.warehouse}", "type": "drift",
            "shard": "reconcile", "at": at, "sku": f.sku, "warehouse": f.warehouse,
            "cause": f.cause.value, "difference": f.difference, "in_flight": f.in_flight,
            "corrected": status.get((f.sku, f.warehouse), "no")})
            for f in findings if f.cause is not Cause.MATCH))

    def _count(self, findings: list[Finding]) -> None:
        self.runs += 1
        for f in findings:
            t = self.totals[f.cause.value]
            t["cells"] += 1
            t["units"] += abs(f.unexplained)

    # ------------------------------------------------------------------ schedule
    def start(self, source: str, interval_s: float, reports: Path) -> None:
        """Every ``interval_s``: fetch counts from ``source``, reconcile, write a report.
        With several API processes, a Redis lock lets one of them run each round."""
        self._task = asyncio.get_running_loop().create_task(
            self._every(source, interval_s, reports))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _every(self, source: str, interval_s: float, reports: Path) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                if await self.redis.run("SET", self.keys.reconcile_lock, "1", "NX", "PX",
                                        max(1000, int(interval_s * 900))):
                    await self.tick(source, reports)
            except Exception:  # noqa: BLE001 - a bad round must not stop the schedule
                log.exception("scheduled reconciliation failed")

    async def tick(self, source: str, reports: Path) -> dict[str, Any]:
        """One scheduled round: fetch, reconcile, write the report; the report."""
        report = await self.run(await asyncio.to_thread(load_counts, source))
        await asyncio.to_thread(write_report, report, reports)
        log.info("reconciliation %s: %s", report["run_id"], report["summary"])
        return report


def parse_counts(rows: Sequence[dict[str, Any]], where: str = "counts") -> list[WmsCount]:
    """Counts from dicts with ``sku``, ``warehouse``, ``on_hand`` (or ``count``) and an
    optional ``in_transit``; InvalidRequest naming the first bad row."""
    out = []
    for i, row in enumerate(rows):
        try:
            units = row["on_hand"] if "on_hand" in row else row["count"]
            transit = row.get("in_transit")
            out.append(WmsCount(str(row["sku"]), str(row["warehouse"]), int(units),
                                None if transit in (None, "") else int(transit)))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"{where}[{i}]: needs sku, warehouse and on_hand as whole "
                                 f"numbers ({type(exc).__name__}: {exc})") from None
    return out


def load_counts(source: str) -> list[WmsCount]:
    """Counts from a CSV or JSON file, or an http(s) URL answering either."""
    if source.startswith(("http://", "https://")):
        import httpx

        r = httpx.get(source, timeout=30)
        r.raise_for_status()
        text, is_json = r.text, "json" in r.headers.get("content-type", "")
    else:
        text, is_json = Path(source).read_text(encoding="utf-8"), source.endswith(".json")
    if is_json:
        data = json.loads(text)
        return parse_counts(data["counts"] if isinstance(data, dict) else data, source)
    return parse_counts(list(csv.DictReader(text.splitlines())), source)


def write_report(report: dict[str, Any], folder: Path) -> Path:
    """``<run>.csv`` (one row per cell) and ``<run>.json`` (the summary) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"reconcile-{report['at_ms']}-{report['run_id']}"
    rows = report["findings"]
    with open(f"{stem}.csv", "w", newline="", encoding="utf-8") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    Path(f"{stem}.json").write_text(json.dumps({k: v for k, v in report.items()
                                                if k != "findings"}, indent=2))
    return Path(f"{stem}.json")
