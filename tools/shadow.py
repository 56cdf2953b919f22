"""Shadow mode: run the planner beside the legacy flow and compare every decision.

Each order of a log is planned on a stock snapshot without holding anything; the legacy
system's decision for it (which warehouse shipped which units) is priced by the same
cost model, and the two are compared: the same choice or not, the cost and ETA
differences, and the orders one side filled that the other could not. The report is a
CSV (one row per order), a summary JSON and an HTML page, like the rehearsal's.
"""

from __future__ import annotations

import csv
import html
import json
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from allocator.errors import InvalidRequest
from allocator.ops import Line
from routing import Order, Router
from routing.availability import Availability
from routing.cost import inr
from routing.plan import shipments_of


@dataclass(frozen=True)
class Decision:
    """What the legacy flow did with an order: its placed lines (none: not filled)."""

    order_id: str
    lines: tuple[Line, ...]

    @property
    def filled(self) -> bool:
        return bool(self.lines)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """A JSON array, a JSON object with one list value, or JSON lines."""
    text = Path(path).read_text(encoding="utf-8").strip()
    if text.startswith("["):
        return json.loads(text)
    if text.startswith("{") and "\n{" not in text:
        data = json.loads(text)
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def parse_decisions(rows: Iterable[dict[str, Any]]) -> dict[str, Decision]:
    """``{"order_id", "lines": [{"sku", "warehouse", "qty"}]}``; no lines: not filled."""
    out: dict[str, Decision] = {}
    for i, row in enumerate(rows):
        try:
            lines = tuple((str(x["sku"]), str(x["warehouse"]), int(x["qty"]))
                          for x in row.get("lines") or ())
            out[str(row["order_id"])] = Decision(str(row["order_id"]), lines)
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"decisions[{i}]: needs order_id and lines of sku, "
                                 f"warehouse, qty ({type(exc).__name__}: {exc})") from None
    return out


def compare(router: Router, order: Order, stock: Availability, decision: Decision | None,
            today: date) -> dict[str, Any]:
    """One order's row: our plan against the legacy decision."""
    ours = router.plan(order, stock, today=today)
    ours_lines = sorted((line.sku, s.warehouse, line.qty) for s in ours.shipments
                        for line in s.lines) if ours.filled else []
    row: dict[str, Any] = {
        "order_id": order.id, "ours": "filled" if ours.filled else "unfillable",
        "legacy": "filled" if decision and decision.filled else "unfilled",
        "ours_cost": inr(ours.cost.total) if ours.filled else None, "legacy_cost": None,
        "ours_eta_days": ours.eta_days, "legacy_eta_days": None, "same_choice": False,
        "cost_diff": None, "eta_diff_days": None, "note": ""}
    if decision is None or not decision.filled:
        row["note"] = "no legacy decision" if decision is None else ""
        return row
    legacy = _price(router, order, stock, decision, today)
    if isinstance(legacy, str):
        row["note"] = legacy
        return row
    cost, eta = legacy
    row.update(legacy_cost=cost, legacy_eta_days=eta,
               same_choice=ours_lines == sorted(decision.lines))
    if ours.filled:
        row.update(cost_diff=round(cost - row["ours_cost"], 2),
                   eta_diff_days=eta - (ours.eta_days or 0))
    return row


def _price(router: Router, order: Order, stock: Availability, decision: Decision,
           today: date) -> tuple[float, int] | str:
    """The legacy decision's cost and ETA in our model, or why it cannot be priced."""
    net = router.network
    skus = [line.sku for line in order.lines]
    rows = stock.rows(skus).copy()
    for sku, wh, qty in decision.lines:
        if sku not in skus:
            return f"legacy ships {sku}, which is not in the order"
        if wh not in net.warehouse_ids:
            return f"legacy ships from {wh}, which is not in the network"
        i = skus.index(sku)
        rows[i, net.warehouse_index(wh)] = max(rows[i, net.warehouse_index(wh)], qty)
    problem = router.problem(replace(order, split_lines=True), dict(zip(skus, rows)))
    alloc = np.zeros((problem.n_lines, len(problem.cand)), np.int64)
    col = {int(w): c for c, w in enumerate(problem.cand)}
    for sku, wh, qty in decision.lines:
        c = col.get(net.warehouse_index(wh))
        if c is None:
            return f"legacy ships from {wh}, which our model cannot use for this order"
        alloc[problem.skus.index(sku), c] += qty
    if not np.array_equal(alloc.sum(axis=1), problem.qty):
        return "legacy decision does not ship every unit of the order"
    shipments = shipments_of(problem, alloc, today)
    return inr(sum(s.cost.total for s in shipments)), max(s.eta_days for s in shipments)


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    both = [r for r in rows if r["cost_diff"] is not None]
    return {
        "orders": len(rows),
        "same_choice": sum(r["same_choice"] for r in rows),
        "different_choice": sum(1 for r in both if not r["same_choice"]),
        "legacy_filled_ours_not": sum(r["legacy"] == "filled" and r["ours"] != "filled"
                                      for r in rows),
        "ours_filled_legacy_not": sum(r["ours"] == "filled" and r["legacy"] != "filled"
                                      for r in rows),
        "not_priced": sum(1 for r in rows if r["note"]),
        "legacy_extra_cost": round(sum(r["cost_diff"] for r in both), 2),
        "legacy_extra_eta_days": sum(r["eta_diff_days"] for r in both),
        "orders_cheaper_with_ours": sum(1 for r in both if r["cost_diff"] > 0),
        "orders_cheaper_with_legacy": sum(1 for r in both if r["cost_diff"] < 0),
    }


def write_report(rows: Sequence[dict[str, Any]], summary: dict[str, Any], out: Path) -> None:
    """``shadow.csv``, ``summary.json`` and ``index.html`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "shadow.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["order_id"])
        writer.writeheader()
        writer.writerows(rows)
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    head = "".join(f"<th>{html.escape(k)}</th>" for k in (rows[0] if rows else {}))
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values())
                   + "</tr>" for r in rows if not r["same_choice"])
    facts = "".join(f"<li>{html.escape(k)}: <b>{v}</b></li>" for k, v in summary.items())
    (out / "index.html").write_text(
        f"<!doctype html><meta charset=utf-8><title>Shadow run</title><h1>Shadow run</h1>"
        f"<ul>{facts}</ul><h2>Orders decided differently</h2><table border=1>"
        f"<tr>{head}</tr>{body}</table>", encoding="utf-8")
