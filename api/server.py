"""Run the API under uvicorn on top of a running cluster."""

from __future__ import annotations

import os

import uvicorn


def serve_http(redis_url: str, ray_address: str, host: str = "127.0.0.1", port: int = 8000,
               workers: int = 1, log_level: str = "warning") -> None:
    """Serve until interrupted. Workers (processes) join the Ray cluster at
    ``ray_address`` and the Redis at ``redis_url``; their settings come from the
    environment (``ALLOCATOR_API_*``)."""
    os.environ["REDIS_URL"] = redis_url
    os.environ["RAY_ADDRESS"] = ray_address
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, timeout_graceful_shutdown=5)
