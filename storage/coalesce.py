"""Redis commands issued in one turn of the event loop travel in one pipeline.

A round trip from ``redis.asyncio`` costs the caller ~75 µs of CPU whatever it
carries; under load hundreds of requests are in flight at once, so their commands
are gathered while the loop turns and sent together (one ``pipeline`` per turn,
at most ``max_inflight`` pipelines at a time, the rest waiting for the next). Two in
flight, not more: fewer, fuller pipelines (measured: API CPU per pre-routed request
≈ 7 % lower than with four), and still a second lane beside a slow command.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import redis
import redis.asyncio as aioredis

from allocator.aio import spawn
from allocator.errors import StorageUnavailable

#: What a lost or restarting Redis raises (connection refused, timeouts, loading, a
#: Redis Cluster without a primary for a slot, or a failover in progress).
OUTAGE = (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError, OSError,
          redis.exceptions.ClusterDownError, redis.exceptions.TryAgainError,
          redis.exceptions.MasterDownError)


class Coalescer:
    """``await run("GET", key)`` (any command): answered from a shared pipeline.

    A Redis error in one command fails only that caller; an outage fails every caller
    of the pipeline with :class:`StorageUnavailable`.
    """

    def __init__(self, client: aioredis.Redis, max_inflight: int = 2) -> None:
        self.client = client
        self.max_inflight = max_inflight
        self._pending: list[tuple[tuple[Any, ...], asyncio.Future]] = []
        self._scheduled = False
        self._inflight = 0
        self._shas: dict[str, str] = {}
        self.stats = {"pipelines": 0, "commands": 0}

    def run(self, *args: Any) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self._pending.append((args, fut))
        if not self._scheduled and self._inflight < self.max_inflight:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return fut

    async def script(self, source: str, keys: list[Any], args: list[Any]) -> Any:
        """Run a Lua script by its SHA1 (``EVALSHA``), loading it once if Redis does
        not know it (first use, or Redis restarted). Every key of ``keys`` must hash to
        one slot when Redis is a Cluster (:class:`allocator.config.Keys` groups them);
        the load goes through the client, which sends it to every primary."""
        sha = self._shas.get(source)
        if sha is None:
            sha = self._shas[source] = hashlib.sha1(source.encode()).hexdigest()
        try:
            return await self.run("EVALSHA", sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            try:
                await self.client.script_load(source)
            except OUTAGE as exc:
                raise StorageUnavailable(f"redis unavailable: {exc}",
                                         retry_after_s=1.0) from None
            return await self.run("EVALSHA", sha, len(keys), *keys, *args)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        self._inflight += 1
        spawn(self._send(batch))

    async def _send(self, batch: list[tuple[tuple[Any, ...], asyncio.Future]]) -> None:
        self.stats["pipelines"] += 1
        self.stats["commands"] += len(batch)
        try:
            pipe = self.client.pipeline(transaction=False)
            for args, _ in batch:
                pipe.execute_command(*args)
            results = await pipe.execute(raise_on_error=False)
        except OUTAGE as exc:
            err = StorageUnavailable(f"redis unavailable: {exc}", retry_after_s=1.0)
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(err)
            return
        except BaseException as exc:  # noqa: BLE001 - every caller must hear of it
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            raise
        finally:
            self._inflight -= 1
            if self._pending and not self._scheduled:
                self._scheduled = True
                asyncio.get_running_loop().call_soon(self._flush)
        for (_, fut), res in zip(batch, results):
            if fut.done():
                continue
            if isinstance(res, OUTAGE):
                fut.set_exception(StorageUnavailable(f"redis unavailable: {res}",
                                                     retry_after_s=1.0))
            elif isinstance(res, Exception):
                fut.set_exception(res)
            else:
                fut.set_result(res)
