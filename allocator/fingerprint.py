"""Payload fingerprints of ops: equal payloads give equal fingerprints, so an op id
sent again with the same payload is a replay and with another a conflict (see
:meth:`allocator.ledger.Ledger.apply_one`). Recorded fingerprints outlive the code that
computed them (snapshots, journals, retried requests): the formula must not change.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

_MULTS = tuple(np.uint64(m) for m in (
    0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB, 0xD6E8FEB86659FD93))
_AVALANCHE = np.uint64(0xFF51AFD7ED558CCD)


def fingerprint(kind: np.ndarray, hold_id: np.ndarray, param: np.ndarray,
                cells: Sequence[np.ndarray], qtys: Sequence[np.ndarray],
                extra: Sequence[np.ndarray] = ()) -> np.ndarray:
    """Payload fingerprint per op (uint64): equal payloads give equal fingerprints.

    A multiply-add chain over the fields, then a final avalanche; vectorised over ops.
    ``param``: each op's parameter (its ``ttl_ms``, ``version`` or ``state``, the one
    its kind reads: see :data:`allocator.ops.PARAM_OF`), in the place of the single
    ``arg`` column it was split from, so fingerprints did not change (a request
    retried across the split is still a replay, not a conflict).
    ``cells[j]``/``qtys[j]`` hold the j-th line of every op. ``extra`` fields (the
    limits) are mixed in only where non-zero, so an op without limits keeps the
    fingerprint it had before limits existed.
    """
    fields = [kind.astype(np.uint64), hold_id.view(np.uint64), param.view(np.uint64)]
    for c, q in zip(cells, qtys):
        fields += [c.view(np.uint64), q.view(np.uint64)]
    with np.errstate(over="ignore"):
        h = fields[0] * _MULTS[0]
        for i, f in enumerate(fields[1:], start=1):
            h = (h + f) * _MULTS[i % len(_MULTS)]
        for i, f in enumerate(extra):
            x = np.ascontiguousarray(f, np.int64).view(np.uint64)
            h ^= np.where(x != 0, (x + np.uint64(i + 1)) * _MULTS[(i + 1) % len(_MULTS)],
                          np.uint64(0))
        h ^= h >> np.uint64(33)
        h *= _AVALANCHE
        h ^= h >> np.uint64(33)
    return h


_M64 = (1 << 64) - 1
_MULTS_INT = tuple(int(m) for m in _MULTS)


def fingerprint_one(kind: int, hold_id: int, param: int, cells: Sequence[int],
                    qtys: Sequence[int], extra: Sequence[int] = ()) -> int:
    """:func:`fingerprint` of one op, in plain integers (no numpy temporaries: the
    one-op path's cost was mostly those); the same value, bit for bit."""
    m = _MULTS_INT
    h = (kind * m[0]) & _M64
    fields = [hold_id & _M64, param & _M64]
    for c, q in zip(cells, qtys):
        fields += [c & _M64, q & _M64]
    for i, f in enumerate(fields, start=1):
        h = ((h + f) * m[i % 4]) & _M64
    for i, f in enumerate(extra):
        if f:
            h ^= (((f & _M64) + i + 1) * m[(i + 1) % 4]) & _M64
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & _M64
    h ^= h >> 33
    return h
