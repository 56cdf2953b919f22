"""Schemathesis against the live OpenAPI schema: no 5xx, and every response conforms
to what the schema documents (status code, content type, body schema).

The schema is loaded from ``{server}/openapi.json`` of the real uvicorn process (see
``conftest.py``) and every operation is tested with the admin key (it has every scope):
the schema's examples, schemathesis' coverage cases (boundaries, wrong types, other
methods) and ``MAX_EXAMPLES`` fuzzed cases, all deterministic.

Random strings are almost never a known SKU, warehouse, pincode or reservation id, so
the fuzzer alone would only see the 4xx paths. So this module stocks SKUs of its own,
makes reservations in each state, and binds those fields to real values most of the
time (schemathesis dictionaries); the example SKUs, which the test catalog does not
have, are swapped for its own too. The 2xx bodies are validated that way as well.

Calls with global side effects are made safe for the other tests of the session:

* ``PUT /v1/admin/kill-switch``: the switch is put back as it was after each call;
* ``POST /v1/admin/hot-skus``: each pin starts a Ray actor, so it gets 3 fuzzed cases of
  unknown SKUs only and no coverage phase (``test_api.py`` pins a SKU explicitly).
"""

from __future__ import annotations

import uuid

import httpx
import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (content_type_conformance,
                                               response_schema_conformance,
                                               status_code_conformance)

from api.models import EXAMPLE_ORDER, SkuId
from tests.support.http import auth

pytestmark = pytest.mark.integration

ADMIN_KEY = "test-admin-key"  # scopes: admin, ops, checkout, read
MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
KILL_SWITCH = "PUT /v1/admin/kill-switch"
PIN = "POST /v1/admin/hot-skus"
DESTINATIONS = ["110001", "560001", "400001"]
WAREHOUSES = ["WH-DEL", "WH-BOM", "WH-BLR"]
# the SKUs the schema's examples name; the test catalog has none of them
EXAMPLE_SKUS = sorted({line["sku"] for line in EXAMPLE_ORDER["lines"]} | set(SkuId.examples))


def _config(server: str, skus: list[str], reservation_ids: list[str]) -> SchemathesisConfig:
    mostly = lambda name, p=0.9: {"dictionary": name, "probability": p}  # noqa: E731
    return SchemathesisConfig.from_dict({
        "base-url": server,
        "headers": {"Authorization": f"Bearer {ADMIN_KEY}"},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True,
                       "database": "none"},
        "dictionaries": {
            "skus": {"values": skus},
            "warehouses": {"values": WAREHOUSES},
            "destinations": {"values": DESTINATIONS},
            "reservations": {"values": reservation_ids},
        },
        "parameters": {
            "path.sku": mostly("skus"),
            "path.reservation_id": mostly("reservations"),
            "body.lines[*].sku": mostly("skus"),
            "body.orders[*].lines[*].sku": mostly("skus"),
            "body.counts[*].sku": mostly("skus"),
            "body.movements[*].sku": mostly("skus"),
            "body.lines[*].warehouse": mostly("warehouses", 0.5),
            "body.orders[*].lines[*].warehouse": mostly("warehouses", 0.5),
            "body.counts[*].warehouse": mostly("warehouses"),
            "body.movements[*].warehouse": mostly("warehouses"),
            "body.movements[*].reservation_id": mostly("reservations"),
            "body.destination": mostly("destinations"),
            "body.orders[*].destination": mostly("destinations"),
        },
        "operations": [{
            # every pin starts a Ray actor: a few cases, unknown SKUs only
            "include-name": PIN,
            "generation": {"max-examples": 3},
            "phases": {"coverage": {"enabled": False}},
        }, {
            # known SKUs too: the test puts the switch back after each call
            "include-name": KILL_SWITCH,
            "parameters": {"body.skus[*]": mostly("skus")},
        }],
    })


def _swap(value, mapping: dict[str, str]):
    """``value`` with every string in ``mapping`` replaced (inside lists and dicts too)."""
    if isinstance(value, str):
        return mapping.get(value, value)
    if isinstance(value, list):
        return [_swap(v, mapping) for v in value]
    if isinstance(value, dict):
        return {k: _swap(v, mapping) for k, v in value.items()}
    return value


@pytest.fixture(scope="module")
def admin(server):
    with httpx.Client(base_url=server, headers=auth(ADMIN_KEY), timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def own(admin, skus):
    """SKUs only this module uses, stocked at ``WAREHOUSES``, and a reservation of them
    in each of the pending, committed and released states."""
    mine = skus.take(max(4, len(EXAMPLE_SKUS)))
    for sku in mine:
        r = admin.post("/v1/inventory/movements", headers={"Idempotency-Key": str(uuid.uuid4())},
                       json={"movements": [{"type": "restock", "sku": sku, "warehouse": wh,
                                            "qty": 50} for wh in WAREHOUSES]})
        assert r.status_code == 200, r.text
    ids = []
    for sku, then in zip(mine, (None, "commit", "release")):
        r = admin.post("/v1/reservations", headers={"Idempotency-Key": str(uuid.uuid4())},
                       json={"lines": [{"sku": sku, "qty": 1}], "destination": DESTINATIONS[0]})
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
        if then:
            assert admin.post(f"/v1/reservations/{ids[-1]}/{then}").status_code == 200
    return {"skus": mine, "reservations": ids, "examples": dict(zip(EXAMPLE_SKUS, mine))}


@pytest.fixture(scope="module")
def api_schema(server, own):
    return schemathesis.openapi.from_url(
        f"{server}/openapi.json", config=_config(server, own["skus"], own["reservations"]))


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_shim(request):
    """schemathesis 4.32's lazy schemas read and write ``Node._nodeid``, which pytest 9.2
    no longer has (it keeps ``nodeid``): give the node a plain attribute to use."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@pytest.fixture(scope="module")
def kill_switch(admin):
    """``restore(before)`` puts the kill switch back in state ``before``."""
    def restore(before: dict) -> None:
        now = admin.get("/v1/admin/kill-switch").json()
        changes = []
        if now["global"] != before["global"]:
            changes.append({"on": before["global"]})
        for part in ("skus", "channels", "brands"):  # what is switched off, by name
            if set(now[part]) - set(before[part]):
                changes.append({"on": False,
                                part: sorted(set(now[part]) - set(before[part]))})
            if set(before[part]) - set(now[part]):
                changes.append({"on": True,
                                part: sorted(set(before[part]) - set(now[part]))})
        for body in changes:
            r = admin.put("/v1/admin/kill-switch", json=body)
            assert r.status_code == 200, r.text
        assert admin.get("/v1/admin/kill-switch").json() == before
    return restore


@schema.parametrize()
def test_api_conforms_to_its_schema(case, own, admin, kill_switch):
    case.body = _swap(case.body, own["examples"])
    case.path_parameters = _swap(case.path_parameters, own["examples"])
    before = admin.get("/v1/admin/kill-switch").json() \
        if case.operation.label == KILL_SWITCH else None
    try:
        case.call_and_validate(checks=CHECKS, timeout=30)
    finally:
        if before is not None:
            kill_switch(before)


def test_unreadable_bodies_are_documented_problems(admin):
    """What the fuzzer found: a JSON body that is not UTF-8 was a bare 400, and a body
    streamed without Content-Length over the limit was that same 400, not 413."""
    r = admin.put("/v1/admin/kill-switch", content=b"\x93Q",
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_request", r.text
    assert r.headers["content-type"].startswith("application/problem+json")

    def chunks():
        for _ in range(30):
            yield b" " * 10_000  # 300 kB of JSON whitespace, over the 200 kB limit

    r = admin.put("/v1/inventory", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large", r.text
