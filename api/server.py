"""Run the API under uvicorn on top of a running cluster."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import uvicorn


def serve_http(redis_url: str, ray_address: str, host: str = "127.0.0.1", port: int = 8000,
               workers: int = 1, log_level: str = "warning") -> None:
    """Serve until interrupted. Workers (processes) join the Ray cluster at
    ``ray_address`` and the Redis at ``redis_url``; their settings come from the
    environment (``ALLOCATOR_API_*``)."""
    os.environ["REDIS_URL"] = redis_url
    os.environ["RAY_ADDRESS"] = ray_address
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False, timeout_graceful_shutdown=5)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_uvicorn(port: int, env: dict[str, str], factory: str = "api.app:create_app",
                  workers: int = 1) -> subprocess.Popen:
    """``uvicorn --factory FACTORY`` in its own process on 127.0.0.1:``port``."""
    cmd = [sys.executable, "-m", "uvicorn", "--factory", factory, "--host", "127.0.0.1",
           "--port", str(port), "--log-level", "warning", "--no-access-log"]
    if workers > 1:
        cmd += ["--workers", str(workers)]
    return subprocess.Popen(cmd, env=env, cwd=str(Path(__file__).resolve().parents[1]))


def wait_until_ready(base_url: str, proc: "subprocess.Popen | None" = None,
                     timeout_s: float = 90.0, path: str = "/readyz") -> None:
    """Poll ``path`` until 200; RuntimeError if ``proc`` exits or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base_url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if (proc is not None and proc.poll() is not None) or time.monotonic() > deadline:
            raise RuntimeError(f"{base_url} did not become ready"
                               + ("" if proc is None else f" (exit code {proc.poll()})"))
        time.sleep(0.3)
