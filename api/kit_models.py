"""Bodies of bundles (kits) and exchanges, and the parts of a reservation that show
them (imported by :mod:`api.models`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from allocator.bundles import MAX_COMPONENTS
from allocator.config import LIMITS

_SKU = Field(min_length=1, max_length=64, examples=["KIT-0001"])
_STRICT = ConfigDict(extra="forbid", strict=True)


class ComponentIn(BaseModel):
    model_config = _STRICT
    sku: str = Field(min_length=1, max_length=64, examples=["PHONE-0000"])
    qty: int = Field(ge=1, le=LIMITS.max_qty_per_line, description="Units per kit")


class BundleIn(BaseModel):
    """A bundle's components (catalog SKUs, each once) and units of each per kit."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"name": "Phone starter kit", "components": [{"sku": "PHONE-0000", "qty": 1},
                                                     {"sku": "EARB-0000", "qty": 2}]}]})
    name: str | None = Field(default=None, max_length=200)
    components: list[ComponentIn] = Field(min_length=1, max_length=MAX_COMPONENTS)


class ComponentOut(BaseModel):
    sku: str
    qty: int


class BundleOut(BaseModel):
    sku: str
    name: str
    components: list[ComponentOut]


class BundlesOut(BaseModel):
    bundles: list[BundleOut]


class KitStockRow(BaseModel):
    available: int = Field(description="Whole kits: min over components of "
                                       "floor(available / units per kit)")


class BundleInventoryOut(BaseModel):
    """A bundle's availability, computed from its components' (nothing is stocked as
    the bundle itself)."""

    sku: str
    bundle: BundleOut
    warehouses: dict[str, KitStockRow]
    totals: KitStockRow


class KitComponentOut(BaseModel):
    sku: str
    qty: int = Field(description="Units per kit")
    warehouses: list[str] = Field(description="Where its live units are held")


class KitOut(BaseModel):
    """A bundle line of a reservation: its components are among ``lines``."""

    sku: str
    qty: int = Field(description="Live kits")
    ordered: int = Field(description="Kits reserved")
    state: str
    together: bool = Field(description="Every component at one warehouse (one parcel)")
    components: list[KitComponentOut]


class ExchangeLineIn(BaseModel):
    model_config = _STRICT
    sku: str = _SKU
    qty: int = Field(ge=1, le=LIMITS.max_qty_per_line)
    warehouse: str | None = Field(default=None, min_length=1, max_length=32,
                                  description="Hold it here (default: routed)")


class ExchangeIn(BaseModel):
    """Return ``qty`` shipped units of ``sku`` (at ``warehouse``) and reserve the
    replacement, in one request."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"sku": "TSHIRT-0003", "qty": 1, "reason": "size",
         "replacement": {"sku": "TSHIRT-0004", "qty": 1}}]})
    sku: str = Field(min_length=1, max_length=64, examples=["TSHIRT-0003"])
    warehouse: str | None = Field(default=None, min_length=1, max_length=32,
                                  description="The line's warehouse, if it has several")
    qty: int = Field(ge=1, le=LIMITS.max_qty_per_line, description="Units returned")
    replacement: ExchangeLineIn
    destination: str | None = Field(default=None, min_length=1, max_length=16,
                                    description="Default: the reservation's")
    reason: str | None = Field(default=None, max_length=200)
    ttl_s: float | None = Field(default=None, ge=0.001, le=LIMITS.max_ttl_ms / 1000,
                                description="The replacement hold's life (default 600)")


class ExchangeOfOut(BaseModel):
    """The shipped line a reservation replaces."""

    model_config = ConfigDict(extra="allow")
    reservation_id: str
    sku: str
    warehouse: str
    qty: int


class ExchangeLinkOut(BaseModel):
    """An exchange of one of the reservation's shipped lines."""

    model_config = ConfigDict(extra="allow")
    reservation_id: str = Field(description="The replacement reservation")
    sku: str
    warehouse: str
    qty: int

