"""Bundles: the catalog rules, expansion into components, kits as the API shows them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from allocator.bundles import (
    Bundle, Kit, cancel_wants, expand, kit_views, kits_available, validate,
)
from allocator.errors import InvalidRequest

SKUS = {"A", "B", "C"}
is_sku = SKUS.__contains__


@pytest.mark.parametrize("bundle, why", [
    (Bundle("A", (("B", 1),)), "catalog SKU"),
    (Bundle("K", (("K", 1),)), "names itself"),
    (Bundle("K", (("Z", 1),)), "not a catalog SKU"),
    (Bundle("K", (("A", 1), ("A", 2))), "twice"),
    (Bundle("K", (("A", 0),)), "qty"),
    (Bundle("K", ()), "components"),
    (Bundle("", (("A", 1),)), "1 to 64"),
])
def test_bad_bundles_are_refused_with_the_rule_they_break(bundle, why):
    with pytest.raises(InvalidRequest, match=why):
        validate(bundle, is_sku)


def test_a_bundle_of_bundles_is_refused_because_components_are_catalog_skus():
    validate(Bundle("K1", (("A", 1),)), is_sku)
    with pytest.raises(InvalidRequest, match="do not nest"):
        validate(Bundle("K2", (("K1", 1), ("B", 1))), is_sku)


@given(st.lists(st.tuples(st.sampled_from(sorted(SKUS)), st.integers(1, 5)), min_size=1,
                max_size=3, unique_by=lambda c: c[0]), st.integers(1, 50))
def test_expansion_keeps_every_unit_of_every_kit(components, qty):
    bundle = Bundle("K", tuple(components))
    lines, kits = expand([("K", "W1", qty)], {"K": bundle})
    assert kits == [Kit("K", qty, bundle.components)]
    assert lines == [(s, "W1", qty * per) for s, per in components]


def test_a_sku_twice_in_an_order_is_refused():
    bundle = Bundle("K", (("A", 1), ("B", 2)))
    with pytest.raises(InvalidRequest, match="twice"):
        expand([("K", None, 1), ("A", None, 1)], {"K": bundle})
    lines, _ = expand([("K", None, 1), ("C", None, 4)], {"K": bundle})
    assert lines == [("A", None, 1), ("B", None, 2), ("C", None, 4)]


@given(st.lists(st.integers(0, 30), min_size=4, max_size=4), st.integers(1, 4),
       st.integers(1, 4))
def test_kits_available_is_the_most_whole_kits(avail, pa, pb):
    rows = {"A": np.array(avail[:2]), "B": np.array(avail[2:])}
    got = kits_available((("A", pa), ("B", pb)), rows)
    for j in range(2):
        k = int(got[j])
        assert k * pa <= avail[j] and k * pb <= avail[2 + j]
        assert (k + 1) * pa > avail[j] or (k + 1) * pb > avail[2 + j]


def test_kit_views_and_cancel_wants():
    kit = Kit("K", 2, (("A", 1), ("B", 2)))
    states = [{"sku": "A", "warehouse": "W1", "qty": 2, "state": "committed"},
              {"sku": "B", "warehouse": "W2", "qty": 4, "state": "committed"}]
    (view,) = kit_views([kit], states, "committed")
    assert (view["qty"], view["state"], view["together"]) == (2, "committed", False)
    wants, alone = cancel_wants([kit], [("K", None, 1), ("C", None, 3)], states)
    assert alone is None and wants == [("A", None, 1), ("B", None, 2), ("C", None, 3)]
    assert cancel_wants([kit], [("B", None, 2)], states)[1] == "B"
    with pytest.raises(InvalidRequest, match="2 live kits"):
        cancel_wants([kit], [("K", None, 3)], states)
    gone = [dict(x, qty=0, cancelled=x["qty"], state="cancelled") for x in states]
    assert kit_views([kit], gone, "committed")[0]["state"] == "cancelled"


def test_whole_kit_rows_keep_only_warehouses_that_make_every_kit():
    from allocator.bundles import whole_kit_rows

    kit = Kit("K", 2, (("A", 1), ("B", 2)))
    rows = {"A": np.array([5, 2, 9]), "B": np.array([1, 4, 4]), "C": np.array([3, 3, 3])}
    got = whole_kit_rows([kit], rows)
    assert got["A"].tolist() == [0, 2, 9] and got["B"].tolist() == [0, 4, 4]
    assert got["C"] is rows["C"]  # not a component: as it was
