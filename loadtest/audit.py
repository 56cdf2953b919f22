"""The rehearsal's invariant audit: what clients were told against the stock ledger.

Pure functions over plain data, so a corrupted ledger or event log is easy to test:

* **conservation** per SKU × warehouse: on_hand after = on_hand before + units the
  clients restocked (sale SKUs; nobody ships during a rehearsal), or the count of the
  newest sync the server applied (ops SKUs, which nobody sells);
* **commits**: committed after − committed before = the units of the commits whose
  clients got ``200``, per cell;
* **oversold**: no cell with held + committed > on_hand (and the shards' own ledger
  audit, when the cluster is reachable);
* **leaked holds**: no pending hold past its expiry (+ a sweep grace), and every
  walk-away reservation whose TTL passed reads ``expired``.

``lost_units`` is every unit the books cannot explain: on_hand off by conservation
plus committed off by the confirmed commits.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

Cell = tuple[str, str]
Stock = dict[Cell, dict[str, int]]


@dataclass
class AuditResult:
    oversold: int = 0
    lost_units: int = 0
    on_hand_mismatch_units: int = 0
    commit_mismatch_units: int = 0
    leaked_holds: int = 0
    confirmed_commits: int = 0
    confirmed_commit_units: int = 0
    ledger_committed_units: int = 0
    restocked_units: int = 0
    syncs_applied: int = 0
    walkaways: int = 0
    unclear: int = 0
    cells_checked: int = 0
    ledger_ok: bool | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.problems and self.oversold == 0 and self.lost_units == 0
                and self.leaked_holds == 0 and self.ledger_ok is not False)

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), ok=self.ok)


def stock_cells(inventory: dict[str, dict[str, dict[str, int]]]) -> Stock:
    """``{sku: {warehouse: row}}`` (the API's inventory shape) → ``{(sku, wh): row}``."""
    return {(sku, wh): {k: int(row[k]) for k in ("on_hand", "held", "committed")}
            for sku, whs in inventory.items() for wh, row in whs.items()}


def _add(problems: list[str], text: str, limit: int = 20) -> None:
    if len(problems) < limit:
        problems.append(text)
    elif len(problems) == limit:
        problems.append("… more problems omitted")


def audit_rehearsal(before: Stock, after: Stock, events: Iterable[dict[str, Any]],
                    ops_skus: Iterable[str] = (), *,
                    pending_expires_ms: Iterable[int] | None = None, now_ms: int = 0,
                    grace_ms: int = 2_000, walkaway_states: dict[str, str] | None = None,
                    ledger_audit: dict[str, Any] | None = None) -> AuditResult:
    """Audit one rehearsal (see the module doc). ``pending_expires_ms``: expiry of
    every pending hold the shards still have at ``now_ms``; ``walkaway_states``:
    reservation id → state read over HTTP after the TTL."""
    res = AuditResult()
    ops = set(ops_skus)
    restocked: Counter[Cell] = Counter()
    committed: Counter[Cell] = Counter()
    last_sync: dict[Cell, tuple[int, int]] = {}
    walkaways: dict[str, int] = {}
    for ev in events:
        kind = ev.get("e")
        if kind == "commit":
            res.confirmed_commits += 1
            for sku, wh, qty in ev["lines"]:
                committed[(sku, wh)] += int(qty)
        elif kind == "cancel_lines":  # units of a committed order cancelled (refunded)
            for sku, wh, qty in ev["lines"]:
                committed[(sku, wh)] -= int(qty)
        elif kind == "restock":
            restocked[(ev["sku"], ev["wh"])] += int(ev["qty"])
        elif kind == "sync":
            cell, v = (ev["sku"], ev["wh"]), int(ev["version"])
            res.syncs_applied += 1
            if cell not in last_sync or v > last_sync[cell][0]:
                last_sync[cell] = (v, int(ev["on_hand"]))
        elif kind == "walkaway":
            walkaways[ev["id"]] = int(ev["expires_ms"])
        elif kind == "unclear":
            res.unclear += 1
    res.confirmed_commit_units = sum(committed.values())
    res.restocked_units = sum(restocked.values())
    res.walkaways = len(walkaways)

    for cell in set(committed) | set(restocked) | set(last_sync):
        if cell not in after or cell not in before:
            _add(res.problems, f"{cell[0]} at {cell[1]}: touched by clients but not audited")
    for cell, row in sorted(after.items()):
        res.cells_checked += 1
        sku, wh = cell
        b = before.get(cell, {"on_hand": 0, "held": 0, "committed": 0})
        over = row["held"] + row["committed"] - row["on_hand"]
        if over > 0:
            res.oversold += over
            _add(res.problems, f"{sku} at {wh}: oversold by {over}")
        if sku in ops:
            expect = last_sync[cell][1] if cell in last_sync else b["on_hand"]
        else:
            expect = b["on_hand"] + restocked[cell]
        if row["on_hand"] != expect:
            res.on_hand_mismatch_units += abs(row["on_hand"] - expect)
            _add(res.problems, f"{sku} at {wh}: on_hand {row['on_hand']}, expected {expect}")
        delta = row["committed"] - b["committed"]
        res.ledger_committed_units += delta
        if delta != committed[cell]:
            res.commit_mismatch_units += abs(delta - committed[cell])
            _add(res.problems, f"{sku} at {wh}: {delta} units committed, clients were told "
                               f"{committed[cell]}")
    res.lost_units = res.on_hand_mismatch_units + res.commit_mismatch_units

    if pending_expires_ms is not None:
        late = [e for e in pending_expires_ms if e < now_ms - grace_ms]
        if late:
            res.leaked_holds += len(late)
            _add(res.problems, f"{len(late)} pending holds past their TTL "
                               f"(oldest {max(0, now_ms - min(late)) / 1000:.1f} s late)")
    if walkaway_states is not None:
        for rid, exp in walkaways.items():
            state = walkaway_states.get(rid)
            if exp < now_ms - grace_ms and state not in ("expired",):
                res.leaked_holds += 1
                _add(res.problems, f"walk-away {rid} past its TTL reads {state!r}")
    if ledger_audit is not None:
        res.ledger_ok = bool(ledger_audit.get("ok"))
        res.oversold = max(res.oversold, int(ledger_audit.get("oversold_units", 0)))
        if not res.ledger_ok:
            for name, shard in ledger_audit.get("shards", {}).items():
                for p in shard.get("problems", []):
                    _add(res.problems, f"ledger {name}: {p}")
    return res


def outcome_counts(events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Expected refusals and failures by request and status, from the users' events."""
    status: Counter[str] = Counter()
    fails: Counter[str] = Counter()
    by_sku: dict[str, Counter[str]] = defaultdict(Counter)
    for ev in events:
        if ev.get("e") == "status":
            status[f"{ev['name']} {ev['code']}"] += 1
            for sku in ev.get("skus") or ():
                by_sku[str(ev["code"])][sku] += 1
        elif ev.get("e") == "fail":
            fails[f"{ev['name']} {ev['code']}"] += 1
    server_errors = sum(n for k, n in fails.items()
                        if int(k.rsplit(" ", 1)[1]) >= 500 or int(k.rsplit(" ", 1)[1]) == 0)
    return {"expected": dict(status), "failures": dict(fails), "server_errors": server_errors,
            "rate_limited_429": sum(n for k, n in status.items() if k.endswith(" 429")),
            "overloaded_503": sum(n for k, n in status.items() if k.endswith(" 503")),
            "kill_switch_423": sum(n for k, n in status.items() if k.endswith(" 423")),
            "sold_out_409": sum(n for k, n in status.items() if k.endswith(" 409")),
            "by_sku": {c: dict(v.most_common(5)) for c, v in by_sku.items()}}
