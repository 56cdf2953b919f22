"""An allocator events consumer, written as docs/EVENTS.md recommends: a consumer group
member that claims what a dead member left pending, stores each event's effect in its
own store under a unique ``event_id`` (so a redelivered event changes nothing), and
acknowledges only after the store committed.

Its "effect" here is a row per event in a SQLite table. Run from the repository root:

    python examples/event_consumer.py --redis-url redis://localhost:6379/0 \\
        --group billing --name worker-1 --db events.sqlite

``--stop-when-idle S`` exits after S seconds without events (printing a JSON summary);
``--crash-after N`` dies (exit code 3) right after storing N entries and before
acknowledging them — what a killed process looks like to the stream.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from allocator.config import Keys  # noqa: E402
from storage.events import Consumer, expand  # noqa: E402
from storage.redis import connect  # noqa: E402


def open_store(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, type TEXT, "
               "shard TEXT, hold_id TEXT, at TEXT)")
    return db


def store(db: sqlite3.Connection, events: list[dict]) -> int:
    """Insert each event once; returns how many were already there (duplicates)."""
    before = db.total_changes
    db.executemany("INSERT OR IGNORE INTO events VALUES (?, ?, ?, ?, ?)",
                   [(e["event_id"], e["type"], e.get("shard"), e.get("hold_id"), e.get("at"))
                    for e in events])
    db.commit()
    return len(events) - (db.total_changes - before)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--redis-url", required=True)
    p.add_argument("--prefix", default="alloc")
    p.add_argument("--group", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--claim-idle-ms", type=int, default=5000)
    p.add_argument("--stop-when-idle", type=float, default=0.0)
    p.add_argument("--crash-after", type=int, default=0)
    args = p.parse_args(argv)

    consumer = Consumer(connect(args.redis_url), args.group, args.name, Keys(args.prefix),
                        claim_idle_ms=args.claim_idle_ms)
    db = open_store(args.db)
    handled = duplicates = 0
    idle_since = time.monotonic()
    while True:
        rows = consumer.poll(count=50, block_ms=200)
        if not rows:
            if args.stop_when_idle and time.monotonic() - idle_since > args.stop_when_idle:
                break
            continue
        idle_since = time.monotonic()
        duplicates += store(db, [e for _, ev in rows for e in expand(ev)])
        handled += len(rows)
        if args.crash_after and handled >= args.crash_after:
            os._exit(3)  # stored, not acknowledged: these entries stay pending
        consumer.ack([entry for entry, _ in rows])
    print(json.dumps({"handled": handled, "duplicates": duplicates,
                      "stored": db.execute("SELECT COUNT(*) FROM events").fetchone()[0]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
