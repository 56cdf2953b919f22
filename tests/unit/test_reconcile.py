"""Reconciliation's classification: each cause on a worked example, and properties over
every cell (a correction never raises stock unless increases are accepted; once the
in-flight shipments land, a corrected cell equals the warehouse's count)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from allocator.errors import InvalidRequest
from allocator.reconcile import Cause, classify, summarise
from service.reconcile import parse_counts


def test_each_cause_on_an_example():
    # on_hand 10, held 2, committed 3
    assert classify("A", "W", 10, 2, 3, 10).cause is Cause.MATCH
    f = classify("A", "W", 10, 2, 3, 8)  # 2 fewer: committed units on their way out
    assert (f.cause, f.target, f.in_flight, f.unexplained) == (Cause.IN_FLIGHT, None, 2, 0)
    f = classify("A", "W", 10, 2, 3, 4)  # 6 fewer: 3 in flight, 3 gone
    assert (f.cause, f.target, f.in_flight, f.unexplained) == (Cause.SHRINKAGE, 7, 3, -3)
    f = classify("A", "W", 10, 2, 3, 4, in_transit=1)  # the WMS says only 1 is in transit
    assert (f.cause, f.target, f.unexplained) == (Cause.SHRINKAGE, 5, -5)
    f = classify("A", "W", 10, 2, 3, 14)
    assert (f.cause, f.target, f.unexplained) == (Cause.PHANTOM, None, 4)
    assert classify("A", "W", 10, 2, 3, 14, accept_increases=True).target == 14


def test_summary_counts_causes_and_units():
    findings = [classify("A", "W", 10, 0, 0, 10), classify("B", "W", 10, 0, 3, 8),
                classify("C", "W", 10, 0, 0, 7), classify("D", "W", 1, 0, 0, 5)]
    s = summarise(findings, applied=1, stale=0)
    assert (s["match"], s["in_flight_shipment"], s["unexplained_shrinkage"],
            s["phantom_stock"]) == (1, 1, 1, 1)
    assert s["unexplained_shrinkage_units"] == 3 and s["phantom_stock_units"] == 4
    assert s["drift_incidents"] == 2 and s["corrected"] == 1


cells = st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(0, 50),
                  st.integers(0, 120), st.one_of(st.none(), st.integers(0, 60)))


@given(cells, st.booleans())
def test_corrections_are_safe_and_exact(cell, accept):
    on_hand, held, committed, wms, transit = cell
    held = min(held, on_hand)
    committed = min(committed, on_hand - held)
    f = classify("A", "W", on_hand, held, committed, wms, transit, accept)
    assert (f.cause is Cause.MATCH) == (wms == on_hand)
    if f.target is None:
        assert f.cause in (Cause.MATCH, Cause.IN_FLIGHT) or (f.cause is Cause.PHANTOM
                                                            and not accept)
        return
    if not accept:
        assert f.target < on_hand  # only ever down
    assert f.target >= wms
    assert f.target - f.in_flight == wms  # once the shipments land, the WMS's count
    assert 0 <= f.in_flight <= committed


def test_counts_parse_from_rows_and_name_the_bad_one():
    got = parse_counts([{"sku": "A", "warehouse": "W", "on_hand": "3"},
                        {"sku": "B", "warehouse": "W", "count": 4, "in_transit": "1"}])
    assert [(c.sku, c.on_hand, c.in_transit) for c in got] == [("A", 3, None), ("B", 4, 1)]
    with pytest.raises(InvalidRequest, match=r"counts\[1\]"):
        parse_counts([{"sku": "A", "warehouse": "W", "on_hand": 1}, {"sku": "B"}])
    with pytest.raises(ValueError, match="negative"):
        classify("A", "W", 1, 0, 0, -1)
