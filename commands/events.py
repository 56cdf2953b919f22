"""``allocator events tail|replay``: read the events stream, rewind a consumer group."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_events_command(sub: Any) -> None:
    p = sub.add_parser("events", help="tail the events stream or replay a consumer group")
    p.add_argument("--redis-url", help="the deployment's Redis (default $REDIS_URL; "
                   "`allocator serve` prints it)")
    p.add_argument("--prefix", help="key prefix (default $ALLOCATOR_PREFIX or alloc)")
    verbs = p.add_subparsers(dest="verb", required=True)
    tail = verbs.add_parser("tail", help="print events as JSON lines")
    tail.add_argument("--from", dest="start", default="-",
                      help="first entry id (default: the oldest kept)")
    tail.add_argument("--count", type=int, default=100, help="at most this many (default 100)")
    tail.add_argument("--follow", action="store_true", help="then wait for new ones")
    tail.add_argument("--expand", action="store_true",
                      help="print each change of a bulk event on its own line")
    replay = verbs.add_parser("replay", help="make a consumer group read again from an id")
    replay.add_argument("--group", required=True)
    replay.add_argument("--from", dest="start", required=True,
                        help="entry id to read again from (inclusive; 0: the beginning)")
    p.set_defaults(func=_events)


def _events(args: argparse.Namespace) -> int:
    from allocator.config import Settings
    from storage.events import EventStream, expand
    from storage.redis import connect

    settings = Settings.from_env(redis_url=args.redis_url, prefix=args.prefix)
    if not settings.redis_url:
        print("allocator events: no Redis: pass --redis-url or set REDIS_URL "
              "(`allocator serve` prints the embedded one's URL)", file=sys.stderr)
        return 2
    stream = EventStream(connect(settings.redis_url), settings.keys)
    if args.verb == "replay":
        try:
            print(json.dumps(stream.replay(args.group, args.start)))
        except ValueError as exc:
            print(f"allocator events: {exc}", file=sys.stderr)
            return 2
        return 0
    rows = stream.read(args.start, args.count)
    if args.follow:
        rows = _then_follow(stream, rows)
    for entry, event in rows:
        for ev in expand(event) if args.expand else [event]:
            shown = {k: v for k, v in ev.items() if k != "data"}
            print(json.dumps({"entry": entry, "event": shown}), flush=True)
    return 0


def _then_follow(stream: Any, rows: list) -> Any:
    yield from rows
    yield from stream.follow(rows[-1][0] if rows else "$")
