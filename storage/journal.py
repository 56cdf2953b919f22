"""A shard's journal and snapshots, and the events stream (see docs/EVENTS.md).

Keys (names from :class:`allocator.config.Keys`):

* ``{p}:journal:{shard}`` — stream; one entry per applied record (field ``r``: msgpack)
* ``{p}:snapshot:{shard}`` — msgpack ``{"last_id", "snap"}``: ledger state up to an entry
* ``{p}:events`` — stream of change events
* ``{p}:events:cursor:{shard}`` — the last journal entry whose events were published
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import redis

from allocator.codec import pack, unpack
from allocator.config import DEFAULT_PREFIX, Keys
from allocator.errors import StorageUnavailable


class Journal:
    """One shard's journal (a Redis stream) and its latest snapshot."""

    def __init__(self, client: redis.Redis, shard: str, prefix: str = DEFAULT_PREFIX,
                 replicas: int = 0, replica_wait_ms: int = 1000) -> None:
        """``replicas``: a record counts as written only once this many replicas have
        it (``WAIT``), so a failover to a replica cannot lose an acknowledged write."""
        if replicas and isinstance(client, redis.RedisCluster):
            raise ValueError("ALLOCATOR_JOURNAL_REPLICAS is for one server or Sentinel; on a "
                             "Redis Cluster a WAIT cannot follow the journal's node")
        self.client = client
        self.shard = shard
        self.replicas, self.replica_wait_ms = int(replicas), int(replica_wait_ms)
        self.stream = Keys(prefix).journal(shard)
        self.snapshot_key = Keys(prefix).snapshot(shard)

    def append(self, record: dict[str, Any]) -> str:
        """Write one record; returns its entry id. Raises :class:`StorageUnavailable`."""
        try:
            if not self.replicas:
                entry = self.client.xadd(self.stream, {"r": pack(record)})
            else:
                pipe = self.client.pipeline(transaction=False)
                pipe.xadd(self.stream, {"r": pack(record)})
                pipe.execute_command("WAIT", self.replicas, self.replica_wait_ms)
                entry, acked = pipe.execute()
                if int(acked) < self.replicas:
                    # the record may survive on this primary: the shard drops its state
                    # and rebuilds from Redis, and a retry replays with the same op ids
                    raise StorageUnavailable(
                        f"journal write reached {acked} of {self.replicas} replicas within "
                        f"{self.replica_wait_ms} ms")
        except redis.RedisError as exc:
            raise StorageUnavailable(f"journal write failed: {exc}") from None
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def save_snapshot(self, snapshot: dict[str, Any], last_id: str,
                      keep_from: str | None = None) -> None:
        """Store a snapshot covering every entry up to ``last_id``, then trim the
        journal below ``keep_from`` (default ``last_id``; entries after stay for replay,
        and the events publisher may still need older ones)."""
        try:
            self.client.set(self.snapshot_key, pack({"last_id": last_id, "snap": snapshot}))
            self.client.xtrim(self.stream, minid=keep_from or last_id, approximate=False)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"snapshot write failed: {exc}") from None

    def load(self, page: int = 512) -> tuple[dict[str, Any] | None, Iterator[tuple[str, dict]]]:
        """The latest snapshot (or None) and an iterator over the entries after it."""
        try:
            raw = self.client.get(self.snapshot_key)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"snapshot read failed: {exc}") from None
        saved = unpack(raw) if raw else None
        after = saved["last_id"] if saved else "0-0"
        return (saved["snap"] if saved else None), self._entries_after(after, page)

    def _entries_after(self, after: str, page: int) -> Iterator[tuple[str, dict]]:
        cursor = after
        while True:
            try:
                rows = self.client.xrange(self.stream, min=f"({cursor}", count=page)
            except redis.RedisError as exc:
                raise StorageUnavailable(f"journal read failed: {exc}") from None
            for entry_id, fields in rows:
                cursor = entry_id.decode()
                yield cursor, unpack(fields[b"r"])
            if len(rows) < page:
                return


class EventLog:
    """Publishes change events on ``{prefix}:events`` with deterministic unique ids."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX,
                 maxlen: int = 1_000_000) -> None:
        self.client = client
        self.keys = Keys(prefix)
        self.stream = self.keys.events
        self.maxlen = maxlen

    def cursor(self, shard: str) -> str:
        raw = self.client.get(self.keys.events_cursor(shard))
        return raw.decode() if raw else "0-0"

    def publish(self, shard: str, events: Sequence[dict[str, Any]], cursor: str) -> None:
        """Append events and move the shard's cursor in one transaction (at-least-once:
        a crash before it re-publishes the same event ids, which consumers dedupe)."""
        pipe = self.client.pipeline(transaction=True)
        for event in events:
            pipe.xadd(self.stream, {k: v if isinstance(v, bytes) else str(v)
                                    for k, v in event.items()},
                      maxlen=self.maxlen, approximate=True)
        pipe.set(self.keys.events_cursor(shard), cursor)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise StorageUnavailable(f"event publish failed: {exc}") from None

    def read(self, count: int = 10_000) -> list[dict[str, str]]:
        """Every event (oldest first), decoded; for tests and the audit."""
        rows = self.client.xrange(self.stream, count=count)
        return [{k.decode(): v if k == b"data" else v.decode() for k, v in fields.items()}
                for _, fields in rows]


def stream_id_min(a: str, b: str) -> str:
    """The earlier of two stream entry ids."""
    key = lambda x: tuple(int(p) for p in x.split("-"))  # noqa: E731
    return a if key(a) <= key(b) else b
