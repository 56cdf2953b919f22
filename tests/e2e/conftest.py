"""A real uvicorn process serving the API, joined to the session's Ray cluster and Redis."""

from __future__ import annotations

import json

import httpx
import pytest

from stack.local import start_api

from tests.support.http import CUSTOMER_CAP, KEYS, REVIEW_VALUE_INR, auth



def api_env() -> dict[str, str]:
    """The test API's settings (keys, limits, review rules)."""
    return {"ALLOCATOR_API_KEYS": json.dumps(KEYS),
            "ALLOCATOR_API_MAX_BODY_BYTES": "200000",
            "ALLOCATOR_API_MAX_BATCH_ORDERS": "500",
            "ALLOCATOR_CUSTOMER_CAP": str(CUSTOMER_CAP),
            "ALLOCATOR_REVIEW_VALUE_INR": str(REVIEW_VALUE_INR),
            "ALLOCATOR_REVIEW_COD_RTO": "0.2"}


@pytest.fixture(scope="session")
def server(cluster):
    """``uvicorn --factory api.app:create_app`` in its own process."""
    api = start_api(cluster, api_env(), timeout_s=90)
    yield api.url
    api.stop()


@pytest.fixture(scope="session")
def second_server(cluster):
    """Another API process on the same cluster and Redis (a second replica): requests
    sent to both race from separate processes, as behind a load balancer."""
    api = start_api(cluster, api_env(), timeout_s=90)
    yield api.url
    api.stop()


@pytest.fixture(scope="session")
def http(server):
    with httpx.Client(base_url=server, headers=auth("test-checkout-key"), timeout=30) as c:
        yield c


@pytest.fixture(scope="session")
def ops_http(server):
    with httpx.Client(base_url=server, headers=auth("test-admin-key"), timeout=30) as c:
        yield c
