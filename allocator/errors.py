"""One small error hierarchy with stable machine-readable codes.

The HTTP layer maps ``code`` to an RFC 9457 problem ``type``; never rename a code.
"""

from __future__ import annotations

from typing import Any


class AllocatorError(Exception):
    """Base of every error the allocator raises on purpose."""

    code: str = "allocator_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ReviewPending(AllocatorError):
    """The reservation waits for a review decision; it cannot be committed yet."""

    code = "review_pending"


class InvalidRequest(AllocatorError):
    """Malformed input: bad quantity, empty order, duplicate lines, absurd sizes."""

    code = "invalid_request"


class UnknownSku(InvalidRequest):
    code = "unknown_sku"


class UnknownWarehouse(InvalidRequest):
    code = "unknown_warehouse"


class InsufficientStock(AllocatorError):
    """A hold could not be taken in full; ``available`` says what there was."""

    code = "insufficient_stock"


class PurchaseLimit(AllocatorError):
    """The customer's per-SKU purchase cap would be exceeded (units pending or
    committed count against it); ``allowed`` is what the customer may still take."""

    code = "purchase_limit"


class ShareLimit(AllocatorError):
    """The API key's share of a SKU's on-hand units would be exceeded (units in its
    pending holds count against it); ``allowed`` is what it may still hold."""

    code = "share_limit"


class ChannelLimit(AllocatorError):
    """The sales channel's allocation cap of a SKU would be exceeded (its held and
    committed units count against it); ``allowed`` is what it may still take."""

    code = "channel_limit"


class ChannelReserved(AllocatorError):
    """The hold would take units other channels' buffers keep for them; ``allowed`` is
    what this channel (or a request without one) may still take of the SKU."""

    code = "channel_reserved"


class UnknownHold(AllocatorError):
    code = "unknown_hold"


class HoldExpired(AllocatorError):
    code = "hold_expired"


class IllegalTransition(AllocatorError):
    """E.g. committing a released hold, or shipping a pending one."""

    code = "illegal_transition"


class ReservationChanged(AllocatorError):
    """The reservation changed meanwhile (another amendment won, or a line has fewer
    units than the request assumed): read it again and retry."""

    code = "reservation_changed"


class BundleLine(AllocatorError):
    """A bundle's components move together: a component cannot be cancelled alone
    (cancel whole kits of the bundle)."""

    code = "bundle_line"


class AlreadyReturned(AllocatorError):
    """The shipped units of a line are already returned by another exchange
    (``returned`` of ``shipped``)."""

    code = "already_returned"


class IdempotencyConflict(AllocatorError):
    """The same operation id was reused with a different payload."""

    code = "idempotency_conflict"


class StaleVersion(AllocatorError):
    """A warehouse sync carried a version not newer than the one applied."""

    code = "stale_version"


class CatalogError(InvalidRequest):
    """A catalog or network file is malformed."""

    code = "invalid_catalog"


class SkuMoved(AllocatorError):
    """The SKU's stock lives on another shard now; refresh the directory and retry."""

    code = "sku_moved"


class ReservationsOff(AllocatorError):
    """The kill switch is on (globally or for one of the order's SKUs)."""

    code = "kill_switch"


class ChannelOff(ReservationsOff):
    """The kill switch is on for the request's sales channel."""

    code = "channel_switched_off"


class BrandOff(ReservationsOff):
    """The kill switch is on for the request's brand."""

    code = "brand_switched_off"


class IdempotencyMismatch(AllocatorError):
    """An idempotency key first used with a different request."""

    code = "idempotency_mismatch"


class StorageUnavailable(AllocatorError):
    """Redis cannot be reached: nothing was acknowledged; retry later."""

    code = "storage_unavailable"


def error_from(code: str, message: str, details: dict[str, Any] | None = None
               ) -> AllocatorError:
    """Rebuild an error from its code (e.g. a stored first answer being replayed)."""
    todo: list[type[AllocatorError]] = [AllocatorError]
    while todo:
        cls = todo.pop()
        if cls.code == code:
            return cls(message, **(details or {}))
        todo.extend(cls.__subclasses__())
    exc = AllocatorError(message, **(details or {}))
    exc.code = code
    return exc
