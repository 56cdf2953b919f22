"""Real parts: an embedded Redis (or REDIS_URL) and a local Ray cluster, once per session."""

from __future__ import annotations

import os
import uuid

import pytest

from allocator.storage import EmbeddedRedis, connect


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    url = os.environ.get("REDIS_URL")
    if url:
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    yield server.url
    server.stop()


@pytest.fixture
def redis_client(redis_url):
    return connect(redis_url)


@pytest.fixture
def prefix():
    """A fresh key prefix per test, so tests never see each other's streams."""
    return f"t{uuid.uuid4().hex[:8]}"
