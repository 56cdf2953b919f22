"""What a request costs in rate-limit tokens: work, not requests.

A pre-routed one-line reserve costs 1 token. Routing grows with the order: a routed
order costs 1 + 0.5 per line after the first, + 1 if substitutes may be planned. A
batch costs the sum of its orders, except that single-line pre-routed orders (the
vectorised path) cost 0.1 each; a bulk request costs 0.02 per row. Reads and
transitions cost 1. A request costing more than the key's burst is refused (429)
whatever the bucket holds: split it.
"""

from __future__ import annotations

from api.models import BatchIn, OrderIn, WaveIn

ROUTED_LINE = 0.5
SUBSTITUTES = 1.0
BULK_LINE_IN_BATCH = 0.1
BULK_ROW = 0.02


def of_order(o: OrderIn) -> float:
    if o.pre_routed:
        return 1.0
    return 1.0 + ROUTED_LINE * (len(o.lines) - 1) + (SUBSTITUTES if o.allow_substitutes
                                                       else 0.0)


def of_batch(b: BatchIn) -> float:
    return sum(BULK_LINE_IN_BATCH if o.pre_routed and len(o.lines) == 1 else of_order(o)
               for o in b.orders)


def of_bulk(rows: int) -> float:
    return max(1.0, BULK_ROW * rows)


def of_wave(w: WaveIn) -> float:
    """Every order routed: a wave costs what its orders would cost routed one by one."""
    return sum(of_order(o) for o in w.orders)
