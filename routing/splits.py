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

The work grows with ``Π (q_l + 1)``; orders past :data:`MAX_STATES` lattice points go
to CP-SAT instead. :func:`split_lower_bound` is a cheap bound on any plan that
splits a line: when it is no better than the whole-line runner-up, the whole-line
answer is already exact and the DP is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from routing import cost as C
from routing.problem import PlanningProblem, Solution

MAX_STATES = 1024
"""Largest lattice ``Π (q_l + 1)`` the DP takes (larger orders go to CP-SAT)."""
MAX_ENTRIES = 120_000
"""Largest number of (state, choice) entries per candidate the DP takes."""


@dataclass(frozen=True)
class _Lattice:
    """Index tables for one quantity vector ``q`` (built once per ``q``)."""

    vectors: np.ndarray   # (N, L) every 0 ≤ b ≤ q; flat index = ravel_multi_index
    kind: np.ndarray      # (E,) 0 = keep (this candidate ships nothing), 1 = take b
    b: np.ndarray         # (E,) vector taken (flat index; 0 for keeps)
    src: np.ndarray       # (E,) state the entry comes from (r − b)
    rank: np.ndarray      # (E,) which of the source's two plans (0 best, 1 second)
    starts: np.ndarray    # (N,) first entry of each target state r (entries grouped by r)
    target: np.ndarray    # (E,) r of each entry


@lru_cache(maxsize=512)
def lattice(q: tuple[int, ...]) -> _Lattice:
    """Entries ``r ← (r − b) + b`` for every ``0 ≤ b ≤ r ≤ q``, grouped by ``r``."""
    radix = tuple(x + 1 for x in q)
    n = int(np.prod(radix))
    vectors = np.indices(radix).reshape(len(q), -1).T.astype(np.int64)
    # per dimension: all (r_l, b_l) with b_l ≤ r_l; their cartesian product
    dims = [np.array([(r, b) for r in range(x + 1) for b in range(r + 1)]) for x in q]
    pick = np.indices(tuple(len(d) for d in dims)).reshape(len(q), -1)
    r_parts = np.stack([d[p, 0] for d, p in zip(dims, pick)])
    b_parts = np.stack([d[p, 1] for d, p in zip(dims, pick)])
    r_flat = np.ravel_multi_index(tuple(r_parts), radix)
    b_flat = np.ravel_multi_index(tuple(b_parts), radix)
    s_flat = np.ravel_multi_index(tuple(r_parts - b_parts), radix)
    take = b_flat > 0
    r_flat, b_flat, s_flat = r_flat[take], b_flat[take], s_flat[take]
    states = np.arange(n)
    target = np.concatenate([states, states, r_flat, r_flat])
    kind = np.concatenate([np.zeros(2 * n, np.int64), np.ones(2 * len(r_flat), np.int64)])
    b = np.concatenate([np.zeros(2 * n, np.int64), b_flat, b_flat])
    src = np.concatenate([states, states, s_flat, s_flat])
    rank = np.concatenate([np.zeros(n, np.int64), np.ones(n, np.int64),
                           np.zeros(len(r_flat), np.int64), np.ones(len(r_flat), np.int64)])
    order = np.lexsort((np.arange(len(target)), target))  # by r, keeps first
    target, kind, b, src, rank = (a[order] for a in (target, kind, b, src, rank))
    starts = np.searchsorted(target, states)
    return _Lattice(vectors, kind, b, src, rank, starts, target)


def fits(problem: PlanningProblem) -> bool:
    """Whether the DP takes this order (else CP-SAT does)."""
    q = [int(x) for x in problem.qty]
    states = int(np.prod([x + 1 for x in q], dtype=np.float64))
    entries = 2 * (states + np.prod([(x + 1) * (x + 2) / 2 for x in q]))
    return states <= MAX_STATES and entries <= MAX_ENTRIES


def parcel_costs(problem: PlanningProblem, vectors: np.ndarray) -> np.ndarray:
    """Cost of a parcel carrying each unit vector from each candidate, ``(C, N)``
    (:data:`routing.cost.INF` where a cell lacks the units or capacity is short)."""
    p = problem
    units = vectors.sum(axis=1)
    slabs = C.slabs(vectors @ p.unit_weight, p.slab_g)
    ship = C.shipping(p.first[:, None], p.additional[:, None], np.maximum(slabs, 1)[None, :])
    w = p.cand
    free = np.maximum(0, p.avail[:, w].T - p.network.stock_health_threshold)   # (C, L)
    drained = np.maximum(0, vectors[None, :, :] - free[:, None, :]).sum(axis=2)
    handling = p.network.handling_paise[w][:, None] * units[None, :]
    total = (ship + C.rto(ship, p.rto_ppm) + (p.fixed + p.lateness)[:, None] + handling
             + drained * p.health_paise)
    ok = ((vectors[None, :, :] <= p.units_max.T[:, None, :]).all(axis=2)
          & (units[None, :] <= p.capacity[:, None]))
    return np.where(ok, total, C.INF)


def solve_split(problem: PlanningProblem) -> Solution:
    """Best plan and runner-up over every split of the lines (exact; see module doc)."""
    p = problem
    n_cand = len(p.cand)
    if n_cand == 0:
        return Solution("split", "infeasible")
    t = lattice(tuple(int(x) for x in p.qty))
    n = len(t.vectors)
    limit = p.order.max_shipments
    counting = limit is not None and limit < n_cand
    k_max = limit if counting else 0
    f = parcel_costs(p, t.vectors)
    big = np.int64(C.INF)
    v = np.full((2, k_max + 1, n), big, np.int64)
    v[0, 0, 0] = 0
    keep = t.kind == 0
    arange_e = np.arange(len(t.kind))
    back = np.empty((n_cand, 2, k_max + 1, n), np.int32)
    for c in range(n_cand):
        came = v[t.rank, :, t.src].T                          # (K+1, E)
        if counting:
            came_take = np.full_like(came, big)
            came_take[1:] = came[:-1]
        else:
            came_take = came
        vals = np.where(keep[None, :], came, np.minimum(f[c, t.b][None, :] + came_take, big))
        for r in range(2):
            best = np.minimum.reduceat(vals, t.starts, axis=1)
            hit = vals == best[:, t.target]
            pos = np.minimum.reduceat(np.where(hit, arange_e[None, :], len(t.kind)),
                                      t.starts, axis=1)
            back[c, r] = pos
            v[r] = best
            vals[np.arange(k_max + 1)[:, None], pos] = big + 1  # the next rank excludes it
    ends = v[:, :, n - 1]                                     # (2, K+1)
    flat = np.argsort(ends.ravel(), kind="stable")[:2]
    found = [(int(ends.ravel()[i]), divmod(int(i), k_max + 1)) for i in flat
             if ends.ravel()[i] < C.INF]
    if not found:
        return Solution("split", "infeasible")

    def rebuild(rank: int, k: int) -> np.ndarray:
        alloc = np.zeros((p.n_lines, n_cand), np.int64)
        r = n - 1
        for c in range(n_cand - 1, -1, -1):
            e = int(back[c, rank, k, r])
            if t.kind[e]:
                alloc[:, c] = t.vectors[t.b[e]]
                k -= 1 if counting else 0
            r, rank = int(t.src[e]), int(t.rank[e])
        return alloc

    cost, (rank, k) = found[0]
    sol = Solution("split", "optimal", cost=cost, alloc=rebuild(rank, k), bound=cost)
    if len(found) > 1:
        cost2, (rank2, k2) = found[1]
        sol.runner_up_alloc, sol.runner_up_cost = rebuild(rank2, k2), cost2
    return sol


def split_lower_bound(problem: PlanningProblem) -> int:
    """A lower bound on every plan that splits some line (it has two parcels or more).

    Each parcel costs at least ``fixed + lateness + (first − additional)(1 + ρ)`` plus
    ``additional (1 + ρ) / slab_g`` per gram (slabs rounded down), and each unit its
    handling and, past the cell's free units, the stock-health penalty; so the plan
    costs at least the two cheapest parcel bases plus, per line, its cheapest units.
    """
    p = problem
    if len(p.cand) < 2:
        return int(C.INF)
    rho = 1 + p.rto_ppm / C.PPM
    base = np.sort(p.fixed + p.lateness + (p.first - p.additional) * rho)
    total = float(base[0] + base[1])
    per_gram = p.additional * rho / p.slab_g                                  # (C,)
    thr = p.network.stock_health_threshold
    handling = p.network.handling_paise[p.cand].astype(float)
    for l in range(p.n_lines):
        unit = handling + per_gram * float(p.unit_weight[l])                  # (C,)
        have = p.units_max[l]
        free = np.minimum(have, np.maximum(0, p.avail[l, p.cand] - thr))
        price = np.concatenate([unit, unit + p.health_paise])
        count = np.concatenate([free, have - free])
        order = np.argsort(price, kind="stable")
        took = np.minimum(np.cumsum(count[order]), int(p.qty[l]))
        got = np.diff(np.concatenate([[0], took]))
        if took[-1] < p.qty[l]:
            return int(C.INF)                                 # not enough units at all
        total += float(got @ price[order])
    return int(np.floor(total - 1e-6))
