"""Exact planner for orders whose lines may be split across warehouses.

With splits a plan gives each candidate warehouse ``c`` a vector ``b_c`` of units per
line (zero: it ships nothing). Every cost term of a parcel depends on its own
``b_c`` only (handling, slabs of its weight, fixed, RTO, lateness, the stock health
of the cells it draws from) and so do its limits (stock per cell, capacity), so the
cost of a plan is ``Σ_c f_c(b_c)`` subject to ``Σ_c b_c = q`` (and at most
``max_shipments`` non-zero ``b_c``). :func:`solve_split` solves that exactly by
dynamic programming over the candidates on the lattice ``0 ≤ r ≤ q`` of units still
to place, keeping the **two** cheapest partial plans per state, so the best plan
and the runner-up are both exact.

The work grows with ``Π (q_l + 1)`` times the candidates the DP takes; orders past
:data:`MAX_STATES` lattice points go to CP-SAT instead. The DP takes candidates in
increasing order of a lower bound on every plan that uses them and stops when the
next cannot appear in a plan cheaper than the runner-up found so far (the pruning
rule and its proof: :mod:`routing.splitbound`); typically two to four of fifty.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from routing import cost as C
from routing.problem import PlanningProblem, Solution
from routing.splitbound import candidate_bounds

MAX_STATES = 1024
"""Largest lattice ``Π (q_l + 1)`` the DP takes (larger orders go to CP-SAT)."""
MAX_PAIRS = 105_000
"""Largest number of (state, parcel) pairs the DP takes (every order of up to five
lines of up to three units fits)."""


@dataclass(frozen=True)
class _Lattice:
    """Index tables for one quantity vector ``q`` (built once per ``q``): every pair
    ``(r, b)`` with ``0 ≤ b ≤ r ≤ q`` — "state ``r`` is state ``r − b`` plus a parcel
    ``b`` from this candidate" (``b = 0``: it ships nothing) — grouped by ``r``."""

    vectors: np.ndarray   # (N, L) every 0 ≤ r ≤ q; flat index = ravel_multi_index
    target: np.ndarray    # (P,) r of each pair (non-decreasing)
    b: np.ndarray         # (P,) b (flat index; 0 first in each group, b = r last)
    src: np.ndarray       # (P,) r − b
    starts: np.ndarray    # (N,) first pair of each r
    # the same pairs ordered by the units in r (its level), for one-sweep recurrences
    level_b: np.ndarray       # (P,) b, pairs ordered by level of r (then r)
    level_src: np.ndarray     # (P,) r − b in that order
    level_states: np.ndarray  # (N,) states ordered by level (then index)
    level_starts: np.ndarray  # (N,) first pair (in level order) of each of those states
    level_cut: np.ndarray     # (max level + 2,) first of each level in level_states


@lru_cache(maxsize=512)
def lattice(q: tuple[int, ...]) -> _Lattice:
    """The pairs of ``q`` (:class:`_Lattice`), built in order without sorting: state
    ``r`` has ``Π (r_l + 1)`` vectors ``b ≤ r``, the ``j``-th read off ``j`` in the mixed
    radix ``(r_l + 1)``; flat indices are linear (index of ``r − b`` = index of ``r``
    minus index of ``b``)."""
    radix = np.array(q, np.int64) + 1
    n = int(np.prod(radix))
    vectors = np.indices(tuple(radix)).reshape(len(q), -1).T.astype(np.int64)
    stride = np.concatenate([np.cumprod(radix[::-1])[::-1][1:], [1]]).astype(np.int32)
    counts = np.prod(vectors + 1, axis=1)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    r = np.repeat(np.arange(n, dtype=np.int32), counts)
    code = np.arange(len(r), dtype=np.int32) - np.repeat(first.astype(np.int32), counts)
    b = np.zeros(len(r), np.int32)
    for l in range(len(q) - 1, -1, -1):
        size = np.repeat((vectors[:, l] + 1).astype(np.int32), counts)
        b += code % size * stride[l]
        code //= size
    level = vectors.sum(axis=1).astype(np.uint8 if sum(q) < 256 else np.int64)
    by_level = np.argsort(level[r], kind="stable")           # radix sort on small keys
    states = np.argsort(level, kind="stable")
    return _Lattice(vectors, r, b, r - b, first, b[by_level], (r - b)[by_level], states,
                    np.concatenate([[0], np.cumsum(counts[states])[:-1]]),
                    np.searchsorted(level[states], np.arange(int(level.max()) + 2)))


def lattice_for(qty: np.ndarray) -> tuple[_Lattice, np.ndarray, np.ndarray]:
    """The lattice of ``qty``, its vectors with columns in line order, and ``perm``
    (lattice dimension ``j`` is line ``perm[j]``). The tables are built for the sorted
    quantities, so orders with the same quantities in any line order share one."""
    perm = np.argsort(qty, kind="stable")
    t = lattice(tuple(int(x) for x in qty[perm]))
    vectors = np.empty_like(t.vectors)
    vectors[:, perm] = t.vectors
    return t, vectors, perm


def fits(problem: PlanningProblem) -> bool:
    """Whether the DP takes this order (else CP-SAT does)."""
    q = [int(x) for x in problem.qty]
    states = int(np.prod([x + 1 for x in q], dtype=np.float64))
    pairs = np.prod([(x + 1) * (x + 2) / 2 for x in q])
    return states <= MAX_STATES and pairs <= MAX_PAIRS


def parcel_costs(problem: PlanningProblem, vectors: np.ndarray, perm: np.ndarray
                 ) -> np.ndarray:
    """Cost of a parcel carrying each unit vector from each candidate, ``(C, N)``
    (:data:`routing.cost.INF` where a cell lacks the units or capacity is short).

    Handling, stock health and the per-cell limits add up over lines, so they are
    tabled per line (units 0..q_l) and summed over the lattice by broadcasting, in
    the lattice's dimension order ``perm``; only the slabs and capacity need the
    whole vector."""
    p = problem
    units = vectors.sum(axis=1)
    slabs = np.maximum(C.slabs(vectors @ p.unit_weight, p.slab_g), 1)
    # a parcel's shipping, RTO, fixed and lateness depend on its slab count alone
    ship = C.shipping(p.first[:, None], p.additional[:, None],
                      np.arange(1, int(slabs.max()) + 1)[None, :])
    per_slab = ship + C.rto(ship, p.rto_ppm) + (p.fixed + p.lateness)[:, None]
    w = p.cand
    n_cand = len(w)
    free = np.maximum(0, p.avail[:, w] - p.network.stock_health_threshold)    # (L, C)
    handling = p.network.handling_paise[w][:, None]
    lines = np.zeros((n_cand, 1), np.int64)
    for l in perm:
        x = np.arange(int(p.qty[l]) + 1)[None, :]
        table = (handling * x + np.maximum(0, x - free[l][:, None]) * p.health_paise
                 + np.where(x > p.units_max[l][:, None], C.INF, 0))            # (C, q_l + 1)
        lines = (lines[:, :, None] + table[:, None, :]).reshape(n_cand, lines.shape[1] * x.size)
    total = per_slab[:, slabs - 1] + lines
    ok = (lines < C.INF) & (units[None, :] <= p.capacity[:, None])
    return np.where(ok, total, C.INF)


def solve_split(problem: PlanningProblem, *, prune: bool = True) -> Solution:
    """Best plan and runner-up over every split of the lines (exact; see module doc).

    With ``prune`` the DP takes the candidates in increasing order of their bound
    ``LB_c`` (:mod:`routing.splitbound`) and stops at the first whose bound reaches
    the runner-up found so far: no plan that cheap uses it or any later one, so the
    best and runner-up costs are the unpruned DP's. Under ``max_shipments`` it first
    ignores the limit in the DP (the bounds still respect it): when the two plans
    found keep to it, they are the best two that do — a plan within the limit over
    the candidates taken costs at least the second, and one using a later candidate
    more — else it runs again counting parcels."""
    p = problem
    if len(p.cand) == 0:
        return Solution("split", "infeasible")
    t, vectors, perm = lattice_for(p.qty)
    f = parcel_costs(p, vectors, perm)
    limit = p.order.max_shipments
    if not prune:
        counting = limit is not None and limit < len(p.cand)
        return _solution(_dp(p, t, vectors, f, np.arange(len(p.cand)), None, counting))
    bounds = candidate_bounds(t, f, limit)
    order = np.argsort(bounds, kind="stable")
    found = _dp(p, t, vectors, f, order, bounds, counting=False)
    if limit is not None and any(int((a.sum(axis=0) > 0).sum()) > limit for _, a in found):
        found = _dp(p, t, vectors, f, order, bounds, counting=True)
    return _solution(found)


def _solution(found: list[tuple[int, np.ndarray]]) -> Solution:
    if not found:
        return Solution("split", "infeasible")
    (cost, alloc), rest = found[0], found[1:]
    sol = Solution("split", "optimal", cost=cost, alloc=alloc, bound=cost)
    if rest:
        sol.runner_up_cost, sol.runner_up_alloc = rest[0]
    return sol


def _step(t: _Lattice, v: np.ndarray, fc: np.ndarray, counting: bool, last: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One DP step for a candidate with parcel costs ``fc`` (N,): the two best values
    and their entries ``(2, K+1, S)`` for the states ``S`` (all, or only the full
    order's when ``last``). An entry is ``2 × pair + rank`` (the source state's best or
    second plan). Only pairs that can be finite are looked at (the candidate can ship
    ``b`` and some plan reaches ``r − b``; ``b = 0`` always, so no group is empty)."""
    n, big = v.shape[2], np.int64(C.INF)
    lo = int(t.starts[n - 1]) if last else 0
    b, src = t.b[lo:], t.src[lo:]
    keep = b == 0
    fb = fc[b]
    idx = np.flatnonzero(keep | ((fb < big) & (v[0].min(axis=0)[src] < big)))
    src, keep, fb = src[idx], keep[idx], fb[idx]
    states = np.arange(n - 1, n) if last else np.arange(n)
    target = np.repeat(t.target[lo:][idx], 2)
    starts = 2 * np.searchsorted(t.target[lo:][idx], states)
    came = v[:, :, src].transpose(1, 2, 0).reshape(v.shape[1], -1)   # (K+1, 2E')
    keep2, fb2 = np.repeat(keep, 2), np.repeat(fb, 2)
    came_take = came
    if counting:
        came_take = np.full_like(came, big)
        came_take[1:] = came[:-1]
    vals = np.where(keep2[None, :], came, np.minimum(fb2[None, :] + came_take, big))
    at, rows = np.arange(vals.shape[1]), np.arange(v.shape[1])[:, None]
    best, entry = [], []
    for _ in range(2):
        low = np.minimum.reduceat(vals, starts, axis=1)
        hit = vals == low[:, target - states[0]]
        pos = np.minimum.reduceat(np.where(hit, at[None, :], len(at)), starts, axis=1)
        best.append(low)
        entry.append(2 * (lo + idx[pos // 2]) + pos % 2)
        vals[rows, pos] = big + 1                              # the next rank excludes it
    return np.stack(best), np.stack(entry), states


def _dp(p: PlanningProblem, t: _Lattice, vectors: np.ndarray, f: np.ndarray,
        order: np.ndarray, bounds: np.ndarray | None, counting: bool
        ) -> list[tuple[int, np.ndarray]]:
    """The two cheapest plans (cost, ``(L, C)`` units): dynamic programming over the
    candidates in ``order`` on the lattice, two plans kept per state (and, when
    ``counting``, per parcel count up to ``max_shipments``). With ``bounds`` it stops
    before the first candidate whose bound reaches the second-cheapest plan so far.

    Shortcuts that change nothing in the result: the first candidate's states are
    read off ``f`` (one plan per state: ``r`` from it, or nothing); each later step
    first updates the full order's state alone (cheap), and when that already shows
    the next candidate cannot take part (its bound reaches the new runner-up), the
    other states are never needed and the DP ends there."""
    n = len(vectors)
    k_max = int(p.order.max_shipments) if counting else 0
    big = np.int64(C.INF)
    v = np.full((2, k_max + 1, n), big, np.int64)
    back = np.zeros((len(order), 2, k_max + 1, n), np.int64)
    cap = big
    done = 0

    def excluded(c: int, cap: np.int64) -> bool:   # cap ≤ INF: a bound of INF is out
        return bounds is not None and bool(bounds[c] >= cap)

    def second(values: np.ndarray) -> np.int64:
        return np.partition(values.ravel(), 1)[1] if bounds is not None else big

    for i, c in enumerate(order):
        if excluded(c, cap):
            break
        if done == 0:                                          # only state 0 is reached
            k = 1 if counting else 0
            v[0, 0, 0] = 0
            v[0, k, 1:] = f[c, 1:]
            back[0, 0, 0, 0] = 0                               # pair (0, 0): keep
            back[0, 0, k, 1:] = 2 * (np.append(t.starts[2:], len(t.b)) - 1)  # b = r
        else:
            best, entry, states = _step(t, v, f[c], counting, last=True)
            then = min(cap, second(best))
            if i + 1 < len(order) and not excluded(order[i + 1], then):
                best, entry, states = _step(t, v, f[c], counting, last=False)
            v[:, :, states] = best
            back[done][:, :, states] = entry
        done += 1
        cap = min(cap, second(v[:, :, n - 1]))
    cols = order[:done]
    ends = v[:, :, n - 1].ravel()                              # (2 × (K+1))
    flat = np.argsort(ends, kind="stable")[:2]
    found = [(int(ends[i]), divmod(int(i), k_max + 1)) for i in flat if ends[i] < C.INF]

    def rebuild(rank: int, k: int) -> np.ndarray:
        alloc = np.zeros((p.n_lines, len(p.cand)), np.int64)
        r = n - 1
        for i in range(done - 1, -1, -1):
            pair, came = divmod(int(back[i, rank, k, r]), 2)
            if t.b[pair]:
                alloc[:, cols[i]] = vectors[t.b[pair]]
                k -= 1 if counting else 0
            r, rank = int(t.src[pair]), came
        return alloc

    return [(cost, rebuild(rank, k)) for cost, (rank, k) in found]
