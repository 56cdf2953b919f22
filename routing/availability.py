"""Availability: how many units of a SKU each warehouse can give right now.

The planners only call :meth:`Availability.rows`, which returns an int64 matrix
``(len(sku_ids), n_warehouses)`` in the *network's* warehouse order. Three
implementations cover the callers we have:

* :class:`StockMatrix` — a dense SKU × warehouse matrix (tests, CLI, bench);
* :class:`StockMap` — ``sku_id -> np.ndarray`` over network warehouses (what the
  actors layer builds from live shard reads);
* :class:`StockFunction` — a callable ``(sku_id, warehouse_id) -> units``.

:func:`as_availability` wraps a plain mapping or callable in the right class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from allocator.catalog import Catalog
from routing.errors import NetworkFileError
from routing.network import Network
from routing.network_parts import MAX_COUNT
from routing.network_file import read_json


@runtime_checkable
class Availability(Protocol):
    """Available units per (SKU, warehouse), warehouses in network order."""

    def rows(self, sku_ids: Sequence[str]) -> np.ndarray:
        """int64 matrix ``(len(sku_ids), n_warehouses)``; unknown SKUs give zero rows."""
        ...


class StockMatrix:
    """Dense availability: row ``i`` of ``matrix`` is SKU ``sku_ids[i]``."""

    def __init__(self, sku_ids: Sequence[str], matrix: np.ndarray) -> None:
        matrix = np.asarray(matrix, dtype=np.int64)
        if matrix.ndim != 2 or matrix.shape[0] != len(sku_ids):
            raise ValueError(f"matrix shape {matrix.shape} does not match {len(sku_ids)} SKUs")
        if (matrix < 0).any():
            raise ValueError("availability must be non-negative")
        self.sku_ids = list(sku_ids)
        self.matrix = matrix
        self._index = {s: i for i, s in enumerate(self.sku_ids)}
        self._zero = np.zeros(matrix.shape[1], np.int64)

    @property
    def n_warehouses(self) -> int:
        return int(self.matrix.shape[1])

    def rows(self, sku_ids: Sequence[str]) -> np.ndarray:
        idx = [self._index.get(s, -1) for s in sku_ids]
        if min(idx, default=0) >= 0:
            return self.matrix[idx]
        return np.array([self.matrix[i] if i >= 0 else self._zero for i in idx], np.int64)

    def copy(self) -> "StockMatrix":
        return StockMatrix(self.sku_ids, self.matrix.copy())

    def take(self, sku_id: str, warehouse: int, qty: int) -> None:
        """Remove ``qty`` units (used by greedy/batch simulations)."""
        i = self._index[sku_id]
        if self.matrix[i, warehouse] < qty:
            raise ValueError(f"only {self.matrix[i, warehouse]} of {sku_id} at warehouse {warehouse}")
        self.matrix[i, warehouse] -= qty


class StockMap:
    """Availability from ``sku_id -> units per network warehouse`` vectors."""

    def __init__(self, mapping: Mapping[str, Sequence[int] | np.ndarray], n_warehouses: int) -> None:
        self.mapping = mapping
        self.n_warehouses = n_warehouses

    def rows(self, sku_ids: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(sku_ids), self.n_warehouses), np.int64)
        for i, s in enumerate(sku_ids):
            v = self.mapping.get(s)
            if v is not None:
                out[i] = v
        return out


class StockFunction:
    """Availability from a callable ``(sku_id, warehouse_id) -> units``."""

    def __init__(self, fn: Callable[[str, str], int], warehouse_ids: Sequence[str]) -> None:
        self.fn = fn
        self.warehouse_ids = list(warehouse_ids)

    def rows(self, sku_ids: Sequence[str]) -> np.ndarray:
        return np.array([[self.fn(s, w) for w in self.warehouse_ids] for s in sku_ids],
                        np.int64).reshape(len(sku_ids), len(self.warehouse_ids))


def as_availability(source: Any, network: Network) -> Availability:
    """Accept an :class:`Availability`, a mapping ``sku -> vector`` or a callable."""
    if isinstance(source, (StockMatrix, StockMap, StockFunction)):
        return source
    if isinstance(source, Availability):  # any other object with .rows()
        return source
    if isinstance(source, Mapping):
        return StockMap(source, network.n_warehouses)
    if callable(source):
        return StockFunction(source, network.warehouse_ids)
    raise TypeError(f"cannot use {type(source).__name__} as availability")


def stock_from_dict(data: Any, network: Network, catalog: Catalog | None = None,
                    source: str = "stock") -> StockMatrix:
    """Parse ``{"stock": {sku: {warehouse_id: units}}}``; :class:`NetworkFileError` if bad."""
    if not isinstance(data, dict) or not isinstance(data.get("stock"), dict):
        raise NetworkFileError(f"{source}: expected an object {{\"stock\": {{sku: {{warehouse: units}}}}}}")
    skus = list(data["stock"])
    known = set(catalog.sku_ids) if catalog is not None else None
    matrix = np.zeros((len(skus), network.n_warehouses), np.int64)
    for i, sku in enumerate(skus):
        if known is not None and sku not in known:
            raise NetworkFileError(f"{source}: stock.{sku}: SKU is not in the catalog")
        per_wh = data["stock"][sku]
        if not isinstance(per_wh, dict):
            raise NetworkFileError(f"{source}: stock.{sku}: expected {{warehouse_id: units}}")
        for wid, units in per_wh.items():
            if wid not in network.warehouse_ids:
                raise NetworkFileError(f"{source}: stock.{sku}.{wid}: warehouse is not in network "
                                       f"{network.name!r}")
            if (isinstance(units, bool) or not isinstance(units, int)
                    or not 0 <= units <= MAX_COUNT):
                raise NetworkFileError(f"{source}: stock.{sku}.{wid}: units must be a whole "
                                       f"number in 0..{MAX_COUNT}, got {units!r}")
            matrix[i, network.warehouse_index(wid)] = units
    return StockMatrix(skus, matrix)


def load_stock(path: str | Path, network: Network, catalog: Catalog | None = None) -> StockMatrix:
    """Read a stock JSON file (see docs/ROUTING.md)."""
    return stock_from_dict(read_json(path, "stock"), network, catalog, source=str(path))


def stock_to_dict(stock: StockMatrix, network: Network) -> dict[str, Any]:
    return {"stock": {s: {w: int(u) for w, u in zip(network.warehouse_ids, row) if u}
                      for s, row in zip(stock.sku_ids, stock.matrix)}}


def demo_stock(catalog: Catalog, network: Network, seed: int = 0) -> StockMatrix:
    """Deterministic demo stock: each SKU in ~60 % of warehouses, 1–40 units where present."""
    rng = np.random.default_rng(seed)
    shape = (len(catalog.skus), network.n_warehouses)
    present = rng.random(shape) < 0.6
    units = rng.integers(1, 41, size=shape)
    return StockMatrix(catalog.sku_ids, np.where(present, units, 0))
