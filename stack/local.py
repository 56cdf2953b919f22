"""The API against a running cluster — its environment, uvicorn in a child process or in
this one — and a whole stack on this machine (cluster, seeded stock, API)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from actors.cluster import Cluster, ClusterConfig
from actors.shard_core import ShardConfig
from allocator.catalog import Catalog, demo_catalog
from stack.processes import free_port, start_uvicorn, stop_process, wait_until_ready

API_FACTORY = "api.app:create_app"
#: The API's HTTP protocol: uvicorn's httptools, checkout routes outside ASGI.
API_PROTOCOL = "api.server:CheckoutProtocol"


def api_env(cluster: Cluster, env: Mapping[str, str] = {}) -> dict[str, str]:
    """The environment of an API process joining ``cluster``: this process's own, then
    the cluster's Ray address, Redis URL and key prefix, then ``env``."""
    out = dict(os.environ, RAY_ADDRESS=cluster.gcs_address,
               REDIS_URL=cluster.redis_url, ALLOCATOR_PREFIX=cluster.config.prefix)
    out.update(env)
    return out


@dataclass
class ApiProcess:
    """An API (or any ASGI factory) served by uvicorn in a child process."""

    proc: Any
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def stop(self) -> None:
        stop_process(self.proc)


def start_api(cluster: Cluster, env: Mapping[str, str] = {}, *, workers: int = 1,
              factory: str = API_FACTORY, ready_path: str = "/readyz",
              timeout_s: float = 120.0) -> ApiProcess:
    """Start ``factory`` under uvicorn joined to ``cluster`` and wait until it answers
    ``ready_path``; the process is stopped again if it never does."""
    port = free_port()
    http = API_PROTOCOL if factory == API_FACTORY else "auto"
    api = ApiProcess(start_uvicorn(port, api_env(cluster, env), factory, workers, http), port)
    try:
        wait_until_ready(api.url, api.proc, timeout_s, ready_path)
    except BaseException:
        api.stop()
        raise
    return api


def serve_api(cluster: Cluster, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
              log_level: str = "warning") -> None:
    """Serve the API in this process (workers are child processes) until interrupted."""
    import uvicorn

    os.environ.update(api_env(cluster))
    uvicorn.run(API_FACTORY, factory=True, host=host, port=port, workers=workers,
                http=API_PROTOCOL, log_level=log_level, access_log=False,
                timeout_graceful_shutdown=5)


class LocalStack:
    """Ray + embedded Redis + shards (seeded with ``stock``) + the API, on this machine;
    for the rehearsal and the benchmarks. ``stop()`` removes everything it started."""

    def __init__(self, stock: dict[str, list[int]], *, env: Mapping[str, str] = {},
                 shards: int = 2, api_workers: int = 1, catalog: Catalog | None = None,
                 shard: ShardConfig | None = None, start_api_process: bool = True,
                 log: Callable[[str], None] = lambda msg: None) -> None:
        self.data_dir = tempfile.mkdtemp(prefix="allocator-stack-")
        self.api: ApiProcess | None = None
        config = ClusterConfig(data_dir=Path(self.data_dir), n_shards=shards, num_cpus=2,
                               shard=shard or ShardConfig())
        joined = os.environ.pop("RAY_ADDRESS", None)  # always a fresh local cluster
        try:
            self.cluster = Cluster(config, catalog or demo_catalog())
        finally:
            if joined is not None:
                os.environ["RAY_ADDRESS"] = joined
        try:
            log("cluster up; seeding stock and starting the API …")
            self.cluster.seed(stock)
            if start_api_process:
                self.api = start_api(self.cluster, env, workers=api_workers)
        except BaseException:
            self.stop()
            raise

    @property
    def url(self) -> str:
        assert self.api is not None, "started without an API"
        return self.api.url

    def totals(self) -> dict[str, int]:
        return self.cluster.totals()

    def pending_expiries(self) -> list[int]:
        return self.cluster.pending_expiries()

    def audit(self) -> dict[str, Any]:
        return self.cluster.audit()

    def stop(self) -> None:
        try:
            if self.api is not None:
                self.api.stop()
            self.cluster.shutdown()
        finally:
            shutil.rmtree(self.data_dir, ignore_errors=True)
