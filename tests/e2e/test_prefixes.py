"""ALLOCATOR_PREFIX end to end: a second deployment ("shopb") beside the session's
("alloc") on the same Redis and the same Ray cluster, each with its own API process.
Neither sees the other's stock, reservations, keys or actors."""

from __future__ import annotations

import json

import httpx
import pytest

from actors.cluster import Cluster, ClusterConfig
from allocator.catalog import demo_catalog
from allocator.config import Keys
from stack.local import start_api
from storage.redis import connect

from tests.support.http import KEYS, auth, key

pytestmark = pytest.mark.integration

SKU, WH = "PHONE-0003", "WH-DEL"


@pytest.fixture(scope="module")
def shopb(cluster):
    """The second deployment: its own directory and shard, 3 units of SKU at WH."""
    catalog = demo_catalog(200)
    other = Cluster(ClusterConfig(redis_url=cluster.redis_url, prefix="shopb", n_shards=1),
                    catalog)
    stock = [0] * len(catalog.warehouse_ids)
    stock[catalog.warehouse_ids.index(WH)] = 3
    other.seed({SKU: stock})
    api = start_api(other, {"ALLOCATOR_API_KEYS": json.dumps(KEYS)}, timeout_s=90)
    yield api.url
    api.stop()
    other.shutdown()


def cell(client: httpx.Client, sku: str, wh: str) -> dict[str, int]:
    r = client.get(f"/v1/inventory/{sku}")
    assert r.status_code == 200, r.text
    return r.json()["warehouses"][wh]


def test_two_prefixes_side_by_side(server, shopb, cluster):
    headers = auth("test-checkout-key")
    with httpx.Client(base_url=server, headers=headers, timeout=30) as a, \
            httpx.Client(base_url=shopb, headers=headers, timeout=30) as b:
        before_a = cell(a, SKU, WH)
        assert cell(b, SKU, WH)["available"] == 3

        body = {"lines": [{"sku": SKU, "warehouse": WH, "qty": 2}]}
        r = b.post("/v1/reservations", headers=key(), json=body)
        assert r.status_code == 201, r.text
        rid = r.json()["id"]
        assert cell(b, SKU, WH)["available"] == 1
        assert cell(a, SKU, WH) == before_a  # the other deployment is untouched
        assert a.get(f"/v1/reservations/{rid}").status_code == 404
        assert b.post(f"/v1/reservations/{rid}/commit", headers=key()).status_code == 200

        # the same Idempotency-Key on both answers each from its own records
        same = {"Idempotency-Key": "shared-key-1"}
        r = b.post("/v1/reservations", headers=same,
                   json={"lines": [{"sku": SKU, "warehouse": WH, "qty": 2}]})
        assert r.status_code == 409, r.text  # only 1 left in shopb
        if before_a["available"] >= 1:
            r = a.post("/v1/reservations", headers=same,
                       json={"lines": [{"sku": SKU, "warehouse": WH, "qty": 1}]})
            assert r.status_code == 201, r.text

    redis = connect(cluster.redis_url)
    keys = Keys("shopb")
    assert redis.exists(keys.catalog, keys.secret, keys.directory) == 3
    assert redis.exists(keys.journal("shard-00")) == 1
    assert redis.exists(keys.reservation(rid)) == 1
    assert redis.exists(Keys().reservation(rid)) == 0
    assert redis.get(keys.secret) != redis.get(Keys().secret)
