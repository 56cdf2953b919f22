"""Request and response bodies (pydantic), with the examples OpenAPI shows."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from allocator.config import LIMITS
from api.kit_models import ExchangeLinkOut, ExchangeOfOut, KitOut

SkuId = Field(min_length=1, max_length=64, examples=["SKU-00007"])
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$"  # a channel or brand name
EXAMPLE_ORDER = {"lines": [{"sku": "SKU-00007", "qty": 2}, {"sku": "SKU-00042", "qty": 1}],
                 "destination": "560001", "promise_days": 3}


class Strict(BaseModel):
    """Unknown fields are refused, and no value is coerced: ``"5"`` or ``true`` is not
    a quantity."""

    model_config = ConfigDict(extra="forbid", strict=True)


class LineIn(Strict):
    sku: str = SkuId
    qty: int = Field(ge=1, le=LIMITS.max_qty_per_line, examples=[2])
    warehouse: str | None = Field(
        default=None, min_length=1, max_length=32, examples=["WH-BLR"],
        description="Pre-routed line: hold at this warehouse (skips routing). Either every "
                    "line names a warehouse or none does.")


class OrderIn(Strict):
    """An order to route or reserve."""

    model_config = ConfigDict(extra="forbid", strict=True,
                              json_schema_extra={"examples": [EXAMPLE_ORDER]})

    lines: list[LineIn] = Field(min_length=1, max_length=LIMITS.max_lines_per_order)
    destination: str | None = Field(default=None, min_length=1, max_length=16,
                                    examples=["560001"],
                                    description="Delivery pincode (needed unless pre-routed)")
    promise_days: int | None = Field(default=None, ge=0, le=60)
    hard_promise: bool = False
    max_shipments: int | None = Field(default=None, ge=1, le=LIMITS.max_lines_per_order)
    allow_substitutes: bool = False
    split_lines: bool | None = Field(
        default=None, description="A line's units may ship from several warehouses (each "
                                  "part held together with the rest of the order); "
                                  "null: the network's policy decides")
    id: str | None = Field(default=None, max_length=64, description="Your order id")

    @property
    def pre_routed(self) -> bool:
        return any(line.warehouse for line in self.lines)


TTL_FIELD = Field(default=None, ge=0.001, le=LIMITS.max_ttl_ms / 1000,
                  description="Hold time to live in seconds, 0.001 to 86400 (default 600)")


class ReserveIn(OrderIn):
    ttl_s: float | None = TTL_FIELD
    customer_id: str | None = Field(
        default=None, min_length=1, max_length=128,
        description="Your customer (buyer) id: purchase limits per customer and SKU apply")
    order_value_inr: float | None = Field(
        default=None, ge=0, le=1e9, description="The order's value (review rules)")
    payment: Literal["prepaid", "cod"] = Field(
        default="prepaid", description="cod: cash on delivery (review rules)")
    review: bool = Field(default=False, description="Hold for a review before it may be "
                                                    "committed")
    channel: str | None = Field(
        default=None, pattern=NAME_PATTERN, examples=["marketplace"],
        description="The sales channel: its buffers, caps and kill switch apply")
    brand: str | None = Field(default=None, pattern=NAME_PATTERN, examples=["zeta"],
                              description="The brand: its kill switch applies")


class BatchOrderIn(ReserveIn):
    key: str | None = Field(default=None, min_length=1, max_length=255,
                            description="Your label for this order, echoed in its result; "
                                        "unique within the batch")


class BatchIn(Strict):
    orders: list[BatchOrderIn] = Field(min_length=1)
    ttl_s: float | None = TTL_FIELD


class BulkIn(Strict):
    """Single-line pre-routed holds as columns: order ``i`` holds ``qty[i]`` units of
    ``skus[i]`` at ``warehouses[i]``."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"skus": ["SKU-00007", "SKU-00042"], "warehouses": ["WH-BLR", "WH-DEL"],
         "qty": [1, 2]}]})
    skus: list[str] = Field(min_length=1)
    warehouses: list[str]
    qty: list[int]
    ttl_s: float | None = TTL_FIELD


class BulkOut(BaseModel):
    """One entry per input row: ``ids[i]`` is the reservation (null if refused) and
    ``errors[i]`` the refusal's code (null if reserved)."""

    reserved: int
    failed: int
    ids: list[str | None]
    errors: list[str | None]
    created_ms: int
    expires_ms: int


class HeldLine(BaseModel):
    sku: str
    warehouse: str
    qty: int = Field(description="Live units (held, committed or shipped)")
    state: Literal["pending", "committed", "released", "cancelled", "expired",
                   "shipped"] | None = Field(
        default=None, description="The line's state: its live units' state, or released "
                                  "/ cancelled when none are left")
    released: int = Field(default=0, description="Units released before commit")
    cancelled: int = Field(default=0, description="Units cancelled after commit")
    returned: int = Field(default=0, description="Shipped units returned by an exchange")


class ReservationOut(BaseModel):
    """A reservation: the order's holds on every shard, all-or-nothing."""

    id: str = Field(examples=["res_6f1c0e9a2b4d4c8e9f1a2b3c4d5e6f70"])
    state: Literal["pending", "review", "committed", "released", "expired", "shipped"]
    lines: list[HeldLine]
    created_ms: int
    expires_ms: int
    plan: dict[str, Any] | None = None
    review: list[str] | None = Field(default=None, description="Why it is held for review: "
                                     "flagged, high_value, cod_high_rto")
    channel: str | None = None
    brand: str | None = None
    version: int = Field(default=0, description="0 as reserved; each amendment makes a "
                                                "new version")
    bundles: list[KitOut] | None = Field(default=None, description="Its bundle lines")
    exchange_of: ExchangeOfOut | None = Field(
        default=None, description="The shipped line this reservation replaces")
    exchanges: list[ExchangeLinkOut] | None = Field(
        default=None, description="Exchanges of its shipped lines (their replacements)")


class AmendIn(Strict):
    """The lines a pending reservation should have from now on (every line it keeps,
    at the quantity it keeps). Either every line names a warehouse or none does;
    without, more units of a SKU are routed again to ``destination`` (default: the
    reservation's)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"lines": [{"sku": "SKU-00007", "qty": 3}]}]})

    lines: list[LineIn] = Field(min_length=1, max_length=LIMITS.max_lines_per_order)
    destination: str | None = Field(default=None, min_length=1, max_length=16)


class LineCancelIn(Strict):
    sku: str = SkuId
    warehouse: str | None = Field(default=None, min_length=1, max_length=32,
                                  description="Only the units at this warehouse")
    qty: int | None = Field(default=None, ge=1, le=LIMITS.max_qty_per_line,
                            description="Units to take off (default: all that are live)")


class LinesCancelIn(Strict):
    """Lines (or some of their units) to take off: released if the reservation is
    pending, cancelled if it is committed."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"lines": [{"sku": "SKU-00042", "qty": 1}]}]})

    lines: list[LineCancelIn] = Field(min_length=1, max_length=LIMITS.max_lines_per_order)


class ReallocateIn(Strict):
    """The committed line that cannot ship from ``warehouse``; routed again to the
    reservation's destination (or ``destination``) within its promise (or
    ``promise_days``)."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"sku": "SKU-00007", "warehouse": "WH-BLR", "reason": "damaged unit"}]})

    sku: str = SkuId
    warehouse: str = Field(min_length=1, max_length=32, description="Cannot ship from here")
    destination: str | None = Field(default=None, min_length=1, max_length=16)
    promise_days: int | None = Field(default=None, ge=0, le=60)
    reason: str | None = Field(default=None, max_length=200, description="For the record")


class ReallocationOut(BaseModel):
    reservation: ReservationOut
    from_: str = Field(alias="from")
    to: str
    qty: int
    plan: dict[str, Any]


class BatchItemOut(BaseModel):
    index: int
    key: str | None = None
    status: Literal["reserved", "failed"]
    reservation: ReservationOut | None = None
    problem: dict[str, Any] | None = None


class BatchOut(BaseModel):
    reserved: int
    failed: int
    results: list[BatchItemOut]


class PlanOut(BaseModel):
    """The routing plan (see docs/ROUTING.md for every field)."""

    model_config = ConfigDict(extra="allow")
    status: Literal["planned", "unfillable"]
    order: dict[str, Any]
    destination: dict[str, Any]
    solver: str
    solver_status: str
    currency: str
    shipments: list[dict[str, Any]]
    cost: dict[str, Any] | None
    eta_days: int | None
    runner_up: dict[str, Any] | None
    shortfall: dict[str, Any] | None


class StockRow(BaseModel):
    on_hand: int
    held: int
    committed: int
    available: int
    version: int


class InventoryOut(BaseModel):
    sku: str
    warehouses: dict[str, StockRow]
    totals: StockRow


class SyncCount(Strict):
    sku: str = SkuId
    warehouse: str = Field(min_length=1, max_length=32, examples=["WH-DEL"])
    on_hand: int = Field(ge=0, le=1_000_000_000)
    version: int = Field(ge=1, le=2**62, description="Must be newer than the last applied")


class SyncIn(Strict):
    counts: list[SyncCount] = Field(min_length=1, max_length=10_000)


class SyncItemOut(BaseModel):
    sku: str
    warehouse: str
    version: int
    status: Literal["ok", "stale"]
    current_version: int | None = None


class SyncOut(BaseModel):
    applied: int
    stale: int
    results: list[SyncItemOut]


class ShipMovement(Strict):
    """The warehouse shipped a committed reservation."""

    type: Literal["ship"]
    reservation_id: str = Field(min_length=1, max_length=64)


class StockMovement(Strict):
    """Units arrived at a warehouse: a restock or a customer return."""

    type: Literal["restock", "return"]
    sku: str = SkuId
    warehouse: str = Field(min_length=1, max_length=32, examples=["WH-DEL"])
    qty: int = Field(ge=1, le=1_000_000)


MovementIn = Annotated[Union[ShipMovement, StockMovement], Field(discriminator="type")]


class MovementsIn(Strict):
    movements: list[MovementIn] = Field(min_length=1, max_length=1000)


class MovementsOut(BaseModel):
    applied: int


class KillSwitchIn(Strict):
    on: bool
    skus: list[str] = Field(default_factory=list, max_length=1000,
                            description="Empty (and no channels, brands): the global switch")
    channels: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list, max_length=100, description="Sales channels to switch")
    brands: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list, max_length=100, description="Brands to switch")


class KillSwitchOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    global_: bool = Field(alias="global")
    skus: list[str]
    channels: list[str] = []
    brands: list[str] = []


class PinIn(Strict):
    skus: list[str] = Field(min_length=1, max_length=64)


class HotOut(BaseModel):
    hot: dict[str, str]
    pinned: list[str]
    epoch: int


class ShardOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    skus: int
    ready: bool


class ProblemOut(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")
    type: str = Field(examples=["/problems/insufficient-stock"])
    title: str
    status: int
    detail: str
    code: str | None = None
    instance: str | None = None


class WaveIn(Strict):
    """Routed orders to plan jointly and hold, each all-or-nothing."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [
        {"orders": [{"key": "A-1", **EXAMPLE_ORDER},
                    {"key": "A-2", "lines": [{"sku": "SKU-00007", "qty": 1}],
                     "destination": "110001"}], "budget_ms": 150}]})
    orders: list[BatchOrderIn] = Field(min_length=1)
    ttl_s: float | None = TTL_FIELD
    budget_ms: int = Field(default=150, ge=10, le=5000,
                           description="Planning time for the whole wave, in ms")
    split_lines: bool | None = Field(default=None, description="Overrides every order's "
                                     "split_lines (null: each order's own)")


class WaveItemOut(BatchItemOut):
    allocation: dict[str, Any] | None = Field(
        default=None, description="What the wave chose for this order against greedy "
        "(first come, nearest warehouse): filled, lines, cost_inr, greedy, "
        "cost_delta_inr, why; null for an order refused before planning")


class WaveOut(BaseModel):
    reserved: int
    failed: int
    wave: dict[str, Any] = Field(description="The wave against greedy: status, filled, "
                                 "greedy_filled, cost_inr, greedy_cost_inr, elapsed_ms, ...")
    results: list[WaveItemOut]
