"""Big whole-line orders (past the exact fast path): a plan in milliseconds, with a
proven lower bound on the optimum.

Every parcel from candidate ``c`` costs at least ``F_c + A_c·K`` plus its lines'
handling and stock health, where ``K = max(1, ⌈weight / slab⌉)`` is its slab count,
``F_c = fixed + lateness + (first − additional)(1 + ρ)`` and ``A_c = additional (1 + ρ)``
(ρ the RTO rate: ``⌈ρ·x⌉ ≥ ρ·x``). Writing ``K = weight/slab + rounding`` splits that
into a *linear* part — an uncapacitated facility-location problem with opening cost
``F_c`` and line cost ``a[l, c] = line_cost + A_c·weight_l / slab`` — and the slab
*rounding* of each open parcel.

1. **Bound.** The facility-location LP is solved in its dual by dual ascent
   (Erlenkotter 1978): prices ``u_l`` per line, every slack
   ``s_c = F_c − Σ_l max(0, u_l − a[l, c]) ≥ 0``. Every plan then costs at least
   ``Σu + Σ_{c open} (s_c + A_c·z_c) + Σ_l r[l, σ(l)]`` with ``r = max(0, a − u)``
   (the dual's reduced costs) and ``z_c = K_c − weight_c/slab`` the parcel's slab
   rounding. The LP sees no rounding, but the plan's slab counts are whole numbers
   adding up to at least the order's weight in slabs, so **Σ z_c ≥ R = ⌈W/slab⌉ −
   W/slab**, and some open parcel carries it: every plan costs at least
   ``Σu + min_c (s_c + A_c·R)`` (``A ≥ 0``: rates are never negative). The same cut
   holds at any prices, so subgradient steps from ``u`` (the Lagrangian
   ``Σu + Σ min(0, slack) + min_c (max(0, slack_c) + A_c·R)``) may raise it further.
2. **Plan.** Open the warehouses the dual makes tight, send each line to its cheapest
   open one, then local search on the exact cost (move a line, swap two lines, close
   a parcel). The best neighbour found is the runner-up.
3. **Strengthening.** A plan sending line ``l`` to ``c`` has a residual (the sum in
   1.) of at least ``r[l, c] + s_c + min(A_c·R, min_d (s_d + A_d·R))``; only plans
   whose residual is below ``target − Σu`` can cost less than ``target``; when they
   are few they are enumerated at once, with each parcel's exact rounding: the bound
   becomes ``min(target, Σu + least residual)`` and the least-residual plans are
   priced exactly (one may be cheaper). The plans whose pairs have small ``r`` and
   ``s`` alone (no rounding, a wider set) are searched the same way for a cheaper plan.

The result: ``status`` ``optimal`` when the bound meets the cost, else ``feasible``
with ``bound`` (the plan reports ``gap = (cost − bound) / cost``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from routing import cost as C
from routing.largesearch import (ROUNDS, Parcels, best_sets, feasible, fits, improve,
                                 polish)
from routing.problem import PlanningProblem, Solution

SUBGRADIENT_STEPS = 50
"""Subgradient steps that polish the dual-ascent bound."""
OPEN_SETS = 2
"""Open sets of the Lagrangian relaxation tried as starting points."""
MAX_COMBOS = 1 << 15
"""Most plans the strengthening step enumerates at once."""
TARGET_GAP = 0.01
"""The strengthening aims at least this close (and tries for optimality first)."""
_BIG = float(1 << 50)


def linear_costs(p: PlanningProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``F (C,)``, ``A (C,)`` per slab and ``a (L, C)`` (``_BIG`` where not eligible)."""
    rho = 1.0 + p.rto_ppm / C.PPM
    F = (p.fixed + p.lateness) + (p.first - p.additional) * rho
    A = p.additional * rho
    a = np.where(p.eligible, p.line_cost + A[None, :] * (p.weight_g[:, None] / p.slab_g), _BIG)
    return F.astype(float), A.astype(float), a


def dual_ascent(a: np.ndarray, F: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dual prices ``u`` (L,) and slacks ``s`` (C,) ≥ 0 of the facility-location LP;
    ``Σ u`` is a lower bound. Each pass raises every line's price to its next
    breakpoint as far as the slacks of the warehouses it already covers allow."""
    n_lines, n_cand = a.shape
    order = np.argsort(a, axis=1, kind="stable")
    srt = np.take_along_axis(a, order, axis=1).tolist()
    rank = order.tolist()
    u = [row[0] for row in srt]
    k = [1] * n_lines
    s = F.tolist()
    for l in range(n_lines):
        while k[l] < n_cand and srt[l][k[l]] <= u[l]:
            k[l] += 1
    changed = True
    while changed:
        changed = False
        for l in range(n_lines):
            row, cover = srt[l], rank[l][:k[l]]
            room = min(s[c] for c in cover)
            if room <= 1e-9 or k[l] == n_cand and room >= _BIG:
                continue
            step = min(room, (row[k[l]] if k[l] < n_cand else _BIG) - u[l])
            if step <= 0 or step >= _BIG / 2:
                continue
            u[l] += step
            for c in cover:
                s[c] -= step
            while k[l] < n_cand and row[k[l]] <= u[l] + 1e-9:
                k[l] += 1
            changed = True
    return np.array(u), np.maximum(np.array(s), 0.0)


def rounding_floor(p: PlanningProblem) -> float:
    """``R``: the slabs every plan pays beyond ``weight/slab`` in all, at least. Its
    parcels' slab counts are whole and add up to at least the order's weight in
    slabs, so to at least ``⌈W/slab⌉``: ``Σ_c rounding_c ≥ R = ⌈W/slab⌉ − W/slab``."""
    total = int(p.weight_g.sum())
    return float(C.slabs(total, p.slab_g) * p.slab_g - total) / p.slab_g


def rounding_bonus(slack: np.ndarray, A: np.ndarray, R: float) -> float:
    """What the open parcels add to ``Σu + Σ min(0, slack)`` at least: some parcel
    ``c`` is open, and the ``R`` slabs of rounding (at least) cost ``A`` each at the
    open parcel with the least ``A``, so ``min_c (max(0, slack_c) + A_c·R)``."""
    return float((np.maximum(0.0, slack) + A * R).min())


def lagrangian(a: np.ndarray, F: np.ndarray, u: np.ndarray,
               A: np.ndarray | None = None, R: float = 0.0) -> float:
    """The facility-location Lagrangian bound at prices ``u`` (valid for any ``u``),
    with the slab rounding's share when ``A`` (per slab) and ``R`` are given."""
    slack = F - np.maximum(0.0, u[:, None] - a).sum(axis=0)
    extra = 0.0 if A is None else rounding_bonus(slack, A, R)
    return float(u.sum() + np.minimum(0.0, slack).sum() + extra)


def subgradient(a: np.ndarray, F: np.ndarray, u: np.ndarray, ub: float, A: np.ndarray,
                R: float, steps: int = SUBGRADIENT_STEPS) -> tuple[float, list[np.ndarray]]:
    """Raise the Lagrangian bound from the dual-ascent prices by subgradient steps
    (Polyak steps towards ``ub``): the best bound seen, and the open sets the
    relaxation chose most often (good plans open those)."""
    plain = lagrangian(a, F, u)    # steers the steps (the rounding does not)
    best = lagrangian(a, F, u, A, R)
    u = u.copy()
    scale = 1.0
    seen: dict[bytes, int] = {}
    for _ in range(steps):
        excess = np.maximum(0.0, u[:, None] - a)
        slack = F - excess.sum(axis=0)
        opened = slack < 0
        g = 1.0 - (excess[:, opened] > 0).sum(axis=1)
        value = float(u.sum() + np.minimum(0.0, slack).sum())
        plain = max(plain, value)
        best = max(best, value + rounding_bonus(slack, A, R))
        key = (slack <= 1e-6).tobytes()
        seen[key] = seen.get(key, 0) + 1
        norm = float(g @ g)
        if norm == 0:
            break
        u += scale * (ub - plain) / norm * g
        scale *= 0.97
    common = sorted(seen, key=lambda k: -seen[k])[:OPEN_SETS]
    return best, [np.frombuffer(k, bool) for k in common]


def _strengthen(p: PlanningProblem, parcels: Parcels, A: np.ndarray, a: np.ndarray,
                u: np.ndarray, s: np.ndarray, R: float, floor: float, ub: int
                ) -> tuple[float, np.ndarray | None]:
    """A stronger bound than ``floor`` by enumerating the plans whose residual is below
    the target, and the cheapest of them (exactly priced) if it beats ``ub``; then the
    same search among the plans whose every line and parcel has a small residual
    (without the rounding: a wider neighbourhood, priced for a cheaper plan only)."""
    base = float(u.sum())
    r = np.maximum(0.0, a - u[:, None])
    # a plan sending l to c has a residual of at least r[l, c] + s_c + min(A_c·R, bonus)
    pair = r + (s + np.minimum(A * R, rounding_bonus(s, A, R)))[None, :]
    bound, opt = _ladder(p, pair, base, ub, floor)
    best: np.ndarray | None = None
    if opt is not None:
        least, best = _search(p, parcels, A, r, s, opt, base, ub)
        bound = max(floor, min(bound, base + least))
    _, near = _ladder(p, np.maximum(r, s[None, :]), base, ub, -np.inf)
    if near is not None and (opt is None or not np.array_equal(near, opt)):
        _, other = _search(p, parcels, A, r, s, near, base,
                           ub if best is None else parcels.total(best))
        best = best if other is None else other
    return bound, best


def _ladder(p: PlanningProblem, pair: np.ndarray, base: float, ub: int, floor: float
            ) -> tuple[float, np.ndarray | None]:
    """The first target (``ub``, then 0.5 % and 1 % below) whose plans — every line
    ``l`` at a ``c`` with ``base + pair[l, c]`` below it — number at most
    :data:`MAX_COMBOS`: ``(target, opt)`` with ``opt[l, c]`` the allowed pairs. Else
    ``(bound, None)``: the target when some line has no pair below it (no plan does),
    or ``floor`` (when the targets fall to it, or all have too many plans)."""
    for target in (ub, ub * (1 - TARGET_GAP / 2), ub * (1 - TARGET_GAP)):
        if target <= floor:
            return floor, None
        opt = p.eligible & (pair < target - base)
        n_opt = opt.sum(axis=1)
        if (n_opt == 0).any():
            return target, None
        if float(np.prod(n_opt.astype(float))) <= MAX_COMBOS:
            return target, opt
    return floor, None


def _search(p: PlanningProblem, parcels: Parcels, A: np.ndarray, r: np.ndarray,
            s: np.ndarray, opt: np.ndarray, base: float, ub: int
            ) -> tuple[float, np.ndarray | None]:
    """The least residual of the plans ``opt`` allows, and the cheapest of the eight
    with the least residuals (exactly priced) if it beats ``ub``."""
    cols, resid, digits = _residuals(p, A, r, s, opt)
    best: np.ndarray | None = None
    cut = np.partition(resid, 7)[7] if len(resid) > 8 else np.inf
    few = np.flatnonzero(resid <= cut)             # the 8 least, as a stable sort has them
    for m in few[np.argsort(resid[few], kind="stable")][:8]:
        if base + resid[m] >= ub:
            break
        cand = cols[digits(int(m))]
        if fits(p, cand) and parcels.total(cand) < ub:
            best, ub = cand, parcels.total(cand)
    return float(resid.min()), best


def _residuals(p: PlanningProblem, A: np.ndarray, r: np.ndarray, s: np.ndarray,
               opt: np.ndarray) -> tuple[np.ndarray, np.ndarray, Callable[[int], np.ndarray]]:
    """Every plan sending each line ``l`` to a warehouse with ``opt[l]``: the columns
    used (``cols``), each plan's exact residual (``_BIG`` past ``max_shipments``) and
    a function from a plan's index to its column per line.

    Plans are the cells of a grid with one axis per line that has a choice (line order,
    so cells are numbered in mixed radix). A parcel's weight depends only on the lines
    that may go there, so each column's term (``s_c`` + its slab rounding) is computed
    on the sub-grid of those lines' axes and broadcast-added, as is each line's ``r``.
    """
    cols = np.flatnonzero(opt.any(axis=0))
    n = len(cols)
    options = [np.flatnonzero(opt[l, cols]) for l in range(p.n_lines)]
    free = [l for l in range(p.n_lines) if len(options[l]) > 1]
    shape = [len(options[l]) for l in free]
    fixed = [l for l in range(p.n_lines) if len(options[l]) == 1]
    at = np.array([options[l][0] for l in fixed], np.int64)
    weight = np.bincount(at, weights=p.weight_g[fixed], minlength=n).astype(np.int64)
    count = np.bincount(at, minlength=n)
    resid = np.full(shape, float(r[fixed, cols[at]].sum()))

    def along(axis: int, values: np.ndarray) -> np.ndarray:
        return values.reshape([-1 if i == axis else 1 for i in range(len(free))])
    n_open = np.zeros([1] * len(free), np.int64)
    for j, l in enumerate(free):
        resid = resid + along(j, r[l, cols[options[l]]])
    for c in range(n):
        w = np.full([1] * len(free), weight[c])
        k = np.full([1] * len(free), count[c])
        for j, l in enumerate(free):
            here = options[l] == c
            if here.any():
                w = w + along(j, here * int(p.weight_g[l]))
                k = k + along(j, here.astype(np.int64))
        if not k.any():
            continue
        slabs = np.maximum(1, C.slabs(w, p.slab_g))
        resid = resid + np.where(k > 0, s[cols[c]] + A[cols[c]] * (slabs - w / p.slab_g), 0.0)
        n_open = n_open + (k > 0)
    resid = resid.ravel()
    if p.order.max_shipments is not None:
        resid = np.where(np.broadcast_to(n_open, shape).ravel() <= p.order.max_shipments,
                         resid, _BIG)

    def digits(m: int) -> np.ndarray:
        pick = [int(options[l][0]) for l in range(p.n_lines)]
        for l, d in zip(free, np.unravel_index(m, shape) if free else ()):
            pick[l] = int(options[l][d])
        return np.array(pick, np.int64)
    return cols, resid, digits


def solve_large(problem: PlanningProblem) -> Solution:
    """A plan, its best neighbour as runner-up, and a proven bound (see module doc)."""
    p = problem
    if len(p.cand) == 0 or not p.eligible.any(axis=1).all():
        return Solution("large", "infeasible")
    parcels = Parcels(p)
    F, A, a = linear_costs(p)
    u, s = dual_ascent(a, F)
    lb = float(u.sum())
    max_open = p.order.max_shipments
    assign, neighbour = polish(p, parcels, a, s <= 1e-6, max_open)
    if assign is None:
        return Solution("large", "unknown")
    ub = parcels.total(assign)
    R = rounding_floor(p)
    sub_bound, sets = subgradient(a, F, u, float(ub), A, R)
    tried = {np.unique(assign).tobytes()}
    for opened in sets:
        if np.flatnonzero(opened).tobytes() in tried:
            continue
        tried.add(np.flatnonzero(opened).tobytes())
        other, near = polish(p, parcels, a, opened, max_open)
        if other is not None and parcels.total(other) < ub:
            assign, neighbour, ub = other, near, parcels.total(other)
    for _ in range(ROUNDS):  # leave the local optimum by changing the open set, polish
        again, near = improve(p, parcels, best_sets(p, parcels, a, s, assign, max_open),
                               max_open)
        if not feasible(p, again) or parcels.total(again) >= ub:
            break
        assign, neighbour, ub = again, near, parcels.total(again)
    floor = max(lb + rounding_bonus(s, A, R), sub_bound)
    bound, better = _strengthen(p, parcels, A, a, u, s, R, floor, ub)
    if better is not None:
        neighbour, assign = assign, better
        assign, n2 = improve(p, parcels, assign, max_open)
        ub = parcels.total(assign)
        if n2 is not None and parcels.total(n2) < parcels.total(neighbour):
            neighbour = n2
    bound_paise = min(ub, int(np.ceil(bound - 1e-4)))   # costs are whole paise
    sol = Solution("large", "optimal" if bound_paise >= ub else "feasible",
                   assign, ub, bound=bound_paise)
    if neighbour is not None and not np.array_equal(neighbour, assign):
        sol.runner_up, sol.runner_up_cost = neighbour, parcels.total(neighbour)
    return sol
