"""Catalog lookups, validation and loading."""

import json

import pytest

from allocator.catalog import Catalog, Sku, Warehouse, demo_catalog
from allocator.errors import CatalogError, UnknownSku, UnknownWarehouse


def test_demo_catalog_is_large_enough_and_consistent():
    cat = demo_catalog()
    assert len(cat.skus) >= 1000 and len(cat.warehouses) >= 10
    for sku in cat.skus:
        for sub in sku.substitutes:
            assert cat.sku(sub).id == sub


def test_lookups_and_clear_errors():
    cat = demo_catalog(20)
    assert cat.sku_index(cat.skus[5].id) == 5
    assert cat.warehouse("WH-DEL").city == "Delhi"
    with pytest.raises(UnknownSku, match="NOPE"):
        cat.sku("NOPE")
    with pytest.raises(UnknownWarehouse):
        cat.warehouse_index("WH-XXX")


@pytest.mark.parametrize("skus, whs, msg", [
    ([Sku("A", "a", 1), Sku("A", "b", 1)], [Warehouse("W", "w", 0, 0)], "duplicate SKU"),
    ([Sku("A", "a", 0)], [Warehouse("W", "w", 0, 0)], "unit weight"),
    ([Sku("A", "a", 1, ("B",))], [Warehouse("W", "w", 0, 0)], "substitute"),
    ([Sku("A", "a", 1)], [Warehouse("", "w", 0, 0)], "empty warehouse id"),
])
def test_bad_catalogs_are_rejected(skus, whs, msg):
    with pytest.raises(CatalogError, match=msg):
        Catalog(skus, whs)


def test_load_round_trip_and_bad_files(tmp_path):
    cat = demo_catalog(30)
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(cat.to_dict()))
    assert Catalog.load(path).to_dict() == cat.to_dict()
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(CatalogError, match="cannot read"):
        Catalog.load(tmp_path / "bad.json")
    (tmp_path / "missing.json").write_text(json.dumps({"skus": [{"id": "A"}], "warehouses": []}))
    with pytest.raises(CatalogError, match="malformed"):
        Catalog.load(tmp_path / "missing.json")


def test_a_sku_may_carry_its_purchase_cap():
    from allocator.catalog import Catalog

    data = demo_catalog(5).to_dict()
    data["skus"][0]["max_per_customer"] = 2
    catalog = Catalog.from_dict(data)
    assert catalog.sku(data["skus"][0]["id"]).max_per_customer == 2
    assert Catalog.from_dict(catalog.to_dict()).to_dict() == catalog.to_dict()
    data["skus"][1]["max_per_customer"] = -1
    with pytest.raises(CatalogError, match="max_per_customer"):
        Catalog.from_dict(data)
