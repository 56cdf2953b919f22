"""A reservation: an order's holds on one or more shards, and its state.

The record (lines, holds, times, plan) is written once; the **state** is read from the
shards' ledgers, whose hold states are the only authority. ``holds[0]`` is the
*primary*: every transition (commit, release) is decided there first, so two racing
transitions cannot both win; the other shards follow the primary's decision.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import Enum
from typing import Any, Sequence

import msgpack

from allocator.bundles import Kit
from allocator.ops import HoldState, Line


class State(str, Enum):
    PENDING = "pending"
    CANCELLED = "cancelled"  # a line's units cancelled after commit (lines only)
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"
    SHIPPED = "shipped"
    REVIEW = "review"  # pending, and waiting for a review decision


HOLD_STATE = {HoldState.PENDING: State.PENDING, HoldState.COMMITTED: State.COMMITTED,
              HoldState.RELEASED: State.RELEASED, HoldState.EXPIRED: State.EXPIRED,
              HoldState.SHIPPED: State.SHIPPED}


@dataclass
class Reservation:
    """An order's holds. ``holds``: (shard, hold id on that shard), primary first."""

    id: str
    owner: str
    lines: list[Line]
    holds: list[tuple[str, int]]
    created_ms: int
    expires_ms: int
    plan: dict[str, Any] | None = None
    state: State = State.PENDING
    version: int = 0  # 0: as reserved; else the amendment's (see service.lifecycle)
    drops: list[tuple[str, int, list[Line]]] | None = None  # an amendment's leftovers
    line_states: list[dict[str, Any]] | None = None  # per line, read from the ledgers
    views: list[dict[str, Any]] | None = None  # the shards' view of each hold, if read
    review: list[str] | None = None  # why it is held for review (None: it is not)
    kits: list[Kit] | None = None  # its bundle lines (their components are in ``lines``)
    exchange_of: dict[str, Any] | None = None  # the shipped line this one replaces
    exchanges: list[dict[str, Any]] | None = None  # exchanges of its lines, if read
    channel: str | None = None  # the sales channel it was reserved on
    brand: str | None = None

    def to_record(self) -> dict[str, Any]:
        """The stored form (no state: that lives in the ledgers)."""
        out = {"id": self.id, "owner": self.owner, "lines": [list(x) for x in self.lines],
               "holds": [list(x) for x in self.holds], "created_ms": self.created_ms,
               "expires_ms": self.expires_ms, "plan": self.plan}
        if self.version:
            out["version"] = self.version
            out["drops"] = [[s, h, [list(x) for x in ls]] for s, h, ls in self.drops or ()]
        if self.review:
            out["review"] = self.review
        if self.kits:
            out["kits"] = [k.to_record() for k in self.kits]
        if self.exchange_of:
            out["exchange_of"] = self.exchange_of
        if self.channel:
            out["channel"] = self.channel
        if self.brand:
            out["brand"] = self.brand
        return out

    @classmethod
    def from_record(cls, d: dict[str, Any], state: State = State.PENDING) -> "Reservation":
        """From :meth:`to_record`'s form (the plan may be stored msgpack-packed)."""
        plan = d.get("plan")
        if isinstance(plan, bytes):
            plan = msgpack.unpackb(plan, raw=False)
        drops = [(s, int(h), [(k, w, int(q)) for k, w, q in ls])
                 for s, h, ls in d.get("drops", ())]
        if "state" in d:  # a first answer stored with the state it gave
            state = State(d["state"])
        return cls(d["id"], d["owner"], [(s, w, int(q)) for s, w, q in d["lines"]],
                   [(s, int(h)) for s, h in d["holds"]], int(d["created_ms"]),
                   int(d["expires_ms"]), plan, state, int(d.get("version", 0)), drops,
                   d.get("line_states"), review=d.get("review"),
                   kits=[Kit.from_record(k) for k in d["kits"]] if d.get("kits") else None,
                   exchange_of=d.get("exchange_of"), channel=d.get("channel"),
                   brand=d.get("brand"))

    def answer(self) -> bytes:
        """The record with the state and line states read, packed: a first answer that
        a replay gives again as it was."""
        return msgpack.packb(self.to_record() | {"state": self.state.value,
                                                 "line_states": self.line_states},
                             use_bin_type=True)

    def with_state(self, state: State, line_states: list[dict[str, Any]] | None = None
                   ) -> "Reservation":
        return Reservation(self.id, self.owner, self.lines, self.holds, self.created_ms,
                           self.expires_ms, self.plan, state, self.version, self.drops,
                           line_states, review=self.review, kits=self.kits,
                           exchange_of=self.exchange_of, channel=self.channel,
                           brand=self.brand)


def combined_state(states: Sequence[HoldState], expires_ms: int,
                   now_ms: int | None = None) -> State:
    """A reservation's state from its holds' states (primary first): the primary
    decides; a committed reservation is shipped once every hold has shipped; a
    pending one past its expiry reads expired."""
    primary = HOLD_STATE[HoldState(int(states[0]))]
    if primary == State.PENDING:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        return State.EXPIRED if now >= expires_ms else State.PENDING
    if primary in (State.COMMITTED, State.SHIPPED):
        return State.SHIPPED if all(int(s) == HoldState.SHIPPED for s in states) \
            else State.COMMITTED
    return primary
