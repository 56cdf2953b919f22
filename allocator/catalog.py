"""Catalog: SKUs and warehouses, with id lookups and a deterministic demo catalog."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from allocator.errors import CatalogError, UnknownSku, UnknownWarehouse


@dataclass(frozen=True)
class Sku:
    """A stock-keeping unit. ``unit_weight_g`` drives parcel weight slabs in routing;
    ``max_per_customer`` caps the units one customer may hold and buy (0: the
    deployment's default cap)."""

    id: str
    name: str
    unit_weight_g: int
    substitutes: tuple[str, ...] = ()
    max_per_customer: int = 0


@dataclass(frozen=True)
class Warehouse:
    """A place stock is kept and shipped from."""

    id: str
    name: str
    lat: float
    lon: float
    city: str = ""


@dataclass
class Catalog:
    """All SKUs and warehouses, each addressable by id or by dense index."""

    skus: list[Sku]
    warehouses: list[Warehouse]
    _sku_index: dict[str, int] = field(init=False, repr=False)
    _wh_index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._sku_index = _unique_index((s.id for s in self.skus), "SKU")
        self._wh_index = _unique_index((w.id for w in self.warehouses), "warehouse")
        for sku in self.skus:
            if sku.unit_weight_g <= 0:
                raise CatalogError(f"SKU {sku.id!r} has a non-positive unit weight")
            if sku.max_per_customer < 0:
                raise CatalogError(f"SKU {sku.id!r} has a negative max_per_customer")
            for sub in sku.substitutes:
                if sub not in self._sku_index or sub == sku.id:
                    raise CatalogError(f"SKU {sku.id!r} names an unknown substitute {sub!r}")

    def sku_index(self, sku_id: str) -> int:
        """Dense index of a SKU; :class:`UnknownSku` if there is none."""
        try:
            return self._sku_index[sku_id]
        except KeyError:
            raise UnknownSku(f"unknown SKU {sku_id!r}", sku=sku_id) from None

    def warehouse_index(self, warehouse_id: str) -> int:
        """Dense index of a warehouse; :class:`UnknownWarehouse` if there is none."""
        try:
            return self._wh_index[warehouse_id]
        except KeyError:
            raise UnknownWarehouse(
                f"unknown warehouse {warehouse_id!r}", warehouse=warehouse_id
            ) from None

    def sku(self, sku_id: str) -> Sku:
        return self.skus[self.sku_index(sku_id)]

    def warehouse(self, warehouse_id: str) -> Warehouse:
        return self.warehouses[self.warehouse_index(warehouse_id)]

    @property
    def sku_ids(self) -> list[str]:
        return [s.id for s in self.skus]

    @property
    def warehouse_ids(self) -> list[str]:
        return [w.id for w in self.warehouses]

    def to_dict(self) -> dict[str, Any]:
        return {
            "skus": [
                {"id": s.id, "name": s.name, "unit_weight_g": s.unit_weight_g,
                 "substitutes": list(s.substitutes),
                 **({"max_per_customer": s.max_per_customer} if s.max_per_customer else {})}
                for s in self.skus
            ],
            "warehouses": [
                {"id": w.id, "name": w.name, "lat": w.lat, "lon": w.lon, "city": w.city}
                for w in self.warehouses
            ],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Catalog":
        """Build from the JSON shape of :meth:`to_dict`; :class:`CatalogError` on bad input."""
        try:
            skus = [
                Sku(str(s["id"]), str(s.get("name", s["id"])), int(s["unit_weight_g"]),
                    tuple(str(x) for x in s.get("substitutes", ())),
                    int(s.get("max_per_customer", 0)))
                for s in data["skus"]
            ]
            warehouses = [
                Warehouse(str(w["id"]), str(w.get("name", w["id"])), float(w["lat"]),
                          float(w["lon"]), str(w.get("city", "")))
                for w in data["warehouses"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogError(f"malformed catalog: {exc!r}") from None
        return cls(skus, warehouses)

    @classmethod
    def load(cls, path: str | Path) -> "Catalog":
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CatalogError(f"cannot read catalog {path}: {exc}") from None
        return cls.from_dict(data)


def _unique_index(ids: Iterable[str], what: str) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, ident in enumerate(ids):
        if not ident:
            raise CatalogError(f"empty {what} id at position {i}")
        if ident in index:
            raise CatalogError(f"duplicate {what} id {ident!r}")
        index[ident] = i
    return index


# Real city coordinates (WGS84, rounded) for the bundled demo warehouses.
DEMO_WAREHOUSES: tuple[Warehouse, ...] = (
    Warehouse("WH-DEL", "Delhi NCR FC", 28.61, 77.21, "Delhi"),
    Warehouse("WH-BOM", "Mumbai Bhiwandi FC", 19.30, 73.06, "Mumbai"),
    Warehouse("WH-BLR", "Bengaluru Hoskote FC", 13.07, 77.79, "Bengaluru"),
    Warehouse("WH-MAA", "Chennai Sriperumbudur FC", 12.97, 79.95, "Chennai"),
    Warehouse("WH-CCU", "Kolkata Uluberia FC", 22.47, 88.10, "Kolkata"),
    Warehouse("WH-HYD", "Hyderabad Shamshabad FC", 17.25, 78.43, "Hyderabad"),
    Warehouse("WH-AMD", "Ahmedabad Changodar FC", 22.92, 72.43, "Ahmedabad"),
    Warehouse("WH-PNQ", "Pune Chakan FC", 18.76, 73.86, "Pune"),
    Warehouse("WH-JAI", "Jaipur FC", 26.91, 75.79, "Jaipur"),
    Warehouse("WH-LKO", "Lucknow FC", 26.85, 80.95, "Lucknow"),
    Warehouse("WH-GAU", "Guwahati FC", 26.14, 91.74, "Guwahati"),
    Warehouse("WH-NAG", "Nagpur FC", 21.15, 79.09, "Nagpur"),
)

_DEMO_KINDS = (
    ("PHONE", "Smartphone", 350), ("EARB", "Wireless earbuds", 120),
    ("WATCH", "Smartwatch", 150), ("TSHIRT", "Cotton T-shirt", 250),
    ("SHOE", "Running shoes", 900), ("KETTLE", "Electric kettle", 1200),
    ("BOOK", "Paperback book", 400), ("BAG", "Backpack", 800),
    ("LAMP", "Desk lamp", 1500), ("MIXER", "Mixer grinder", 3500),
)


def demo_catalog(n_skus: int = 1200) -> Catalog:
    """A deterministic demo catalog: ``n_skus`` SKUs over the 12 demo warehouses.

    SKUs of the same kind whose numbers differ by one are each other's substitutes
    (colour or size variants), so the router has something to offer when a line is short.
    """
    skus: list[Sku] = []
    for i in range(n_skus):
        code, label, weight = _DEMO_KINDS[i % len(_DEMO_KINDS)]
        variant = i // len(_DEMO_KINDS)
        sku_id = f"{code}-{variant:04d}"
        subs: tuple[str, ...] = ()
        if variant % 2 == 0 and i + len(_DEMO_KINDS) < n_skus:
            subs = (f"{code}-{variant + 1:04d}",)
        elif variant % 2 == 1:
            subs = (f"{code}-{variant - 1:04d}",)
        skus.append(Sku(sku_id, f"{label} #{variant}", weight + 10 * (variant % 7), subs))
    return Catalog(skus, list(DEMO_WAREHOUSES))
