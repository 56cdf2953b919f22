"""Exact candidate pruning for the split DP (:mod:`routing.splits`).

``f[c, b]`` is the exact cost of one parcel from candidate ``c`` carrying the unit
vector ``b`` (:func:`routing.splits.parcel_costs`), and a split plan costs
``Σ_c f[c, b_c]`` over its non-empty parcels, with ``Σ_c b_c = q`` and at most
``m = max_shipments`` parcels.

**Cover bound.** Let ``g(b) = min_c f[c, b]`` (the cheapest parcel carrying ``b``
from anywhere) and ``G_k(r)`` the least ``Σ g(b_i)`` over multisets of at most ``k``
non-zero vectors summing to ``r`` (``G_0(0) = 0``, ``G_0(r) = ∞`` otherwise,
``G_{k+1}(r) = min(G_k(r), min_{0 < b ≤ r} g(b) + G_k(r − b))``). Any plan's parcels
other than ``c``'s are at most ``m − 1`` non-zero vectors summing to ``q − b_c``, each
costing at least ``g`` of its vector (the relaxation forgets that they come from
distinct warehouses, that each cell's stock is shared and capacity), so

    cost(plan) ≥ f[c, b_c] + G_{m−1}(q − b_c)
               ≥ LB_c := min_{b ≠ 0} f[c, b] + G_{m−1}(q − b)

for every plan that uses ``c`` (``G_∞``, the fixpoint, without ``max_shipments``).
``G`` only decreases with more parcels, so the fixpoint is a bound for any count.

**Pruning rule.** Let two distinct feasible plans, already found, cost at most
``U``. Then the best plan and the runner-up cost at most ``U``. A plan using a
candidate with ``LB_c ≥ U`` costs at least ``U``: it can be neither cheaper than the
runner-up nor, unless it ties with it, its equal — so dropping such candidates
leaves the best and runner-up *costs* unchanged (when plans tie, which of the tied
ones is reported may differ; the unpruned DP keeps an arbitrary two of them too).
:func:`routing.splits.solve_split` takes the candidates in increasing ``LB_c`` and
stops at the first with ``LB_c ≥ U``, ``U`` the second-cheapest plan over the
candidates taken so far (a DP over a subset finds real plans); every later
candidate has a bound at least as large. Tests check the bound against every plan
of small problems and the pruned DP against the unpruned one and a brute force.
"""

from __future__ import annotations

import numpy as np

from routing import cost as C

MAX_PASSES = 64
"""Safety cap on the cover-bound iterations (each adds one parcel; a plan has at most
Σ q parcels, and the fixpoint is usually reached in a few)."""


def cover_bound(t: object, g: np.ndarray, parcels: int | None) -> np.ndarray:
    """``G_k`` over the lattice ``t`` (:class:`routing.splits._Lattice`) for
    ``k = parcels`` (``None``: the fixpoint, any number of parcels). Should the
    iterations stop short of what ``k`` asks (:data:`MAX_PASSES`), ``G = 0`` is
    returned instead: weaker, but still a lower bound."""
    n = len(g)
    G = np.full(n, C.INF, np.int64)
    G[0] = 0
    if n == 1 or parcels == 0:
        return G
    g = g.copy()
    g[0] = C.INF                                   # a parcel carries something
    if parcels is None:
        return _cover_sweep(t, g)
    G = np.minimum(g, C.INF)                       # G_1: one parcel
    G[0] = 0
    want = MAX_PASSES if parcels is None else parcels - 1
    for _ in range(min(want, MAX_PASSES)):
        vals = g[t.b] + G[t.src]                                       # type: ignore[attr-defined]
        new = np.minimum(G, np.minimum.reduceat(vals, t.starts))       # type: ignore[attr-defined]
        if np.array_equal(new, G):
            return G
        G = new
    return G if want <= MAX_PASSES else np.zeros(n, np.int64)


def _cover_sweep(t: object, g: np.ndarray) -> np.ndarray:
    """``G_∞`` in one sweep over the levels (units in ``r``): a cover of ``r`` is a
    first parcel ``b`` plus a cover of ``r − b``, which has fewer units, so each level
    needs only the ones below it (``g[0] = ∞``)."""
    n = len(g)
    G = np.full(n, C.INF, np.int64)
    G[0] = 0
    cut = t.level_cut                                                  # type: ignore[attr-defined]
    for lo, hi in zip(cut[1:-1], cut[2:]):
        states = t.level_states[lo:hi]                                 # type: ignore[attr-defined]
        first = t.level_starts[lo]                                     # type: ignore[attr-defined]
        end = t.level_starts[hi] if hi < n else len(t.level_b)         # type: ignore[attr-defined]
        vals = g[t.level_b[first:end]] + G[t.level_src[first:end]]     # type: ignore[attr-defined]
        low = np.minimum.reduceat(vals, t.level_starts[lo:hi] - first)  # type: ignore[attr-defined]
        G[states] = np.minimum(low, C.INF)
    return G


def candidate_bounds(t: object, f: np.ndarray, max_shipments: int | None) -> np.ndarray:
    """``LB_c`` (module doc) for every candidate: a lower bound on every plan that
    ships anything from ``c`` (``≥ routing.cost.INF`` when none can)."""
    n = f.shape[1]
    if n == 1 or f.shape[0] == 0:
        return np.full(f.shape[0], C.INF, np.int64)
    g = f.min(axis=0)
    rest = None if max_shipments is None else max_shipments - 1
    G = cover_bound(t, g, rest)
    # flat index of q − b is (n − 1) − index of b (ravel_multi_index is linear)
    return (f[:, 1:] + G[::-1][None, 1:]).min(axis=1)

