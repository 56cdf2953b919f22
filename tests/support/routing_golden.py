"""A golden corpus of small orders: the exact plan JSON the router gives each one.

:func:`cases` draws a few thousand seeded orders of 1–3 lines (qty 1–3) to random demo
destinations, with promises (soft and hard), parcel limits, substitutes, split lines on,
off and by policy, availability rows of every kind (sold out, a unit or two here and
there, plenty) and sometimes a day's capacity left. :func:`answer` is the plan's JSON
text exactly as the API would serialise it (key order and int/float types included;
``elapsed_ms`` left out), so a change that alters any answer, down to a rounding or a
key's position, changes its digest.

Digests live in ``routing_small_golden.json`` next to this file. After a change to the
cost model or the plan's shape that is *meant* to alter answers, rewrite them with
``python -m tests.support.routing_golden --write`` (and say why in the commit);
``--dump FILE`` writes the full answers, to diff two checkouts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Iterator

import numpy as np

from allocator.catalog import Catalog, demo_catalog
from routing import Network, Order, OrderLine, Router, StockMap, demo_network

GOLDEN = Path(__file__).with_name("routing_small_golden.json")
SEED = 15
N_CASES = 3000
TODAY = date(2026, 12, 1)


@dataclass(frozen=True)
class Case:
    """One order and the availability (and capacity left) it is planned on."""

    order: Order
    rows: dict[str, np.ndarray]         # sku -> units per network warehouse
    capacity_left: np.ndarray | None


def _row(rng: random.Random, n: int) -> np.ndarray:
    kind = rng.choice(("sold_out", "sold_out", "few", "sparse", "plenty", "mixed"))
    if kind == "sold_out":
        units = [0] * n
    elif kind == "few":
        units = [rng.choice((0, 0, 0, 1, 2, 3)) for _ in range(n)]
    elif kind == "sparse":
        units = [rng.randint(1, 9) if rng.random() < 0.2 else 0 for _ in range(n)]
    elif kind == "plenty":
        units = [rng.randint(0, 300) for _ in range(n)]
    else:
        units = [rng.choice((0, 1, 3, 4, 5, 40)) for _ in range(n)]
    return np.array(units, np.int64)


def _order(rng: random.Random, skus: list[str], dests: list[str]) -> Order:
    lines = tuple(OrderLine(s, rng.randint(1, 3))
                  for s in rng.sample(skus, rng.choice((1, 1, 1, 2, 2, 3))))
    promise = rng.choice((None, None, None, 1, 2, 3, 4, 5))
    return Order(lines, rng.choice(dests), promise_days=promise,
                 hard_promise=promise is not None and rng.random() < 0.5,
                 max_shipments=rng.choice((None, None, None, 1, 2)),
                 allow_substitutes=rng.random() < 0.3,
                 split_lines=rng.choice((None, None, True, False)))


def cases(n: int = N_CASES, seed: int = SEED, network: Network | None = None,
          catalog: Catalog | None = None) -> Iterator[Case]:
    """The corpus, in a fixed order (the same on every run)."""
    rng = random.Random(seed)
    net, cat = network or demo_network(), catalog or demo_catalog()
    skus = list(cat.sku_ids[:24])     # 12 families: a SKU and its substitute often meet
    dests = [d.pincode for d in net.destinations]
    w = net.n_warehouses
    for _ in range(n):
        order = _order(rng, skus, dests)
        read = dict.fromkeys(s for sku in order.skus
                             for s in (sku, *cat.sku(sku).substitutes))
        rows = {s: _row(rng, w) for s in read}
        cap = None
        if rng.random() < 0.2:
            cap = np.array([rng.choice((-1, -1, 0, 1, 2, 3, 50)) for _ in range(w)], np.int64)
        yield Case(order, rows, cap)


def answer(router: Router, case: Case) -> str:
    """The plan's JSON text (``elapsed_ms`` left out), exactly as serialised."""
    plan = router.plan(case.order, StockMap(case.rows, router.network.n_warehouses),
                       capacity_left=case.capacity_left, today=TODAY)
    out = plan.to_dict()
    out.pop("elapsed_ms")
    return json.dumps(out, ensure_ascii=False)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def answers(n: int = N_CASES) -> Iterator[tuple[Case, str]]:
    router = Router(demo_network(), demo_catalog())
    for case in cases(n):
        yield case, answer(router, case)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--write", action="store_true", help=f"rewrite {GOLDEN.name}")
    ap.add_argument("--dump", help="write every answer (one JSON line each) to this file")
    args = ap.parse_args()
    texts = [text for _, text in answers()]
    if args.dump:
        Path(args.dump).write_text("\n".join(texts) + "\n", encoding="utf-8")
    if args.write:
        GOLDEN.write_text(json.dumps({"seed": SEED, "today": TODAY.isoformat(),
                                      "digests": [digest(t) for t in texts]}, indent=0) + "\n")
    statuses = [json.loads(t)["status"] for t in texts]
    print(f"{len(texts)} answers: {statuses.count('planned')} planned, "
          f"{statuses.count('unfillable')} unfillable")


if __name__ == "__main__":
    main()
