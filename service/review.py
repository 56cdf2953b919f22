"""Review holds: people in the loop before an order may be paid for.

Rules put a reservation in ``review`` when it is taken: its value is above
``value_inr``, it is cash on delivery to a pincode whose return-to-origin rate is above
``cod_rto``, or the caller flagged it. Its units are held like any other's, for the
review window (``hold_s``) instead of the checkout TTL, and a commit is refused
(``review_pending``) until ops approve it; a rejection releases the units. The reasons
are part of the reservation's record; the decision is one Redis key per reviewed
reservation (absent: still in review), so reservations nobody reviews never pay a
Redis read. Each step is an event (``review_opened``, ``review_approved``,
``review_rejected``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from allocator.config import Keys
from allocator.errors import IllegalTransition, ReviewPending
from routing import Network
from service.orders import HoldRequest
from storage.coalesce import Coalescer
from storage.events import publish

IN_REVIEW, APPROVED, REJECTED = "review", "approved", "rejected"
DECIDE = """
local cur = redis.call('GET', KEYS[1])
if cur then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"""


@dataclass(frozen=True)
class ReviewRules:
    value_inr: float = 0.0  # 0: no value rule
    cod_rto: float = 0.0  # 0: no cash-on-delivery rule
    hold_s: float = 7200.0  # how long a reservation in review keeps its units


class Reviews:
    def __init__(self, redis: Coalescer, keys: Keys, rules: ReviewRules, network: Network,
                 retention_s: int = 7 * 24 * 3600) -> None:
        self.redis = redis
        self.keys = keys
        self.rules = rules
        self.network = network
        self.retention_s = retention_s

    def reasons(self, req: HoldRequest) -> list[str]:
        """Why this request needs a review (empty: it does not)."""
        out = []
        if req.review:
            out.append("flagged")
        if self.rules.value_inr and (req.value_inr or 0) > self.rules.value_inr:
            out.append("high_value")
        destination = req.order.destination if req.order is not None else req.destination
        if self.rules.cod_rto and req.cod and destination:
            rto = self.network.destination(destination).rto_rate
            if rto > self.rules.cod_rto:
                out.append("cod_high_rto")
        return out

    def hold_ms(self, reasons: list[str], ttl_ms: int) -> int:
        """The hold's time to live: the review window for a reservation in review."""
        return max(ttl_ms, int(self.rules.hold_s * 1000)) if reasons else ttl_ms

    async def decision(self, rid: str) -> str:
        raw = await self.redis.run("GET", self.keys.review(rid))
        return raw.decode() if isinstance(raw, bytes) else (raw or IN_REVIEW)

    async def require_approved(self, rid: str) -> None:
        state = await self.decision(rid)
        if state == IN_REVIEW:
            raise ReviewPending(f"reservation {rid} is in review: it can be committed once "
                                "approved", reservation_id=rid)
        if state == REJECTED:
            raise IllegalTransition(f"reservation {rid} was rejected in review",
                                    reservation_id=rid, state="released")

    async def decide(self, rid: str, approve: bool, by: str) -> str:
        """Record the decision (the first one stands); returns the decision in force."""
        wanted = APPROVED if approve else REJECTED
        got = await self.redis.script(DECIDE, [self.keys.review(rid)],
                                      [wanted, self.retention_s])
        got = got.decode() if isinstance(got, bytes) else got
        if got == wanted:
            await self.publish(f"review_{got}", rid, by=by)
        return got

    async def publish(self, kind: str, rid: str, **fields: Any) -> None:
        await publish(self.redis, self.keys, {
            "event_id": f"review:{rid}:{kind}", "type": kind, "shard": "review",
            "at": int(time.time() * 1000), "reservation_id": rid,
            **{k: ",".join(v) if isinstance(v, list) else v for k, v in fields.items()}})
