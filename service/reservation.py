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

from allocator.ops import HoldState, Line


class State(str, Enum):
    PENDING = "pending"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"
    SHIPPED = "shipped"


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

    def to_record(self) -> dict[str, Any]:
        """The stored form (no state: that lives in the ledgers)."""
        return {"id": self.id, "owner": self.owner, "lines": [list(x) for x in self.lines],
                "holds": [list(x) for x in self.holds], "created_ms": self.created_ms,
                "expires_ms": self.expires_ms, "plan": self.plan}

    @classmethod
    def from_record(cls, d: dict[str, Any], state: State = State.PENDING) -> "Reservation":
        """From :meth:`to_record`'s form (the plan may be stored msgpack-packed)."""
        plan = d.get("plan")
        if isinstance(plan, bytes):
            plan = msgpack.unpackb(plan, raw=False)
        return cls(d["id"], d["owner"], [(s, w, int(q)) for s, w, q in d["lines"]],
                   [(s, int(h)) for s, h in d["holds"]], int(d["created_ms"]),
                   int(d["expires_ms"]), plan, state)

    def with_state(self, state: State) -> "Reservation":
        return Reservation(self.id, self.owner, self.lines, self.holds, self.created_ms,
                           self.expires_ms, self.plan, state)


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
