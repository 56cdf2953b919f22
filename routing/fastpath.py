"""Exact vectorised planner for small orders (≤ :data:`MAX_LINES` lines).

A plan is a partition of the order's lines into shipments, each from a different
warehouse. The fast path

1. prices every *block* (non-empty subset of lines) at every candidate warehouse
   with one array expression (:meth:`PlanningProblem.block_costs`);
2. keeps, per block, its ``L + 1`` cheapest warehouses. For a partition with ``k``
   blocks, the two cheapest assignments with *distinct* warehouses only use each
   block's ``k + 1`` cheapest warehouses (exchange argument, docs/ROUTING.md), so
   the best plan and the runner-up are never lost;
3. bounds each partition below by the sum of its blocks' cheapest prices and
   skips partitions that cannot beat the second-best plan already known (only for
   tables of more than :data:`SORT_ALL` rows: two lines make 11 rows, cheaper to
   price all than to bound);
4. enumerates the surviving (partition, warehouse-rank) rows from precomputed
   index tables and takes the two cheapest rows whose warehouses are distinct.

The result is optimal under the model, and so is the runner-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from typing import Iterator

import numpy as np

from routing.cost import INF
from routing.problem import PlanningProblem, Solution, block_masks

MAX_LINES = 6
SORT_ALL = 64
"""Up to this many rows, the two cheapest are found by a stable sort (ties to the first)."""


@dataclass(frozen=True)
class _Tables:
    """Index tables for orders of ``n`` lines (built once per ``n``)."""

    n: int
    masks: np.ndarray        # (nb, n) int64 membership; block b is bitmask b + 1
    part_blocks: np.ndarray  # (P, n) block ids, padded with dummy ids nb + j
    part_k: np.ndarray       # (P,) blocks per partition
    row_start: np.ndarray    # (P,) first row of each partition
    row_count: np.ndarray    # (P,)
    row_blocks: np.ndarray   # (R, n) block id per slot
    row_ranks: np.ndarray    # (R, n) rank within the block's cheapest list
    block_rows: np.ndarray   # (nb, 1) row index helper for fancy indexing
    dummy_cost: np.ndarray   # (n, n + 1) zeros: cost of padding blocks
    dummy_wh: np.ndarray     # (n, n + 1) distinct negative ids: never collide


def _set_partitions(items: list[int]) -> Iterator[list[int]]:
    """All set partitions of ``items``, each as a list of bitmasks."""
    if not items:
        yield []
        return
    first, rest = items[0], items[1:]
    for r in range(len(rest) + 1):
        for combo in combinations(rest, r):
            block = (1 << first) | sum(1 << i for i in combo)
            remaining = [i for i in rest if i not in combo]
            for tail in _set_partitions(remaining):
                yield [block, *tail]


@lru_cache(maxsize=None)
def tables(n: int) -> _Tables:
    nb = (1 << n) - 1
    masks = block_masks(n)
    parts = sorted(_set_partitions(list(range(n))), key=len)
    pad = nb + np.arange(n)
    part_blocks = np.tile(pad, (len(parts), 1))
    part_k = np.array([len(p) for p in parts])
    row_blocks, row_ranks, counts = [], [], []
    for i, p in enumerate(parts):
        k = len(p)
        part_blocks[i, :k] = [m - 1 for m in p]
        ranks = np.indices((k + 1,) * k).reshape(k, -1).T
        blocks = np.tile(part_blocks[i], (len(ranks), 1))
        rk = np.zeros((len(ranks), n), np.int64)
        rk[:, :k] = ranks
        row_blocks.append(blocks)
        row_ranks.append(rk)
        counts.append(len(ranks))
    row_count = np.array(counts)
    return _Tables(
        n=n, masks=masks, part_blocks=part_blocks, part_k=part_k,
        row_start=np.concatenate([[0], np.cumsum(row_count)[:-1]]), row_count=row_count,
        row_blocks=np.concatenate(row_blocks).astype(np.intp),
        row_ranks=np.concatenate(row_ranks).astype(np.intp),
        block_rows=np.arange(nb)[:, None],
        dummy_cost=np.zeros((n, n + 1), np.int64),
        dummy_wh=np.repeat(-2 - np.arange(n)[:, None], n + 1, axis=1).astype(np.int64),
    )


def _distinct(wh: np.ndarray) -> np.ndarray:
    """Rows of ``wh`` whose entries are pairwise different."""
    if wh.shape[1] < 2:
        return np.ones(len(wh), bool)
    s = np.sort(wh, axis=1)
    return (s[:, 1:] != s[:, :-1]).all(axis=1)


def _solve_one_line(problem: PlanningProblem) -> Solution:
    """The one-line case (most checkout orders): a single block, so the plan and the
    runner-up are the two cheapest candidates (ties to the lower index, as below)."""
    if problem.eligible.shape[1] == 0:
        return Solution("fastpath", "infeasible")
    cost = problem.block_costs()[0]
    best = np.argsort(cost, kind="stable")[:2]
    if cost[best[0]] >= INF:
        return Solution("fastpath", "infeasible")
    sol = Solution("fastpath", "optimal", best[:1].copy(), int(cost[best[0]]))
    if len(best) > 1 and cost[best[1]] < INF:
        sol.runner_up, sol.runner_up_cost = best[1:2].copy(), int(cost[best[1]])
    return sol


def solve_fast(problem: PlanningProblem) -> Solution:
    """Optimal plan and runner-up for an order of at most :data:`MAX_LINES` lines."""
    n = problem.n_lines
    if n > MAX_LINES:
        raise ValueError(f"fast path handles at most {MAX_LINES} lines, got {n}")
    if n == 1:
        return _solve_one_line(problem)
    if problem.eligible.shape[1] == 0 or not problem.eligible.any(axis=1).all():
        return Solution("fastpath", "infeasible")   # a line no warehouse can ship whole
    t = tables(n)
    nb, m = len(t.masks), n + 1
    cost = problem.block_costs(t.masks)                       # (nb, C)
    ncand = cost.shape[1]
    r = t.block_rows
    if ncand > m:
        idx = np.argpartition(cost, m - 1, axis=1)[:, :m]
    else:
        idx = np.full((nb, m), -1, np.intp)                  # every candidate, then padding
        idx[:, :ncand] = np.arange(ncand)
    vals = np.where(idx >= 0, cost[r, np.maximum(idx, 0)], INF)
    order = np.argsort(vals, axis=1, kind="stable")
    idx, vals = idx[r, order], vals[r, order]
    top_cost = np.concatenate([vals, t.dummy_cost])           # dummy rows pad partitions
    top_wh = np.concatenate([idx, t.dummy_wh])

    # Per partition: a lower bound (each block at its favourite warehouse) and an upper
    # bound (blocks take, in turn, their cheapest warehouse not yet taken). Partitions
    # whose lower bound exceeds the second-best upper bound cannot hold the top two.
    allowed = t.part_k <= (problem.order.max_shipments or n)
    lb = top_cost[t.part_blocks, 0].sum(axis=1)
    live = allowed & (lb < INF)
    if not live.any():
        return Solution("fastpath", "infeasible")
    if len(t.row_blocks) <= SORT_ALL:
        # few rows (two lines): pricing them all costs less than bounding; the rows
        # bounding drops cost more than the second best, so the top two are the same
        parts = np.flatnonzero(live)
    else:
        exact = live & _distinct(top_wh[t.part_blocks, 0])   # favourites distinct: ub = lb
        ub = np.sort(lb[exact])
        if len(ub) < 2:
            ub = np.sort(_greedy_upper_bounds(t.part_blocks, top_cost, top_wh)[live])
        bound = ub[1] if len(ub) >= 2 and ub[1] < INF else INF - 1
        parts = np.flatnonzero(live & (lb <= bound))

    if len(parts) == len(t.part_k):
        blk, rk = t.row_blocks, t.row_ranks
    else:
        counts = t.row_count[parts]
        offsets = np.repeat(t.row_start[parts] - np.concatenate([[0], np.cumsum(counts)[:-1]]),
                            counts)
        rows = offsets + np.arange(counts.sum())
        blk, rk = t.row_blocks[rows], t.row_ranks[rows]
    total = top_cost[blk, rk].sum(axis=1)
    total[~_distinct(top_wh[blk, rk]) | (total >= INF)] = INF
    best2 = (np.argsort(total, kind="stable")[:2] if len(total) <= SORT_ALL
             else _two_smallest(total))
    if total[best2[0]] >= INF:
        return Solution("fastpath", "infeasible")

    def assignment(row: int) -> np.ndarray:
        out = [0] * n
        for b, k in zip(blk[row].tolist(), rk[row].tolist()):
            if b < nb:                                       # block b is the bitmask b + 1
                w = int(idx[b, k])
                for l in range(n):
                    if (b + 1) >> l & 1:
                        out[l] = w
        return np.array(out, np.int64)

    sol = Solution("fastpath", "optimal", assignment(best2[0]), int(total[best2[0]]))
    if len(best2) > 1 and total[best2[1]] < INF:
        sol.runner_up, sol.runner_up_cost = assignment(best2[1]), int(total[best2[1]])
    return sol


def _greedy_upper_bounds(part_blocks: np.ndarray, top_cost: np.ndarray,
                         top_wh: np.ndarray) -> np.ndarray:
    """Cost of a valid plan per partition: slot by slot, the cheapest free warehouse."""
    n_parts, n = part_blocks.shape
    rows = np.arange(n_parts)
    total = np.zeros(n_parts, np.int64)
    taken = np.empty((n_parts, n), np.int64)
    for j in range(n):
        wh, cst = top_wh[part_blocks[:, j]], top_cost[part_blocks[:, j]]   # (P, m)
        free = ~(wh[:, :, None] == taken[:, None, :j]).any(axis=2)
        pick = np.argmax(free, axis=1)  # a free rank always exists: j < m
        total += cst[rows, pick]
        taken[:, j] = wh[rows, pick]
    return np.minimum(total, INF)


def _two_smallest(values: np.ndarray) -> np.ndarray:
    two = np.argpartition(values, 1)[:2]
    return two[np.argsort(values[two], kind="stable")]
