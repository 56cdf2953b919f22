"""Reading the events stream (docs/EVENTS.md): decoding entries, expanding ``bulk``
events into their changes, a consumer-group consumer that claims what a dead consumer
left pending, replaying a group from an entry id, and the events of given holds.

Publishing lives with the shards (:class:`storage.journal.EventLog`).
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, Sequence

import msgpack
import redis

from allocator.config import Keys
from storage.coalesce import Coalescer

Event = dict[str, Any]


def decode(fields: dict[bytes, bytes]) -> Event:
    """A stream entry's fields as strings (``data`` of a bulk event stays bytes)."""
    return {k.decode(): v if k == b"data" else v.decode() for k, v in fields.items()}


def expand(event: Event) -> list[Event]:
    """A ``bulk`` event as one event per change (ids ``<bulk id>:<i>``); others as is."""
    if event.get("type") != "bulk":
        return [event]
    data = msgpack.unpackb(event["data"], raw=False)
    base = {k: v for k, v in event.items() if k not in ("data", "count", "type", "event_id")}
    out = []
    for i, kind in enumerate(data["type"]):
        ev = {**base, "event_id": f"{event['event_id']}:{i}", "type": kind,
              "op_id": str(data["op_id"][i]), "hold_id": str(data["hold_id"][i])}
        if data["sku"][i]:
            ev.update(sku=data["sku"][i], warehouse=data["warehouse"][i],
                      qty=str(data["qty"][i]))
        out.append(ev)
    return out


def of_holds(events: Iterable[Event], holds: Sequence[tuple[str, int]]) -> list[Event]:
    """The (expanded) events that concern these ``(shard, hold id)`` pairs."""
    wanted = {(s, str(h)) for s, h in holds}
    return [e for ev in events for e in expand(ev)
            if (e.get("shard"), e.get("hold_id")) in wanted]


class EventStream:
    """Reads ``{prefix}:events`` with a synchronous client (tools, consumers, tests)."""

    def __init__(self, client: redis.Redis, keys: Keys = Keys()) -> None:
        self.client = client
        self.key = keys.events

    def read(self, start: str = "-", count: int = 1000) -> list[tuple[str, Event]]:
        """Up to ``count`` entries from ``start`` (inclusive; ``-`` the oldest)."""
        rows = self.client.xrange(self.key, min=start, count=count)
        return [(entry.decode(), decode(fields)) for entry, fields in rows]

    def follow(self, start: str = "$", block_ms: int = 1000) -> Iterator[tuple[str, Event]]:
        """Entries after ``start`` (``$``: from now on), waiting for new ones, forever."""
        last = start
        while True:
            got = self.client.xread({self.key: last}, count=1000, block=block_ms)
            for _, rows in got or []:
                for entry, fields in rows:
                    last = entry.decode()
                    yield last, decode(fields)

    def replay(self, group: str, start: str) -> dict[str, Any]:
        """Move ``group``'s cursor so that its consumers read again from entry ``start``
        (inclusive; ``0`` the beginning); creates the group if it does not exist."""
        after = _before(start)
        try:
            self.client.xgroup_create(self.key, group, id=after, mkstream=True)
            created = True
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            self.client.xgroup_setid(self.key, group, id=after)
            created = False
        return {"group": group, "from": start, "created": created}


def _before(entry: str) -> str:
    """The id just before ``entry`` (a group's cursor is the last id it delivered)."""
    if entry in ("0", "0-0", "-"):
        return "0"
    ms, _, seq = entry.partition("-")
    if not ms.isdigit() or (seq and not seq.isdigit()):
        raise ValueError(f"not a stream entry id: {entry!r} (expected MS-SEQ, e.g. "
                         "1733050000000-0)")
    if seq and int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-{2 ** 64 - 1}" if int(ms) > 0 else "0"


class Consumer:
    """One member of a consumer group. :meth:`poll` first claims entries another member
    took and did not acknowledge within ``claim_idle_ms`` (it died), then reads new
    ones; acknowledge with :meth:`ack` once an entry's effect is stored. Delivery is at
    least once: dedupe on ``event_id`` in the store the effect goes to."""

    def __init__(self, client: redis.Redis, group: str, name: str, keys: Keys = Keys(),
                 claim_idle_ms: int = 5000) -> None:
        self.client = client
        self.key = keys.events
        self.group, self.name = group, name
        self.claim_idle_ms = claim_idle_ms
        try:
            client.xgroup_create(self.key, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def poll(self, count: int = 100, block_ms: int = 1000) -> list[tuple[str, Event]]:
        """Entries to handle: claimed from dead members first, else new ones."""
        answer = self.client.xautoclaim(self.key, self.group, self.name,
                                        min_idle_time=self.claim_idle_ms, start_id="0-0",
                                        count=count)
        rows = [(e, f) for e, f in answer[1] if f]  # entries trimmed meanwhile come empty
        if not rows:
            got = self.client.xreadgroup(self.group, self.name, {self.key: ">"},
                                         count=count, block=block_ms)
            rows = [r for _, entries in got or [] for r in entries]
        return [(entry.decode(), decode(fields)) for entry, fields in rows]

    def ack(self, entries: Sequence[str]) -> int:
        return int(self.client.xack(self.key, self.group, *entries)) if entries else 0

    def pending(self) -> int:
        """Entries delivered to some member of the group and not acknowledged."""
        return int(self.client.xpending(self.key, self.group)["pending"])


async def publish(redis: Coalescer, keys: Keys, event: dict[str, Any],
                  maxlen: int = 1_000_000) -> None:
    """Append one event (not from a shard: reconciliation, reviews) to the stream."""
    flat = [str(x) for kv in event.items() for x in kv]
    await redis.run("XADD", keys.events, "MAXLEN", "~", str(maxlen), "*", *flat)
