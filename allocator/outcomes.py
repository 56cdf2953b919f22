"""The one mapping from an op's result code to the domain error it means."""

from __future__ import annotations

from typing import Sequence

from allocator import errors
from allocator.ops import Code, HoldState, OpKind

Line = tuple[str, str, int]  # sku, warehouse, qty


def error_for(kind: int, code: int, value: int, detail: int, lines: Sequence[Line] = (),
              hold_id: int = -1) -> errors.AllocatorError | None:
    """None for OK; else the error for ``code`` (``lines``: the op's lines by name, for
    codes that point at one; ``hold_id``: the hold a transition named)."""
    code = Code(int(code))
    verb = OpKind(int(kind)).name.lower()
    line = lines[detail] if 0 <= detail < len(lines) else None
    if code == Code.OK:
        return None
    if code == Code.INSUFFICIENT:
        if line is None:
            return errors.InsufficientStock(f"only {value} units available", available=value)
        sku, wh, qty = line
        return errors.InsufficientStock(f"only {value} of {qty} units of {sku} at {wh}",
                                        sku=sku, warehouse=wh, requested=qty,
                                        available=value)
    if code == Code.UNKNOWN_HOLD:
        return errors.UnknownHold(f"unknown hold {hold_id}", hold_id=hold_id)
    if code == Code.EXPIRED:
        return errors.HoldExpired(f"hold {hold_id} has expired", hold_id=hold_id)
    if code == Code.ILLEGAL:
        state = HoldState(detail).name.lower() if detail in HoldState._value2member_map_ \
            else "unknown"
        return errors.IllegalTransition(f"cannot {verb} hold {hold_id}: it is {state}",
                                        hold_id=hold_id, state=state)
    if code == Code.CONFLICT:
        return errors.IdempotencyConflict("operation id reused with a different payload")
    if code == Code.STALE_VERSION:
        return errors.StaleVersion(f"version is not newer than {value}",
                                   current_version=value)
    if code == Code.MOVED:
        sku = line[0] if line else ""
        return errors.SkuMoved(f"SKU {sku} takes no new holds on this shard", sku=sku)
    limit = _limit_error(code, value, line)
    if limit is not None:
        return limit
    return errors.InvalidRequest(f"the shard refused the {verb}: {code.name.lower()}")


def _limit_error(code: Code, value: int, line: Line | None) -> errors.AllocatorError | None:
    """Anti-scalping refusals (codes added with the purchase limits)."""
    name = code.name
    sku, wh, qty = line if line else ("", "", 0)
    if name == "CUSTOMER_LIMIT":
        return errors.error_from(
            "purchase_limit", f"purchase limit: this customer may take {value} more units "
            f"of {sku}, asked for {qty}", {"sku": sku, "requested": qty, "allowed": value,
                                           "limit": "customer"})
    if name == "SHARE_LIMIT":
        return errors.error_from(
            "share_limit", f"this API key may hold {value} more units of {sku} at once, "
            f"asked for {qty}", {"sku": sku, "requested": qty, "allowed": value,
                                 "limit": "api_key_share"})
    return None
