"""Garbage collection in the processes that serve or generate requests (the API, the
rehearsal's Locust processes).

CPython's cyclic collector scans every tracked object of a generation; a full
collection over a process's whole heap (its modules, and for a load generator a
thousand users with their greenlets) stops it for tens of ms — 60–110 ms measured in
the rehearsal's Locust process at 8×, which every request in flight then shows as
latency. :func:`freeze_long_lived` moves what is alive now (what startup, or spawning
the users, built) out of the collector's sight, and makes young collections rarer:
each request allocates hundreds of objects, nearly all freed at once by reference
counting. What must outlive a request (the API's first answers, records and memoised
plans) is kept as bytes, which the collector never scans: kept as dicts, they were
what every young collection scanned (20–100 ms each; docs/REHEARSAL.md).
"""

from __future__ import annotations

import gc

#: Young collections after 50,000 net allocations (not 700); measured on the API: p99
#: of a reserve at ~2,500 req/s fell from ~140 ms to ~40 ms.
GC_THRESHOLDS = (50_000, 50, 100)


def freeze_long_lived() -> None:
    """Keep collections off every object alive now, and make them rarer. Call it
    again when a new long-lived crowd has been built (it is cheap)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
