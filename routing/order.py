"""An order to route: lines, destination pincode, promise and limits, validated."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any, Mapping

from allocator.config import LIMITS
from allocator.errors import InvalidRequest


@dataclass(frozen=True)
class OrderLine:
    sku: str
    qty: int


@dataclass(frozen=True)
class Order:
    """A checkout order.

    ``promise_days``: delivery promised within this many days (soft: lateness is
    penalised per day; hard when ``hard_promise``). ``max_shipments``: at most this
    many parcels. ``allow_substitutes``: a short line may be replaced by one of the
    SKU's catalog substitutes. ``split_lines``: a line's units may ship from several
    warehouses (``None``: the network's policy decides).
    """

    lines: tuple[OrderLine, ...]
    destination: str
    promise_days: int | None = None
    hard_promise: bool = False
    max_shipments: int | None = None
    allow_substitutes: bool = False
    id: str = ""
    split_lines: bool | None = None

    def __post_init__(self) -> None:
        if not self.lines:
            raise InvalidRequest("an order needs at least one line")
        if len(self.lines) > LIMITS.max_lines_per_order:
            raise InvalidRequest(
                f"an order may have at most {LIMITS.max_lines_per_order} lines, "
                f"got {len(self.lines)}", lines=len(self.lines))
        seen: set[str] = set()
        for i, line in enumerate(self.lines):
            if not isinstance(line.sku, str) or not line.sku:
                raise InvalidRequest(f"lines[{i}].sku must be a non-empty string")
            if not _is_int(line.qty) or not 0 < line.qty <= LIMITS.max_qty_per_line:
                raise InvalidRequest(
                    f"lines[{i}] ({line.sku}): qty must be a whole number in "
                    f"1..{LIMITS.max_qty_per_line}, got {line.qty!r}", sku=line.sku)
            if line.sku in seen:
                raise InvalidRequest(f"SKU {line.sku!r} appears on more than one line; "
                                     "merge the lines", sku=line.sku)
            seen.add(line.sku)
        if not isinstance(self.destination, str) or not self.destination:
            raise InvalidRequest("destination must be a pincode string")
        if self.promise_days is not None and (not _is_int(self.promise_days)
                                              or self.promise_days < 0):
            raise InvalidRequest(f"promise_days must be a whole number ≥ 0, got {self.promise_days!r}")
        if self.hard_promise and self.promise_days is None:
            raise InvalidRequest("hard_promise needs promise_days")
        if self.max_shipments is not None and (not _is_int(self.max_shipments)
                                               or self.max_shipments < 1):
            raise InvalidRequest(f"max_shipments must be a whole number ≥ 1, got {self.max_shipments!r}")
        if self.split_lines is not None and not isinstance(self.split_lines, bool):
            raise InvalidRequest(f"split_lines must be true, false or null, got {self.split_lines!r}")

    @cached_property
    def skus(self) -> tuple[str, ...]:
        """The lines' SKUs, in order (computed once: planning asks often)."""
        return tuple(line.sku for line in self.lines)

    def with_lines(self, lines: tuple[OrderLine, ...]) -> "Order":
        """The same order with other lines (used for substitutes and backorders)."""
        return replace(self, lines=lines)

    @classmethod
    def from_dict(cls, data: Any) -> "Order":
        """Build from the JSON order shape; :class:`InvalidRequest` on bad input."""
        if not isinstance(data, Mapping):
            raise InvalidRequest(f"an order must be a JSON object, got {type(data).__name__}")
        known = {"id", "lines", "destination", "promise_days", "hard_promise",
                 "max_shipments", "allow_substitutes", "split_lines"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRequest(f"unknown order field(s) {unknown}; known: {sorted(known)}")
        raw_lines = data.get("lines")
        if not isinstance(raw_lines, list):
            raise InvalidRequest("order.lines must be a list of {\"sku\", \"qty\"} objects")
        lines = []
        for i, raw in enumerate(raw_lines):
            if not isinstance(raw, Mapping) or "sku" not in raw or "qty" not in raw:
                raise InvalidRequest(f"order.lines[{i}] must be an object with \"sku\" and \"qty\"")
            lines.append(OrderLine(raw["sku"], raw["qty"]))
        dest = data.get("destination")
        if isinstance(dest, int) and not isinstance(dest, bool):
            dest = str(dest)
        return cls(
            lines=tuple(lines),
            destination=dest,  # type: ignore[arg-type]
            promise_days=data.get("promise_days"),
            hard_promise=_flag(data, "hard_promise"),
            max_shipments=data.get("max_shipments"),
            allow_substitutes=_flag(data, "allow_substitutes"),
            id=str(data.get("id", "")),
            split_lines=data.get("split_lines"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lines": [{"sku": l.sku, "qty": l.qty} for l in self.lines],
                               "destination": self.destination}
        if self.id:
            out["id"] = self.id
        if self.promise_days is not None:
            out["promise_days"] = self.promise_days
        if self.max_shipments is not None:
            out["max_shipments"] = self.max_shipments
        if self.hard_promise:
            out["hard_promise"] = True
        if self.allow_substitutes:
            out["allow_substitutes"] = True
        if self.split_lines is not None:
            out["split_lines"] = self.split_lines
        return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f"order.{key} must be true or false, got {value!r}")
    return value
