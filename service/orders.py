"""What checkout takes and gives: a hold request, the caller, an outcome (a value or
an error, and whether it replays a first answer), the tunables, and which refusals are
stored as an idempotency key's answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from allocator.bundles import Kit
from allocator.errors import AllocatorError
from routing import Order
from service.reservation import Line


#: Answers stored for an idempotency key: the outcome of the work. Refusals that a
#: retry with the same key may get past (kill switch, rate limits, overload, outages)
#: are not stored.
STORED_ERRORS = ("invalid_request", "unknown_sku", "unknown_warehouse", "unknown_destination",
                 "invalid_catalog", "invalid_network", "insufficient_stock", "purchase_limit",
                 "channel_limit", "channel_reserved")
#: The kill switch's refusals (globally or per SKU, per channel, per brand): not stored.
KILL_CODES = ("kill_switch", "channel_switched_off", "brand_switched_off")


@dataclass(frozen=True)
class HoldRequest:
    """What to reserve: pre-routed ``lines`` or a routed ``order``."""

    lines: tuple[Line, ...] | None = None
    order: Order | None = None
    ttl_ms: int | None = None
    customer: str | None = None
    value_inr: float | None = None  # the order's value, for the review rules
    cod: bool = False  # cash on delivery
    review: bool = False  # the caller asks for a review
    destination: str | None = None  # of a pre-routed order, for the review rules
    kits: tuple[Kit, ...] = ()  # its bundle lines (already expanded into ``lines``/``order``)
    channel: str | None = None  # the sales channel: its rules and kill switch apply
    brand: str | None = None  # the brand: its kill switch applies

    @property
    def skus(self) -> list[str]:
        if self.lines is not None:
            return [line[0] for line in self.lines]
        assert self.order is not None
        return list(self.order.skus)


@dataclass(frozen=True)
class Caller:
    """Who asks: the API key's name (owns reservations) and its share cap."""

    name: str
    share_bp: int = 0


@dataclass
class Outcome:
    """A use case's answer: a value or a domain error, and whether it is the first
    answer given again (an idempotent replay)."""

    value: Any = None
    error: AllocatorError | None = None
    replayed: bool = False


@dataclass
class CheckoutSettings:
    hold_ttl_ms: int = 600_000
    max_reroutes: int = 3
    secondary_grace_ms: int = 2_000  # other shards' holds outlive the primary's by this
    op_timeout_s: float = 10.0
    fence_ttl_ms: int = 30_000  # a committed reservation's fence outlives a crashed holder
    #                            by at most this (> op_timeout_s: see service.fencing)
    fence_wait_ms: int = 500  # how long a request waits for another's fence, then 409
    answer_cache: int = 50_000
    customer_cap: int = 0  # units per customer per SKU (0: no cap) unless the catalog says
    undo_retry_s: float = 120.0  # how long an undo refused by an outage is retried
    routing_threads: int = 2  # big orders plan here, off the event loop
