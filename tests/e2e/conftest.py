"""A real uvicorn process serving the API, joined to the session's Ray cluster and Redis."""

from __future__ import annotations

import json
import os

import httpx
import pytest

from api.server import free_port, start_uvicorn, wait_until_ready

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


@pytest.fixture(scope="session")
def server(cluster):
    """``uvicorn --factory api.app:create_app`` in its own process."""
    import ray

    port = free_port()
    env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address,
               REDIS_URL=cluster.redis_url, ALLOCATOR_API_KEYS=json.dumps(KEYS),
               ALLOCATOR_API_MAX_BODY_BYTES="200000", ALLOCATOR_API_MAX_BATCH_ORDERS="500",
               ALLOCATOR_CUSTOMER_CAP=str(CUSTOMER_CAP))
    proc = start_uvicorn(port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, proc)
    except RuntimeError:
        proc.kill()
        raise
    yield base
    proc.terminate()
    proc.wait(timeout=20)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="session")
def http(server):
    with httpx.Client(base_url=server, headers=auth("test-checkout-key"), timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def ops_http(server):
    with httpx.Client(base_url=server, headers=auth("test-admin-key"), timeout=30) as c:
        yield c
