"""Review holds over HTTP: a cash-on-delivery order to a high-RTO pincode, a high-value
order and a flagged one are held in review — units held, commit refused (409
review-pending) until ops approve; a rejection releases the units; each step is an
event; the first decision stands."""

from __future__ import annotations

import httpx
import pytest

from allocator.config import Keys
from storage.events import EventStream
from storage.redis import connect

from tests.support.http import REVIEW_VALUE_INR, assert_problem, auth, key, restock

pytestmark = pytest.mark.integration
HIGH_RTO = "176215"  # Dharamshala, RTO 22 % (the rule: above 20 %)
LOW_RTO = "110001"  # New Delhi, 6 %


def reserve(http, sku, **extra):
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": sku, "qty": 1}], **extra})
    assert r.status_code == 201, r.text
    return r.json()


def available(http, sku):
    return http.get(f"/v1/inventory/{sku}").json()["totals"]["available"]


def test_cod_to_a_high_rto_pincode_waits_for_approval(http, ops_http, skus, cluster):
    sku = skus.take()[0]
    restock(ops_http, sku, "WH-DEL", 5)
    res = reserve(http, sku, destination=HIGH_RTO, payment="cod")
    rid = res["id"]
    assert res["review"] == ["cod_high_rto"] and res["state"] == "pending"
    assert available(http, sku) == 4  # units held while in review
    assert http.get(f"/v1/reservations/{rid}").json()["state"] == "review"
    assert_problem(http.post(f"/v1/reservations/{rid}/commit", headers=key()), 409,
                   "review-pending")
    assert_problem(http.post(f"/v1/reservations/{rid}/approve"), 403, "forbidden")
    approved = ops_http.post(f"/v1/reservations/{rid}/approve")
    assert approved.status_code == 200 and approved.json()["state"] == "pending"
    # the first decision stands: a late rejection changes nothing
    assert ops_http.post(f"/v1/reservations/{rid}/reject").json()["state"] == "pending"
    assert http.post(f"/v1/reservations/{rid}/commit", headers=key()).json()["state"] == \
        "committed"
    kinds = [e["type"] for _, e in EventStream(connect(cluster.redis_url), Keys()).read(
        count=100_000) if e.get("reservation_id") == rid]
    assert kinds == ["review_opened", "review_approved"]


def test_rejection_releases_and_rules_that_do_not_apply(http, ops_http, skus):
    sku = skus.take()[0]
    restock(ops_http, sku, "WH-DEL", 5)
    flagged = reserve(http, sku, destination=LOW_RTO, review=True)
    valuable = reserve(http, sku, destination=LOW_RTO, order_value_inr=REVIEW_VALUE_INR + 1)
    assert flagged["review"] == ["flagged"] and valuable["review"] == ["high_value"]
    rejected = ops_http.post(f"/v1/reservations/{flagged['id']}/reject")
    assert rejected.status_code == 200 and rejected.json()["state"] == "released"
    assert available(http, sku) == 4  # the rejected one's unit is back
    assert_problem(http.post(f"/v1/reservations/{flagged['id']}/commit", headers=key()),
                   409, "illegal-transition")
    # prepaid to a high-RTO pincode, COD to a low one, a modest value: no review
    for extra in ({"destination": HIGH_RTO}, {"destination": LOW_RTO, "payment": "cod"},
                  {"destination": LOW_RTO, "order_value_inr": 10.0}):
        plain = reserve(http, sku, **extra)
        assert "review" not in plain
        assert http.post(f"/v1/reservations/{plain['id']}/commit",
                         headers=key()).status_code == 200
    plain_id = plain["id"]
    assert_problem(ops_http.post(f"/v1/reservations/{plain_id}/approve"), 409,
                   "illegal-transition")


def test_a_review_window_is_the_hold_time(http, ops_http, skus, server):
    sku = skus.take()[0]
    restock(ops_http, sku, "WH-DEL", 2)
    res = reserve(http, sku, destination=LOW_RTO, review=True, ttl_s=5)
    assert res["expires_ms"] - res["created_ms"] >= 7200 * 1000 - 1000
    with httpx.Client(base_url=server, headers=auth("test-checkout-key-2")) as other:
        assert_problem(other.post(f"/v1/reservations/{res['id']}/commit", headers=key()),
                       404, "not-found")
