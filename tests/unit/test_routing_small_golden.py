"""Small orders plan exactly as they did: the golden corpus of
:mod:`tests.support.routing_golden` (3,000 seeded orders of 1–3 lines, sold-out and
short rows, promises, parcel limits, substitutes, split lines, capacity left) gives
byte-for-byte the plan JSON recorded before the fast path was made cheaper."""

from __future__ import annotations

import json

from tests.support import routing_golden as golden


def test_every_small_order_plans_to_its_recorded_answer():
    recorded = json.loads(golden.GOLDEN.read_text())
    assert (recorded["seed"], recorded["today"]) == (golden.SEED, golden.TODAY.isoformat())
    expected = recorded["digests"]
    wrong = []
    for i, (case, text) in enumerate(golden.answers(len(expected))):
        if golden.digest(text) != expected[i]:
            wrong.append((i, case.order, text))
    assert not wrong, (f"{len(wrong)} of {len(expected)} answers changed; first: case "
                       f"{wrong[0][0]} {wrong[0][1]}\n{wrong[0][2]}")


def test_the_corpus_covers_every_kind_of_answer():
    """A corpus that lost its sold-out rows or its runner-ups would prove little."""
    seen = set()
    for _, text in golden.answers(600):
        d = json.loads(text)
        short = d["shortfall"]
        seen.add(d["status"])
        seen.update(s["reason"] for s in (short or {}).get("short_lines", ()))
        seen.add("runner_up" if d["runner_up"] else "alone")
        seen.add("substituted" if d["substitutions"] else "as_ordered")
        seen.add("split" if d["splits"] else "whole")
        if short and short.get("backorder_option", {}).get("ship_now"):
            seen.add("ship_now")
        if short and short["reason"] == "max_shipments":
            seen.add("max_shipments")
    assert seen >= {"planned", "unfillable", "out_of_stock", "promise", "capacity",
                    "runner_up", "alone", "substituted", "split", "ship_now", "max_shipments"}
