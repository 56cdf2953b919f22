"""The one mapping from an op's result code to the domain error it means."""

from __future__ import annotations

from typing import Sequence

from allocator import errors
from allocator.ops import Code, HoldState, Line, OpKind


def error_for(kind: int, code: int, value: int, detail: int, lines: Sequence[Line] = (),
              hold_id: int = -1, version: int | None = None
              ) -> errors.AllocatorError | None:
    """None for OK; else the error for ``code``. ``lines``: the op's lines by name (for
    codes that point at one by ``detail``); ``hold_id``: the hold a transition named;
    ``version``: the op's version (a sync's, named by a stale one)."""
    code = Code(int(code))
    verb = OpKind(int(kind)).name.lower()
    line = lines[detail] if 0 <= detail < len(lines) else None
    sku, wh, qty = line if line else ("", "", 0)
    if code == Code.OK:
        return None
    if code == Code.INSUFFICIENT:
        if line is None:
            return errors.InsufficientStock(f"only {value} units available", available=value)
        return errors.InsufficientStock(f"only {value} of {qty} units of {sku} at {wh}",
                                        sku=sku, warehouse=wh, requested=qty,
                                        available=value, line=detail)
    if code == Code.CUSTOMER_LIMIT:
        return errors.PurchaseLimit(
            f"purchase limit: this customer may take {value} more units of {sku}, asked "
            f"for {qty}", sku=sku, warehouse=wh, requested=qty, allowed=value, line=detail,
            limit="customer")
    if code == Code.SHARE_LIMIT:
        return errors.ShareLimit(
            f"this API key may hold {value} more units of {sku} at once, asked for {qty}",
            sku=sku, warehouse=wh, requested=qty, allowed=value, line=detail,
            limit="api_key_share")
    if code == Code.CHANNEL_CAP:
        return errors.ChannelLimit(
            f"channel allocation: this channel may take {value} more units of {sku}, asked "
            f"for {qty}", sku=sku, warehouse=wh, requested=qty, allowed=value, line=detail,
            limit="channel_cap")
    if code == Code.CHANNEL_RESERVED:
        return errors.ChannelReserved(
            f"{value} units of {sku} may be sold here; the rest is kept for other "
            f"channels' buffers (asked for {qty})", sku=sku, warehouse=wh, requested=qty,
            allowed=value, line=detail, limit="channel_buffer")
    if code == Code.UNKNOWN_HOLD:
        return errors.UnknownHold(f"unknown hold {hold_id}", hold_id=hold_id)
    if code == Code.EXPIRED:
        return errors.HoldExpired(f"hold {hold_id} has expired", hold_id=hold_id)
    if code == Code.ILLEGAL and detail == 0:  # allocator.ledger_lines.LINE_MISMATCH
        return errors.ReservationChanged(f"hold {hold_id} has no such line, or fewer units "
                                         "on it", hold_id=hold_id)
    if code == Code.ILLEGAL:
        state = HoldState(detail).name.lower() if detail in HoldState._value2member_map_ \
            else "unknown"
        return errors.IllegalTransition(f"cannot {verb} hold {hold_id}: it is {state}",
                                        hold_id=hold_id, state=state)
    if code == Code.CONFLICT:
        return errors.IdempotencyConflict("operation id reused with a different payload")
    if code == Code.STALE_VERSION:
        if version is None:
            return errors.StaleVersion(f"version is not newer than {value}",
                                       current_version=value)
        return errors.StaleVersion(f"version {version} is not newer than {value}",
                                   version=version, current_version=value)
    if code == Code.VERSION:
        return errors.ReservationChanged(
            f"hold {hold_id} was amended meanwhile (now version {value})", hold_id=hold_id)
    if code == Code.MOVED:
        return errors.SkuMoved(f"SKU {sku} takes no new holds on this shard", sku=sku)
    return errors.InvalidRequest(f"the shard refused the {verb}: {code.name.lower()}")
