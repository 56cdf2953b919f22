"""The checkout waits histogram: Prometheus buckets (≤ bound), cumulative, with the sum."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.waits import BOUNDS, SHARD_OP, Waits


def test_a_wait_counts_in_the_first_bucket_whose_bound_it_does_not_exceed():
    w = Waits()
    for s in (0.0005, 0.001, 0.0011, 0.3, 99.0):
        w.observe(SHARD_OP, s)
    buckets, total = w.histogram(SHARD_OP)
    got = dict(buckets)
    assert got["0.001"] == 2          # 0.0005 and exactly 0.001
    assert got["0.0025"] == 3
    assert got["0.25"] == 3 and got["0.5"] == 4
    assert got["2.5"] == 4 and got["+Inf"] == 5
    assert abs(total - (0.0005 + 0.001 + 0.0011 + 0.3 + 99.0)) < 1e-9


@given(st.lists(st.floats(min_value=0, max_value=10, allow_nan=False), max_size=50))
def test_buckets_are_cumulative_and_end_at_the_count(waits):
    w = Waits()
    for s in waits:
        w.observe(SHARD_OP, s)
    buckets, _ = w.histogram(SHARD_OP)
    counts = [n for _, n in buckets]
    assert [b for b, _ in buckets] == [repr(b) for b in BOUNDS] + ["+Inf"]
    assert counts == sorted(counts) and counts[-1] == len(waits)
    for bound, n in zip(BOUNDS, counts):
        assert n == sum(1 for s in waits if s <= bound)
