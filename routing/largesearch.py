"""Local search for the large-order planner (:mod:`routing.large`): exact parcel
prices, moves of one line, swaps of two, closing a parcel, and changes of the open
set (add, drop or swap a warehouse) with each line sent to its cheapest open one.
"""

from __future__ import annotations

import numpy as np

from routing import cost as C
from routing.problem import PlanningProblem

ROUNDS = 2
"""Open-set changes tried after the first local optimum."""
SET_CANDIDATES = 12
"""Warehouses (the smallest dual slacks) the open-set search may add or swap in."""
PAIR_CANDIDATES = 6
"""Of those, the ones that may replace two open warehouses at once."""
MAX_SLABS = 4096
"""Longest per-warehouse price table (slab counts); heavier parcels are priced directly."""
_BIG = float(1 << 50)


class Parcels:
    """Exact parcel prices of one problem, vectorised over weights."""

    def __init__(self, p: PlanningProblem) -> None:
        self.p = p
        self.base = (p.fixed + p.lateness).astype(np.int64)
        self.linear = np.where(p.eligible, p.line_cost + p.weight_g[:, None]
                               * p.additional[None, :] / p.slab_g, _BIG)
        """(L, C) a line's cost and its weight at the additional-slab rate there."""

        # a parcel's price by slab count, up to twice the order's weight (no move
        # makes a heavier parcel): one lookup per price instead of the arithmetic
        self.k_max = min(2 * int(C.slabs(int(p.weight_g.sum()), p.slab_g)) + 2, MAX_SLABS)
        ship = C.shipping(p.first[:, None], p.additional[:, None],
                          np.maximum(np.arange(self.k_max + 1), 1)[None, :])
        self.table = (self.base[:, None] + ship + C.rto(ship, p.rto_ppm)).ravel()
        self.rows = np.arange(len(p.cand)) * (self.k_max + 1)

    def price(self, weight: np.ndarray, cand: np.ndarray | slice = slice(None)) -> np.ndarray:
        """Cost of a parcel of ``weight`` grams from ``cand`` (lines' own costs apart)."""
        p = self.p
        slabs = np.ceil(weight / p.slab_g).astype(np.intp)  # exact: weight < 2**53
        if slabs.size and slabs.max() > self.k_max:          # (never, but stay exact)
            ship = C.shipping(p.first[cand], p.additional[cand],
                              np.maximum(C.slabs(weight, p.slab_g), 1))
            return self.base[cand] + ship + C.rto(ship, p.rto_ppm)
        return self.table[self.rows[cand] + slabs]

    def totals(self, assigns: np.ndarray) -> np.ndarray:
        """Exact cost of each row of ``assigns`` (N, L) (INF where capacity is short)."""
        p = self.p
        n_sets, n = len(assigns), len(p.cand)
        flat = (assigns + n * np.arange(n_sets)[:, None]).ravel()
        weight = np.bincount(flat, weights=np.tile(p.weight_g, n_sets),
                             minlength=n_sets * n).reshape(n_sets, n).astype(np.int64)
        units = np.bincount(flat, weights=np.tile(p.qty, n_sets),
                            minlength=n_sets * n).reshape(n_sets, n)
        lines = p.line_cost[np.arange(p.n_lines)[None, :], assigns].sum(axis=1)
        total = np.where(units > 0, self.price(weight), 0).sum(axis=1) + lines
        ok = ((units <= p.capacity[None, :]).all(axis=1)
              & p.eligible[np.arange(p.n_lines)[None, :], assigns].all(axis=1))
        return np.where(ok, total, C.INF)

    def total(self, assign: np.ndarray) -> int:
        """Exact cost of a line → candidate assignment."""
        p = self.p
        n = len(p.cand)
        weight = np.bincount(assign, weights=p.weight_g, minlength=n).astype(np.int64)
        used = np.bincount(assign, minlength=n) > 0
        return int(self.price(weight)[used].sum()
                   + p.line_cost[np.arange(p.n_lines), assign].sum())


def improve(p: PlanningProblem, parcels: Parcels, assign: np.ndarray,
             max_open: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Local search on the exact cost; returns the local optimum and its best neighbour."""
    n_lines, n_cand = p.eligible.shape
    lines = np.arange(n_lines)
    w, q = p.weight_g, p.qty
    neighbour: np.ndarray | None = None
    for _ in range(4 * n_lines + 20):
        weight = np.bincount(assign, weights=w, minlength=n_cand).astype(np.int64)
        units = np.bincount(assign, weights=q, minlength=n_cand).astype(np.int64)
        count = np.bincount(assign, minlength=n_cand)
        here = np.where(count > 0, parcels.price(weight), 0)
        own = assign
        # move line l to c: c's parcel grows, l's parcel shrinks (or closes)
        grow = parcels.price(weight[None, :] + w[:, None]) - here[None, :] + p.line_cost
        left = np.where(count[own] > 1, parcels.price(weight[own] - w, own), 0)
        saved = here[own] - left + p.line_cost[lines, own]
        move = grow - saved[:, None]
        ok = p.eligible & (units[None, :] + q[:, None] <= p.capacity[None, :])
        ok[lines, own] = False
        if max_open is not None and (count > 0).sum() >= max_open:
            ok &= (count > 0)[None, :] | (count[own] == 1)[:, None]
        move = np.where(ok, move, C.INF)
        # swap lines i (at own[i]) and j (at own[j]): i's parcel changes by
        # ``half[i, j]`` (j in, i out), j's by ``half[j, i]``
        ci = own[:, None]
        lc = p.line_cost[:, own].T                            # lc[i, j]: j's cost at own[i]
        half = (parcels.price(weight[ci] + (w[None, :] - w[:, None]), ci) - here[ci]
                + lc - lc.diagonal()[:, None])
        swap = half + half.T
        el = p.eligible[:, own].T
        fit = units[ci] + (q[None, :] - q[:, None]) <= p.capacity[ci]
        oks = el & el.T & fit & fit.T & (ci != own[None, :])
        swap = np.where(oks, swap, C.INF)
        m, s = np.unravel_index(np.argmin(move), move.shape), np.unravel_index(
            np.argmin(swap), swap.shape)
        best_move, best_swap = move[m], swap[s]
        assign = assign.copy()
        if min(best_move, best_swap) < 0:
            if best_move <= best_swap:
                assign[m[0]] = m[1]
            else:
                assign[[s[0], s[1]]] = assign[[s[1], s[0]]]
            continue
        closed = _close_one(p, parcels, assign, count)
        if closed is not None:
            assign = closed
            continue
        if min(best_move, best_swap) < C.INF:
            neighbour = assign.copy()
            if best_move <= best_swap:
                neighbour[m[0]] = m[1]
            else:
                neighbour[[s[0], s[1]]] = assign[[s[1], s[0]]]
        break
    return assign, neighbour


def best_sets(p: PlanningProblem, parcels: Parcels, a: np.ndarray, s: np.ndarray,
               assign: np.ndarray, max_open: int | None) -> np.ndarray:
    """Local search over the set of open warehouses (add one, drop one, or swap one
    for another among the most promising; when none of those helps, once, swap two
    for one of the :data:`PAIR_CANDIDATES` most promising), each line to its cheapest
    open warehouse by the linear cost, every set priced exactly."""
    n_lines, n_cand = a.shape
    near = np.argsort(s, kind="stable")[:SET_CANDIDATES]
    rank = np.argsort(a, axis=1, kind="stable")
    best, best_cost = assign, C.INF
    pairs = tried = False
    for _ in range(n_cand):
        opened = np.zeros(n_cand, bool)
        opened[best] = True
        sets = [opened] + (_pair_swaps(opened, near[:PAIR_CANDIDATES]) if pairs
                           else _one_changes(opened, near))
        S = np.array(sets[1:] if best_cost == C.INF else sets).reshape(-1, n_cand)
        if max_open is not None:
            S = S[S.sum(axis=1) <= max_open]
        if len(S) == 0:
            if tried:
                return best
            pairs = tried = True
            continue
        choice = _cheapest_open(a, rank, S)
        cost = parcels.totals(choice)
        k = int(np.argmin(cost))
        if cost[k] >= best_cost:
            if tried:
                return best
            pairs = tried = True
            continue
        best, best_cost, pairs = choice[k], int(cost[k]), False
    return best


def _cheapest_open(a: np.ndarray, rank: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """``(N, L)``: each line's cheapest warehouse (by ``a``, ties to the lowest index)
    among each open set of ``sets`` (N, C) — the first one open in its ``rank`` (``a``'s
    stable argsort); a line goes to its cheapest anywhere when a set is empty."""
    choice = rank[np.arange(len(rank))[None, :], np.argmax(sets[:, rank], axis=2)]
    empty = ~sets.any(axis=1)
    if empty.any():
        choice[empty] = np.argmin(a, axis=1)
    return choice


def _one_changes(opened: np.ndarray, near: np.ndarray) -> list[np.ndarray]:
    """Open sets one change away: flip one of ``near``, swap one in, or drop one."""
    sets = []
    for c in near:
        flip = opened.copy()
        flip[c] = not flip[c]
        sets.append(flip)
        if not opened[c]:
            for d in np.flatnonzero(opened):
                swap = flip.copy()
                swap[d] = False
                sets.append(swap)
    for d in np.flatnonzero(opened):
        if d not in near:
            drop = opened.copy()
            drop[d] = False
            sets.append(drop)
    return sets


def _pair_swaps(opened: np.ndarray, near: np.ndarray) -> list[np.ndarray]:
    """Open sets with two open warehouses replaced by one of ``near``."""
    sets = []
    shut = np.flatnonzero(opened)
    for c in near:
        if opened[c]:
            continue
        for i, d in enumerate(shut):
            for e in shut[i + 1:]:
                two = opened.copy()
                two[[d, e]] = False
                two[c] = True
                sets.append(two)
    return sets


def _close_one(p: PlanningProblem, parcels: Parcels, assign: np.ndarray,
               count: np.ndarray) -> np.ndarray | None:
    """The best improving 'close a parcel' move (its lines to their cheapest other
    open warehouse), or None."""
    opened = np.flatnonzero(count > 0)
    if len(opened) < 2:
        return None
    lines = np.arange(p.n_lines)
    price = parcels.linear[:, opened]                 # (L, open): linear cost there
    at = np.searchsorted(opened, assign)              # each line's own column
    price[lines, at] = np.inf
    pick = np.argmin(price, axis=1)                   # cheapest other open warehouse
    stuck = np.bincount(at, weights=price[lines, pick] >= _BIG, minlength=len(opened)) > 0
    moved = np.where(at[None, :] == np.arange(len(opened))[:, None],
                     opened[pick][None, :], assign[None, :])
    delta = np.where(stuck, C.INF, parcels.totals(moved)) - parcels.total(assign)
    k = int(np.argmin(delta))
    return moved[k] if delta[k] < 0 else None


def fits(p: PlanningProblem, assign: np.ndarray) -> bool:
    """Eligibility and capacity of an assignment."""
    units = np.bincount(assign, weights=p.qty, minlength=len(p.cand))
    return bool((units <= p.capacity).all() and p.eligible[np.arange(p.n_lines), assign].all())


def polish(p: PlanningProblem, parcels: Parcels, a: np.ndarray, opened: np.ndarray,
            max_open: int | None) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Each line to its cheapest warehouse in ``opened`` (or anywhere when none there
    can ship it), then local search; ``(None, None)`` when that ends infeasible."""
    start = np.argmin(np.where(opened[None, :], a, a + _BIG), axis=1)
    if not fits(p, start):
        start = np.argmin(a, axis=1)
    assign, neighbour = improve(p, parcels, start, max_open)
    return (assign, neighbour) if feasible(p, assign) else (None, None)


def feasible(p: PlanningProblem, assign: np.ndarray) -> bool:
    """Eligible, within capacity and within ``max_shipments``."""
    limit = p.order.max_shipments
    return fits(p, assign) and (limit is None or len(np.unique(assign)) <= limit)
