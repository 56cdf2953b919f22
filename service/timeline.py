"""A reservation's events, for a storefront to poll: the changes of its holds read back
from the events stream, from just before the reservation was created."""

from __future__ import annotations

from typing import Any

from allocator.config import Keys
from service.checkout import Checkout
from storage.coalesce import Coalescer
from storage.events import decode, of_holds


#: Fields an event shows besides its kind, time and origin: a reservation's lines, and
#: an exchange's link (the other reservation) and the line it concerns.
LINKS = ("lines", "exchange_id", "exchange_of", "sku", "warehouse", "qty")


class Timeline:
    """Scans at most ``max_scan`` stream entries per request (``complete`` says whether
    the scan reached the end of the stream); events are published a few times a second,
    so the newest change may show a moment after the call that made it."""

    def __init__(self, checkout: Checkout, redis: Coalescer, keys: Keys,
                 max_scan: int = 50_000, page: int = 5_000) -> None:
        self.checkout = checkout
        self.redis = redis
        self.key = keys.events
        self.max_scan, self.page = max_scan, page

    async def events(self, rid: str, owner: str | None) -> dict[str, Any]:
        res = await self.checkout.reservation(rid, owner)
        state = await self.checkout.state_of(res)
        start, scanned, found = f"{max(0, res.created_ms - 1000)}-0", 0, []
        complete = False
        while scanned < self.max_scan:
            rows = await self.redis.run("XRANGE", self.key, start, "+", "COUNT", self.page)
            scanned += len(rows)
            decoded = [decode(fields) for _, fields in rows]
            found += of_holds(decoded, res.holds)
            found += [e for e in decoded if e.get("shard") == "exchange"
                      and e.get("reservation_id") == res.id]
            if len(rows) < self.page:
                complete = True
                break
            last = rows[-1][0]
            start = "(" + (last.decode() if isinstance(last, bytes) else last)
        events = [{"type": e["type"], "at_ms": int(e["at"]), "shard": e["shard"],
                   "hold_id": int(e.get("hold_id", 0)), "event_id": e["event_id"],
                   **{k: e[k] for k in LINKS if k in e}}
                  for e in found]
        events.sort(key=lambda e: e["at_ms"])
        return {"reservation_id": res.id, "state": state.value, "events": events,
                "complete": complete, "scanned": scanned}
