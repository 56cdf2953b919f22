"""The two baselines of ``allocator bench api``, each an ASGI factory for uvicorn:
:func:`echo_app` (a bare FastAPI echo) and :func:`peer_app` (the flash-sale endpoint
most teams write: async FastAPI, an idempotency ``SET NX`` and one ``redis.asyncio``
EVALSHA check-and-decrement per request)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from allocator.config import Settings

BENCH_KEY = "bench-key-123"
PINCODES = ("110001", "400001", "560001")
ECHO_PAYLOAD = {"status": "ok", "service": "echo", "items": [1, 2, 3]}


# --------------------------------------------------------------------- baseline app
def echo_app() -> Any:
    """The baseline: a bare FastAPI app with one endpoint returning a fixed JSON
    (``uvicorn --factory bench.api:echo_app``)."""
    from fastapi import FastAPI

    app = FastAPI(title="echo")

    @app.get("/echo")
    async def echo() -> dict[str, Any]:
        return ECHO_PAYLOAD

    @app.get("/echo-sync")
    def echo_sync() -> dict[str, Any]:
        """The same in a plain ``def`` (run in the threadpool, like the API's handlers)."""
        return ECHO_PAYLOAD

    return app


# ------------------------------------------------------------------------- peer app
PEER_CHECK_AND_DECREMENT = """
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
if left < want then return -1 end
return redis.call('DECRBY', KEYS[1], want)
"""


def peer_stock_key(sku: str, warehouse: str) -> str:
    return f"peer:stock:{sku}:{warehouse}"


class PeerLine(BaseModel):
    sku: str
    qty: int
    warehouse: str


class PeerOrder(BaseModel):
    lines: list[PeerLine]


def peer_app() -> Any:
    """The peer baseline: what most teams build for a flash sale
    (``uvicorn --factory bench.api:peer_app``): an ``async def`` FastAPI endpoint, the
    body as a pydantic parameter and the key as a ``Header`` parameter, an idempotency
    ``SET NX`` and one ``redis.asyncio`` EVALSHA check-and-decrement per request, on
    the same Redis as the allocator (``REDIS_URL``)."""
    import redis.asyncio as aioredis
    from fastapi import FastAPI, Header, HTTPException

    app = FastAPI(title="peer")
    client = aioredis.from_url(Settings.from_env().redis_url, max_connections=64)
    script = client.register_script(PEER_CHECK_AND_DECREMENT)

    @app.get("/echo")
    async def ready() -> dict[str, Any]:
        return ECHO_PAYLOAD

    @app.post("/v1/reservations", status_code=201)
    async def reserve(order: PeerOrder, idempotency_key: str = Header()) -> dict[str, Any]:
        if not await client.set(f"peer:idem:{idempotency_key}", "1", nx=True, ex=86400):
            raise HTTPException(409, "Idempotency-Key already used")
        line = order.lines[0]
        left = await script(keys=[peer_stock_key(line.sku, line.warehouse)], args=[line.qty])
        if int(left) < 0:
            raise HTTPException(409, "sold out")
        return {"id": idempotency_key, "state": "pending", "lines": [line.model_dump()]}

    return app
