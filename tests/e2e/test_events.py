"""GET /v1/reservations/{id}/events: the order-status view a storefront polls, over
HTTP — a reservation's reserved and committed events (also out of bulk events), bound
to its owner."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.support.http import assert_problem, auth, key, restock

WH = "WH-DEL"


def events_until(http: httpx.Client, rid: str, types: set[str], timeout_s: float = 10.0
                 ) -> dict:
    """Poll until every type in ``types`` shows (events are published a few times a
    second, after the change)."""
    deadline = time.monotonic() + timeout_s
    while True:
        r = http.get(f"/v1/reservations/{rid}/events")
        assert r.status_code == 200, r.text
        body = r.json()
        if types <= {e["type"] for e in body["events"]} or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_a_reservation_shows_its_events_in_order(http, ops_http, server, skus):
    sku = skus.take()[0]
    restock(ops_http, sku, WH, 5)
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": sku, "warehouse": WH, "qty": 2}]})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert http.post(f"/v1/reservations/{rid}/commit", headers=key()).status_code == 200
    body = events_until(http, rid, {"reserved", "committed"})
    assert body["state"] == "committed" and body["complete"] is True
    assert [e["type"] for e in body["events"]] == ["reserved", "committed"]
    assert body["events"][0]["lines"] == f"{sku}@{WH}x2"
    assert body["events"][0]["at_ms"] <= body["events"][1]["at_ms"]
    with httpx.Client(base_url=server, headers=auth("test-checkout-key-2"), timeout=30) as other:
        assert_problem(other.get(f"/v1/reservations/{rid}/events"), 404, "not-found")


def test_bulk_reservations_find_their_changes_inside_bulk_events(http, ops_http, skus):
    sku = skus.take()[0]
    restock(ops_http, sku, WH, 40)
    n = 20  # more than 16 changes in one batch: published as one bulk event
    r = http.post("/v1/reservations/bulk", headers=key(),
                  json={"skus": [sku] * n, "warehouses": [WH] * n, "qty": [1] * n})
    assert r.status_code == 200, r.text
    ids = [rid for rid in r.json()["ids"] if rid]
    assert len(ids) == n
    body = events_until(http, ids[7], {"reserved"})
    assert [e["type"] for e in body["events"]] == ["reserved"]
    assert body["events"][0]["event_id"].split(":")[-2] == "bulk"


def test_an_unknown_or_absurd_id(http):
    assert_problem(http.get("/v1/reservations/res_0000/events"), 404, "not-found")
    assert_problem(http.get(f"/v1/reservations/{'x' * 500}/events"), 422, "validation")


pytestmark = pytest.mark.integration
