"""The client's availability view: per shard, the available units of every cell as
last seen — refreshed by every answer (touched cells), by coalesced row reads
(:meth:`fresh`) and whole-shard reads, and in the background every ``view_refresh_s``."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Sequence

import numpy as np

from actors.pending import Frame, Link
from allocator.aio import spawn
from allocator.errors import AllocatorError


class AvailabilityViews:
    """Mixin of :class:`~actors.client.ShardClient`: the view and the data-plane reads."""

    def availability(self, skus: Sequence[str]) -> dict[str, np.ndarray] | None:
        """Available units per warehouse (layout order) of each SKU as this client last
        saw them, or None if a shard's view is missing (call :meth:`refresh_view`)."""
        out = {}
        for sku in skus:
            shard = self.owner(sku)
            view = self._view.get(shard)
            if view is None:
                return None
            out[sku] = view[self._rows[shard][sku]]
        return out

    def view_age_s(self, shard: str) -> float:
        return time.monotonic() - self._view_at.get(shard, 0.0)

    async def refresh_view(self, shard: str) -> None:
        """Read the shard's whole availability (one read in flight per shard; callers
        arriving meanwhile wait for it)."""
        link = self._link(shard)
        if link.view_read is None or link.view_read.done():
            link.view_read = spawn(self._read_view(link))
        await asyncio.shield(link.view_read)

    async def _read_view(self, link: Link) -> None:
        self.stats["view_reads"] += 1
        answer = await self.read(link.name, "avail")
        self._view[link.name] = answer["avail"]
        self._view_at[link.name] = time.monotonic()

    async def fresh(self, skus: Sequence[str]) -> dict[str, np.ndarray]:
        """Read these SKUs' rows from their shards now and return them, as
        :meth:`availability` would. Every row read is sent after the requests it
        answers arrived; one is in flight per shard at a time, and the requests
        arriving meanwhile share the next one (sent as soon as it returns), so the
        reads per shard stay under one per round trip however many refusals queue."""
        waits = []
        for sku in skus:
            shard = self.owner(sku)
            link = self._link(shard)
            if link.rows_read is None:
                link.rows_read = (set(), asyncio.get_running_loop().create_future())
                if not link.rows_reading:
                    asyncio.get_running_loop().call_soon(self._read_rows, link)
            link.rows_read[0].add(self._rows[shard][sku])
            waits.append(link.rows_read[1])
        await asyncio.gather(*{id(w): w for w in waits}.values())
        out = self.availability(skus)
        assert out is not None
        return out

    def _read_rows(self, link: Link) -> None:
        if link.rows_read is None or link.rows_reading:
            return
        rows, fut = link.rows_read
        link.rows_read = None
        link.rows_reading = True
        self.stats["row_reads"] += 1

        async def go() -> None:
            try:
                answer = await self.read(link.name, "avail", rows=np.array(sorted(rows)))
                view = self._view.get(link.name)
                if view is None:
                    await self.refresh_view(link.name)
                else:
                    view[answer["rows"]] = answer["avail"]
                fut.set_result(None)
            except BaseException as exc:  # noqa: BLE001 - every waiter must hear of it
                fut.set_exception(exc)
            finally:
                link.rows_reading = False
                if not self._closed:
                    self._read_rows(link)  # the requests that arrived meanwhile

        spawn(go())

    async def _refresh_views(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.view_refresh_s)
            self.metrics.queue_depth.set(self.queued)
            for name in list(self.layout.shards):
                if self.view_age_s(name) >= self.view_refresh_s:
                    try:
                        await self.refresh_view(name)
                    except (AllocatorError, OSError):
                        pass  # the shard is restarting: the next tick tries again

    async def read(self, shard: str, op: str, **args: Any) -> dict[str, Any]:
        """A read on the shard's data plane (``avail``, ``holds``), outside the batches."""
        fut = asyncio.get_running_loop().create_future()
        link = self._link(shard)
        req = {"op": op, **args}
        if link.writer is None:
            link.reads_waiting.append((req, fut))
            self._ensure_connected(link)
        else:
            self._write(link, req, Frame([], None, fut))
        return await fut
