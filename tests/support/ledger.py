"""Ledger helpers shared by the tests."""

from __future__ import annotations

import numpy as np

from allocator.ledger import Ledger


def assert_same_ledger(a: Ledger, b: Ledger) -> None:
    """Every table, every counter and the op index (as a set) are equal."""
    sa, sb = a.snapshot(), b.snapshot()
    assert sa.keys() == sb.keys()
    for key in sa:
        if key in ("seen_keys", "seen_vals"):
            continue
        va, vb = sa[key], sb[key]
        if isinstance(va, dict):
            assert va.keys() == vb.keys(), key
            for col in va:
                assert np.array_equal(va[col], vb[col]), (key, col)
        elif isinstance(va, np.ndarray):
            assert np.array_equal(va, vb), key
        else:
            assert va == vb, key
    ka, kb = np.argsort(sa["seen_keys"]), np.argsort(sb["seen_keys"])
    assert np.array_equal(sa["seen_keys"][ka], sb["seen_keys"][kb])
    assert np.array_equal(sa["seen_vals"][ka], sb["seen_vals"][kb])
    assert a.limit_counts() == b.limit_counts()
