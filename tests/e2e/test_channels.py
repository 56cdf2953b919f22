"""Sales channels over HTTP against the real server: a channel's buffer survives another
channel's burst, caps hold under concurrency, the per-channel inventory view, and the
kill switch per channel and per brand."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.http import DELHI, assert_problem, auth, key, restock

pytestmark = pytest.mark.integration


def set_rules(ops_http, *rules):
    r = ops_http.put("/v1/channels/rules", json={"rules": list(rules)})
    assert r.status_code == 200, r.text
    return r.json()


def reserve(client, sku, qty=1, **extra):
    return client.post("/v1/reservations", headers=key(), json={
        "lines": [{"sku": sku, "qty": qty}], "destination": DELHI, **extra})


def burst(server, sku, n, **extra):
    def buyer(i):
        with httpx.Client(base_url=server, headers=auth("test-checkout-key"),
                          timeout=60) as c:
            return reserve(c, sku, **extra)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(buyer, range(n)))


def sellable(http, channel, sku):
    r = http.get(f"/v1/channels/{channel}/inventory/{sku}")
    assert r.status_code == 200, r.text
    return r.json()


def test_a_burst_on_one_channel_cannot_drain_another_channels_buffer(
        server, http, ops_http, skus, cluster):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 40)
    restock(ops_http, sku, "WH-BOM", 20)
    (got,) = set_rules(ops_http, {"sku": sku, "channel": "own-store", "buffer": 15})
    assert got["rules"] == [{"channel": "own-store", "buffer": 15, "buffer_share": None,
                             "cap": None, "cap_share": None, "units": 0}]
    assert sellable(http, "marketplace", sku)["sellable"] == 45
    assert sellable(http, "own-store", sku)["sellable"] == 60

    answers = burst(server, sku, 120, channel="marketplace")
    won = [r for r in answers if r.status_code == 201]
    outcomes = Counter(f"{r.status_code} {r.json().get('type', '')}" for r in answers)
    assert len(won) == 45, outcomes  # everything but the buffer, not one unit more
    assert all(r.json()["channel"] == "marketplace" for r in won)
    for r in answers:
        if r.status_code != 201:
            assert r.status_code == 409 and r.json()["type"] in (
                "/problems/channel-reserved", "/problems/insufficient-stock"), r.text
    assert outcomes["409 /problems/channel-reserved"] > 0

    view = sellable(http, "marketplace", sku)
    assert view["sellable"] == 0 and view["units"] == 45
    body = assert_problem(reserve(http, sku), 409, "channel-reserved")  # no channel: same
    assert body["allowed"] == 0 and body["sku"] == sku
    assert sellable(http, "own-store", sku)["sellable"] == 15
    for _ in range(15):  # the own store still sells its whole buffer
        r = reserve(http, sku, channel="own-store", brand="zeta")
        assert r.status_code == 201, r.text
        assert (r.json()["channel"], r.json()["brand"]) == ("own-store", "zeta")
    assert_problem(reserve(http, sku, channel="own-store"), 409, "insufficient-stock")
    inv = ops_http.get(f"/v1/inventory/{sku}").json()["totals"]
    assert (inv["held"], inv["available"]) == (60, 0)
    rules = ops_http.get(f"/v1/channels/rules/{sku}").json()["rules"]
    assert rules[0]["units"] == 15
    report = cluster.audit()
    assert report["ok"] and report["oversold_units"] == 0


def test_a_cap_holds_under_concurrency_and_frees_up_on_release(server, http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 50)
    set_rules(ops_http, {"sku": sku, "channel": "brand-app", "cap_share": 0.1})  # 5 units
    answers = burst(server, sku, 30, channel="brand-app")
    won = [r for r in answers if r.status_code == 201]
    assert len(won) == 5
    for r in answers:
        if r.status_code != 201:
            assert assert_problem(r, 409, "channel-allocation")["limit"] == "channel_cap"
    assert reserve(http, sku, 10, channel="marketplace").status_code == 201  # no cap there
    rid = won[0].json()["id"]
    assert http.post(f"/v1/reservations/{rid}/release").json()["state"] == "released"
    assert reserve(http, sku, channel="brand-app").status_code == 201
    set_rules(ops_http, {"sku": sku, "channel": "brand-app"})  # every part null: removed
    assert ops_http.get(f"/v1/channels/rules/{sku}").json()["rules"] == []
    assert reserve(http, sku, 6, channel="brand-app").status_code == 201


def test_kill_switch_per_channel_and_per_brand(http, ops_http, skus):
    (sku,) = skus.take()
    restock(ops_http, sku, "WH-DEL", 10)
    r = ops_http.put("/v1/admin/kill-switch",
                     json={"on": True, "channels": ["marketplace"], "brands": ["zeta"]})
    assert r.status_code == 200, r.text
    assert (r.json()["channels"], r.json()["brands"], r.json()["global"]) == (
        ["marketplace"], ["zeta"], False)
    try:
        body = assert_problem(reserve(http, sku, channel="marketplace"), 423,
                              "channel-switched-off")
        assert body["channel"] == "marketplace"
        assert_problem(reserve(http, sku, channel="own-store", brand="zeta"), 423,
                       "brand-switched-off")
        batch = http.post("/v1/reservations/batch", headers=key(), json={"orders": [
            {"lines": [{"sku": sku, "qty": 1, "warehouse": "WH-DEL"}], "brand": "zeta"},
            {"lines": [{"sku": sku, "qty": 1, "warehouse": "WH-DEL"}], "brand": "other"}]})
        assert [x["status"] for x in batch.json()["results"]] == ["failed", "reserved"]
        assert reserve(http, sku, channel="own-store", brand="other").status_code == 201
        assert reserve(http, sku).status_code == 201
    finally:
        r = ops_http.put("/v1/admin/kill-switch",
                         json={"on": False, "channels": ["marketplace"], "brands": ["zeta"]})
    assert (r.json()["channels"], r.json()["brands"]) == ([], [])
    assert reserve(http, sku, channel="marketplace", brand="zeta").status_code == 201


def test_bad_channel_input_is_a_clear_problem(http, ops_http, skus):
    (sku,) = skus.take()
    assert_problem(reserve(http, sku, channel="no spaces"), 422, "validation")
    assert_problem(ops_http.put("/v1/channels/rules", json={"rules": [
        {"sku": sku, "channel": "shop", "buffer": 1, "buffer_share": 0.1}]}), 422,
        "validation")
    assert_problem(ops_http.put("/v1/channels/rules", json={"rules": [
        {"sku": "NOPE", "channel": "shop", "buffer": 1}]}), 422, "unknown-sku")
    assert_problem(http.put("/v1/channels/rules", json={"rules": [
        {"sku": sku, "channel": "shop", "buffer": 1}]}), 403, "forbidden")
    assert_problem(http.get(f"/v1/channels/no%20spaces/inventory/{sku}"), 422, "validation")
