"""HTTP helpers shared by the end-to-end tests: the test keys, auth headers, fresh
Idempotency-Keys, problem+json assertions, restocking over the API, serve's status."""

from __future__ import annotations

import subprocess
import uuid

PROBLEM = "application/problem+json"
DELHI = "110001"
KEYS = {
    "test-checkout-key": {"name": "shop", "scopes": ["checkout", "read"]},
    "test-checkout-key-2": {"name": "other-shop", "scopes": ["checkout", "read"]},
    "test-ops-key": {"name": "ops", "scopes": ["ops", "read"]},
    "test-admin-key": {"name": "admin", "scopes": ["admin", "ops", "checkout", "read"]},
    "test-slow-key": {"name": "slow", "scopes": ["checkout", "read"], "rate": 1, "burst": 2},
    "test-share-key": {"name": "reseller", "scopes": ["checkout", "read"], "max_share": 0.1},
    "test-small-key": {"name": "small", "scopes": ["checkout", "read"], "rate": 5, "burst": 10},
}
CUSTOMER_CAP = 3
REVIEW_VALUE_INR = 50_000  # orders worth more are held for review


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def restock(ops_http, sku, wh, qty):
    r = ops_http.post("/v1/inventory/movements", headers=key(), json={
        "movements": [{"type": "restock", "sku": sku, "warehouse": wh, "qty": qty}]})
    assert r.status_code == 200, r.text


def assert_problem(r, status, slug):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["type"] == f"/problems/{slug}" and body["status"] == status
    assert body["title"] and body["detail"]
    assert "Traceback" not in r.text
    return body


def read_status_json(proc: subprocess.Popen) -> str:
    """The status JSON ``allocator serve`` prints first (an indented object)."""
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.rstrip() == "}":
            return "".join(lines)
    raise AssertionError(f"serve printed no status: {''.join(lines)!r}")
