"""A :class:`~actors.client.ShardClient` for synchronous callers (tools, tests,
benchmarks), on a private event loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Awaitable, Sequence

import numpy as np

from actors.client import ShardClient
from actors.layout import Layout
from actors.pending import NO_LIMITS, OpLimits, ShardResult
from allocator.ops import Line, OpKind


class BlockingClient:
    """A :class:`ShardClient` on a private event loop, for synchronous callers:
    ``submit`` and ``hold_bulk`` return :class:`concurrent.futures.Future`."""

    def __init__(self, token: bytes, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="shard-client")
        self._thread.start()
        self.client: ShardClient = self.call(ShardClient.connect(token, **kwargs))

    def call(self, coro: Awaitable[Any], timeout: float | None = 60) -> Any:
        """Run a coroutine on the client's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def submit(self, kind: OpKind, op_id: int, lines: Sequence[Line] = (), hold_id: int = -1,
               *, ttl_ms: int = 0, version: int = 0, state: int = 0,
               shard: str | None = None, limits: OpLimits = NO_LIMITS
               ) -> concurrent.futures.Future:
        async def go() -> ShardResult:
            return await self.client.submit(kind, op_id, lines, hold_id, ttl_ms=ttl_ms,
                                            version=version, state=state, shard=shard,
                                            limits=limits)
        return asyncio.run_coroutine_threadsafe(go(), self.loop)

    def hold_bulk(self, gidx: np.ndarray, wh: np.ndarray, qty: np.ndarray,
                  op_ids: np.ndarray, ttl_ms: int) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(
            self.client.hold_bulk(gidx, wh, qty, op_ids, ttl_ms), self.loop)

    def refresh(self) -> Layout:
        return self.call(self.client.refresh())

    def __getattr__(self, name: str) -> Any:  # layout reads: owner, check, sku_ids, …
        return getattr(self.client, name)

    def close(self) -> None:
        try:
            self.call(self.client.close(), timeout=5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)
