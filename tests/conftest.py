"""Shared fixtures and hypothesis profiles."""

import os
import uuid

import pytest
from hypothesis import HealthCheck, settings

from storage.redis import EmbeddedRedis, connect

#: SKUs of the session's cluster: every test takes its own (SkuPool), so the pool must
#: outlast the suite.
N_SKUS = 400

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


# --- real parts shared by integration and e2e tests: embedded Redis (or REDIS_URL)
# and one local Ray cluster per session.


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


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A real local Ray cluster with the directory and 2 shards over an embedded Redis."""
    import ray

    from actors.cluster import Cluster, ClusterConfig
    from actors.shard_core import ShardConfig
    from allocator.catalog import demo_catalog

    config = ClusterConfig(data_dir=tmp_path_factory.mktemp("cluster"), n_shards=2,
                           num_cpus=2, redis_url=os.environ.get("REDIS_URL", ""),
                           shard=ShardConfig(snapshot_every_records=50))
    c = Cluster(config, demo_catalog(N_SKUS))
    c.catalog = demo_catalog(N_SKUS)
    yield c
    c.shutdown()
    assert not ray.is_initialized()


@pytest.fixture(scope="session")
def client(cluster):
    """A BlockingClient on the shards' data plane."""
    c = cluster.client()
    yield c
    c.close()


@pytest.fixture(scope="session")
def svc(cluster):
    """The service layer (as an API process wires it), driven synchronously."""
    from tests.support.cluster import SyncServices

    s = SyncServices(cluster.redis_url)
    yield s
    s.close()


class SkuPool:
    """Hands each test SKUs no other test touches."""

    def __init__(self, sku_ids):
        self.free = list(sku_ids)

    def take(self, n=1):
        if n > len(self.free):
            raise RuntimeError(f"the session's SKU pool is spent ({len(self.free)} left, "
                               f"{n} asked): raise N_SKUS in tests/conftest.py")
        out, self.free = self.free[:n], self.free[n:]
        return out


@pytest.fixture(scope="session")
def skus(cluster):
    return SkuPool(cluster.catalog.sku_ids)
