"""``allocator bench core``: vectorised batch holds vs a plain-Python dict loop.

Both sides get the same ledger state and the same ops (single-line holds in
batches, Zipf demand with one hot SKU), with the same semantics: FCFS, all or
nothing, idempotency records, a hold record per success. The baseline is what a
straightforward service would write; the figures are lines applied per second.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from allocator.ledger import Ledger
from allocator.ops import OpBatch


def zipf_skus(rng: np.random.Generator, n_skus: int, n: int, exponent: float) -> np.ndarray:
    """Draw ``n`` SKU rows with P(rank k) ∝ 1/k^exponent (rank 1 = row 0, the hot SKU)."""
    weights = 1.0 / np.arange(1, n_skus + 1) ** exponent
    return rng.choice(n_skus, size=n, p=weights / weights.sum())


def make_workload(n_skus: int, n_wh: int, n_lines: int, exponent: float, seed: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Initial on_hand per cell, then op ids, cells and quantities of every line."""
    rng = np.random.default_rng(seed)
    on_hand = rng.integers(20, 400, size=n_skus * n_wh).astype(np.int64)
    rows = zipf_skus(rng, n_skus, n_lines, exponent)
    cells = rows * n_wh + rng.integers(0, n_wh, size=n_lines)
    qtys = rng.choice(np.array([1, 1, 1, 1, 2, 3]), size=n_lines).astype(np.int64)
    op_ids = rng.permutation(np.arange(1, n_lines + 1, dtype=np.int64) * 7919)
    return on_hand, op_ids, cells, qtys


def run_vectorised(on_hand: np.ndarray, op_ids: np.ndarray, cells: np.ndarray,
                   qtys: np.ndarray, n_skus: int, n_wh: int, batch: int,
                   ttl_ms: int) -> tuple[float, int, Ledger]:
    ledger = Ledger([f"S{i}" for i in range(n_skus)], [f"W{j}" for j in range(n_wh)],
                    capacity=len(op_ids))
    ledger.on_hand[:] = on_hand
    batches = [OpBatch.single_line_holds(op_ids[s:s + batch], cells[s:s + batch],
                                         qtys[s:s + batch], ttl_ms, now_ms=s)
               for s in range(0, len(op_ids), batch)]
    accepted = 0
    t0 = time.perf_counter()
    for b in batches:
        accepted += int((ledger.apply(b).code == 0).sum())
    return time.perf_counter() - t0, accepted, ledger


def run_dict_baseline(on_hand: np.ndarray, op_ids: np.ndarray, cells: np.ndarray,
                      qtys: np.ndarray, batch: int, ttl_ms: int) -> tuple[float, int]:
    """The same ops through dicts and a Python loop, one op at a time."""
    stock = {c: [int(v), 0, 0] for c, v in enumerate(on_hand.tolist())}
    seen: dict[int, tuple[str, int]] = {}
    holds: dict[int, dict[str, Any]] = {}
    ops, cs, qs = op_ids.tolist(), cells.tolist(), qtys.tolist()
    accepted = 0
    t0 = time.perf_counter()
    for s in range(0, len(ops), batch):
        now = s
        for op, cell, qty in zip(ops[s:s + batch], cs[s:s + batch], qs[s:s + batch]):
            if op in seen:
                continue
            row = stock[cell]
            avail = row[0] - row[1] - row[2]
            if qty <= avail:
                row[1] += qty
                hold_id = len(holds)
                holds[hold_id] = {"op": op, "cell": cell, "qty": qty, "state": "pending",
                                  "created": now, "expires": now + ttl_ms}
                seen[op] = ("ok", hold_id)
                accepted += 1
            else:
                seen[op] = ("insufficient", avail)
    return time.perf_counter() - t0, accepted


def bench_core(n_skus: int = 10_000, n_wh: int = 20, n_lines: int = 1_048_576,
               batch: int = 4096, exponent: float = 1.2, seed: int = 7) -> dict[str, Any]:
    """Run both sides on the same workload; returns the JSON summary."""
    ttl_ms = 600_000
    on_hand, op_ids, cells, qtys = make_workload(n_skus, n_wh, n_lines, exponent, seed)
    t_vec, acc_vec, ledger = run_vectorised(on_hand, op_ids, cells, qtys, n_skus, n_wh,
                                            batch, ttl_ms)
    t_base, acc_base = run_dict_baseline(on_hand, op_ids, cells, qtys, batch, ttl_ms)
    lines_per_s = n_lines / t_vec
    baseline = n_lines / t_base
    hot_share = float(np.mean(cells // n_wh == 0))
    return {
        "benchmark": "core",
        "skus": n_skus, "warehouses": n_wh, "lines": n_lines, "batch": batch,
        "hot_sku_share": round(hot_share, 4),
        "accepted": acc_vec, "baseline_accepted": acc_base,
        "results_match": acc_vec == acc_base,
        "lines_per_s": round(lines_per_s),
        "baseline_lines_per_s": round(baseline),
        "ratio": round(lines_per_s / baseline, 2),
        "bytes_per_cell": ledger.bytes_per_cell(),
        "targets": {"lines_per_s": 2_000_000, "ratio": 20, "bytes_per_cell_max": 32},
        "met": bool(lines_per_s >= 2_000_000 and lines_per_s / baseline >= 20
                    and ledger.bytes_per_cell() <= 32),
    }
