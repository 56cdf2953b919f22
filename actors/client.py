"""ShardClient: batches ops per shard on the event loop and answers each caller.

* ``submit`` (one op) returns an asyncio future of its :class:`ShardResult`. Ops queued
  in one turn of the event loop, or while the shard's previous frames are in flight
  (at most ``max_inflight``), travel together as **one frame per shard** on the
  shard's data-plane socket (:mod:`actors.wire`): under load batches grow by
  themselves, idle they leave at once (group commit, no timer);
* ``hold_bulk`` takes arrays of single-line holds and splits them per shard with
  numpy, without a Python object per line;
* every answer refreshes the client's **availability view** of the cells it touched;
  ``availability`` reads the view (no I/O) and ``refresh_view`` reads whole shards,
  coalesced (one read per shard however many callers wait), also every
  ``view_refresh_s`` in the background;
* a batch refused as *stale* (older layout epoch), an op answered *moved*, a shard
  answering *unavailable* or a lost connection (actor restart) re-route and resend
  with the same op ids (idempotent), a bounded number of times, then
  :class:`Unavailable`;
* the queue is bounded: past ``max_queue`` ops, :class:`Overloaded` (retry-after).

Ray carries only control calls here: the directory's layout and each shard's
endpoint. :class:`~actors.blocking.BlockingClient` wraps a ShardClient on a private
loop for synchronous callers (tools, tests, benchmarks). The parts: what travels
(:mod:`actors.pending`), the availability view (:mod:`actors.views`), the sockets
(:mod:`actors.links`).
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any, Sequence

import numpy as np
import ray

from actors.layout import Layout
from actors.links import Connections
from actors.metrics import ClientMetrics
from actors.pending import (
    NO_LIMITS, BulkHold, Chunk, Frame, Link, OpLimits, Overloaded, QueuedOp, ShardResult,
    Unavailable, chunk_columns, op_columns,
)
from actors.views import AvailabilityViews
from allocator.aio import spawn
from allocator.config import DEFAULT_PREFIX, namespace_for
from allocator.errors import AllocatorError, UnknownSku, UnknownWarehouse
from allocator.ops import Code, Line, OpKind


class ShardClient(AvailabilityViews, Connections):
    """One per process and event loop. Create with :meth:`connect`."""

    def __init__(self, token: bytes, namespace: str = namespace_for(DEFAULT_PREFIX),
                 max_batch: int = 8192,
                 max_queue: int = 200_000, max_inflight: int = 1, max_attempts: int = 8,
                 view_refresh_s: float = 0.25) -> None:
        self.token = token
        self.namespace = namespace
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.max_inflight = max_inflight
        self.max_attempts = max_attempts
        self.view_refresh_s = view_refresh_s
        self.queued = 0
        self.stats = {"frames": 0, "ops": 0, "reconnects": 0, "resends": 0, "view_reads": 0,
                      "row_reads": 0}
        self._links: dict[str, Link] = {}
        self._actors: dict[str, Any] = {}
        self._view: dict[str, np.ndarray] = {}
        self._view_at: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._layout_task: asyncio.Task | None = None
        self._background: asyncio.Task | None = None
        self._closed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._directory = ray.get_actor("directory", namespace=namespace)
        self.metrics = ClientMetrics()  # queue depth, overloads, hot SKUs (Ray metrics)

    @classmethod
    async def connect(cls, token: bytes, **kwargs: Any) -> "ShardClient":
        client = cls(token, **kwargs)
        client.loop = asyncio.get_running_loop()
        await client.refresh()
        await asyncio.gather(*(client.refresh_view(n) for n in client.layout.shards))
        if client.view_refresh_s > 0:
            client._background = spawn(client._refresh_views())
        return client

    async def close(self) -> None:
        """Stop: connections closed, whatever still waits on them cancelled."""
        self._closed = True
        if self._background is not None:
            self._background.cancel()
        for link in self._links.values():
            if link.writer is not None:
                link.writer.close()
            for task in (link.connecting, link.view_read):
                if task is not None:
                    task.cancel()
            self._fail_link(link, None)

    # ------------------------------------------------------------------ layout
    async def refresh(self, min_epoch: int = 0) -> Layout:
        """Fetch the directory's layout (coalesced; skipped if ours is newer than
        ``min_epoch``)."""
        if min_epoch and self.layout.epoch > min_epoch:
            return self.layout
        if self._layout_task is None or self._layout_task.done():
            self._layout_task = spawn(self._fetch_layout())
        return await asyncio.shield(self._layout_task)

    async def _fetch_layout(self) -> Layout:
        layout = Layout.from_dict(await self._directory.get_layout.remote())
        self._install(layout)
        return layout

    def _install(self, layout: Layout) -> None:
        rows = {name: {s: i for i, s in enumerate(skus)} for name, skus in layout.shards.items()}
        if not hasattr(self, "sku_ids"):
            self.sku_ids = [s for n, skus in layout.shards.items() if n.startswith("shard-")
                            for s in skus]
            self.sku_index = {s: i for i, s in enumerate(self.sku_ids)}
            self.warehouses = list(layout.warehouses)
            self.wh_index = {w: j for j, w in enumerate(self.warehouses)}
        names = sorted(layout.shards)
        owner_of = [layout.owner(s) for s in self.sku_ids]
        self._owner = np.array([names.index(n) for n in owner_of], np.int64)
        self._row = np.array([rows[n][s] for n, s in zip(owner_of, self.sku_ids)], np.int64)
        self.layout, self._rows, self.names = layout, rows, names
        self._owners = dict(zip(self.sku_ids, owner_of))
        self.metrics.hot_skus.set(len(layout.hot))

    def owner(self, sku: str) -> str:
        """The shard taking ``sku``'s holds under the installed layout (looked up: the
        hot path asks several times a request)."""
        owner = self._owners.get(sku)
        return owner if owner is not None else self.layout.owner(sku)

    def check(self, sku: str, warehouse: str | None = None) -> int:
        """The SKU's index in :attr:`sku_ids`; UnknownSku / UnknownWarehouse if either
        is not in the layout."""
        idx = self.sku_index.get(sku)
        if idx is None:
            raise UnknownSku(f"unknown SKU {sku!r}", sku=sku)
        if warehouse is not None and warehouse not in self.wh_index:
            raise UnknownWarehouse(f"unknown warehouse {warehouse!r}", warehouse=warehouse)
        return idx

    def split_by_shard(self, lines: Sequence[Line]) -> dict[str, list[Line]]:
        """The lines grouped by the shard that takes their SKU's holds now."""
        out: dict[str, list[Line]] = {}
        for line in lines:
            out.setdefault(self.owner(line[0]), []).append(line)
        return out

    def actor(self, name: str) -> Any:
        handle = self._actors.get(name)
        if handle is None:
            handle = self._actors[name] = ray.get_actor(name, namespace=self.namespace)
        return handle

    # -------------------------------------------------------------------- view
    # ------------------------------------------------------------------ submit
    def submit(self, kind: OpKind, op_id: int, lines: Sequence[Line] = (), hold_id: int = -1,
               *, ttl_ms: int = 0, version: int = 0, state: int = 0,
               shard: str | None = None, limits: OpLimits = NO_LIMITS) -> asyncio.Future:
        """Queue one op; the future resolves to its :class:`ShardResult`. ``ttl_ms``,
        ``version``, ``state``: the op's parameter, the one its kind reads (see
        :data:`allocator.ops.PARAM_OF`). All lines of an op without a fixed ``shard``
        must belong to one shard (see :meth:`split_by_shard`)."""
        if self.queued >= self.max_queue:
            self.metrics.overloaded.inc()
            raise Overloaded("too many requests queued", retry_after_s=self._retry_after())
        fut = asyncio.get_running_loop().create_future()
        self._enqueue(QueuedOp(int(kind), int(op_id), int(hold_id), lines, limits, shard, fut,
                               int(ttl_ms), int(version), int(state)))
        return fut

    def _retry_after(self) -> float:
        return max(0.05, round(self.queued / 200_000, 3))

    def _enqueue(self, op: QueuedOp) -> None:
        link = self._link(op.shard or self.owner(op.lines[0][0]))
        link.queue.append(op)
        self.queued += 1
        self._schedule(link)

    async def hold_bulk(self, gidx: np.ndarray, wh: np.ndarray, qty: np.ndarray,
                        op_ids: np.ndarray, ttl_ms: int) -> dict[str, Any]:
        """Single-line holds as arrays (``gidx`` into :attr:`sku_ids`, ``wh`` into
        :attr:`warehouses`). Returns ``{"code", "value", "shard"}``: one row per input
        line (value = hold id on its shard, shard = index into ``names``) and
        ``names``, the shard names."""
        n = len(op_ids)
        if self.queued + n > self.max_queue * 4:
            self.metrics.overloaded.inc()
            raise Overloaded("too many requests queued", retry_after_s=self._retry_after())
        bulk = BulkHold(np.asarray(gidx, np.int64), np.asarray(wh, np.int64),
                     np.asarray(qty, np.int64), np.asarray(op_ids, np.int64), int(ttl_ms),
                     np.zeros(n, np.uint8), np.zeros(n, np.int64), np.zeros(n, np.int64),
                     [], n, asyncio.get_running_loop().create_future())
        if n == 0:
            return {"code": bulk.code, "value": bulk.value, "shard": bulk.shard_of, "names": []}
        self._split_bulk(bulk, np.arange(n))
        return await bulk.future

    def _split_bulk(self, bulk: BulkHold, pos: np.ndarray) -> None:
        owner = self._owner[bulk.gidx[pos]]
        order = np.argsort(owner, kind="stable")
        pos, owner = pos[order], owner[order]
        cuts = np.flatnonzero(np.diff(owner)) + 1
        for part in np.split(pos, cuts):
            if not part.size:
                continue
            link = self._link(self.names[int(self._owner[bulk.gidx[part[0]]])])
            for s in range(0, len(part), self.max_batch):
                link.chunks.append(Chunk(bulk, part[s:s + self.max_batch]))
                self.queued += len(part[s:s + self.max_batch])
            self._schedule(link)

    # ------------------------------------------------------------------- flush
    def _schedule(self, link: Link) -> None:
        if not link.kick_pending:
            link.kick_pending = True
            asyncio.get_running_loop().call_soon(self._kick, link)

    def _kick(self, link: Link) -> None:
        """Send what is queued for the shard while it has room in flight."""
        link.kick_pending = False
        if link.writer is None:
            if link.queue or link.chunks:
                self._ensure_connected(link)
            return
        while len(link.inflight) < self.max_inflight and (link.queue or link.chunks):
            if link.chunks:
                chunk = link.chunks.popleft()
                self.queued -= len(chunk.pos)
                self._write(link, {"op": "apply", "epoch": self.layout.epoch,
                                   "cols": chunk_columns(chunk, self._row, len(self.warehouses))},
                            Frame([], chunk))
            else:
                ops, link.queue = link.queue[:self.max_batch], link.queue[self.max_batch:]
                self.queued -= len(ops)
                try:
                    cols = op_columns(ops, self._rows[link.name], self.wh_index, len(self.warehouses))
                except KeyError:  # an op routed with an older layout
                    self._misrouted(link, ops)
                    continue
                self._write(link, {"op": "apply", "epoch": self.layout.epoch, "cols": cols},
                            Frame(ops, None))

    def _misrouted(self, link: Link, ops: list[QueuedOp]) -> None:
        """Ops this shard cannot take: those whose SKU now lives elsewhere go there; the
        rest (a line naming something the layout does not know) fail, never loop."""
        for op in ops:
            try:
                op_columns([op], self._rows[link.name], self.wh_index, len(self.warehouses))
            except KeyError:
                if op.shard is None and op.lines and self.owner(op.lines[0][0]) != link.name:
                    self._enqueue(op)
                elif not op.future.done():
                    op.future.set_exception(AllocatorError(
                        f"op {op.op_id} names a SKU or warehouse shard {link.name} lacks"))
                continue
            link.queue.append(op)  # fine on its own: goes in the next frame
            self.queued += 1

    # ----------------------------------------------------------------- answers
    def _answered(self, link: Link, fr: Frame, answer: dict[str, Any]) -> None:
        if fr.future is not None:  # a read
            if fr.future.done():
                return
            if "error" in answer:
                fr.future.set_exception(Unavailable(f"shard {link.name}: "
                                                    f"{answer.get('message', 'read failed')}"))
            else:
                fr.future.set_result(answer)
            return
        if "error" in answer:
            self._retry(link, fr, backoff=True, why=answer.get("message", answer["error"]))
            return
        if answer.get("stale"):
            self._retry(link, fr, backoff=False, layout=True)
            return
        cells = answer.get("cells")
        view = self._view.get(link.name)
        if cells is not None and view is not None and len(cells):
            view.reshape(-1)[cells] = answer["avail"]
        code, value = answer["code"], answer["value"]
        if fr.chunk is not None:
            self._answer_chunk(link, fr.chunk, code, value)
            return
        detail, replayed, now = answer["detail"], answer["replayed"], int(answer["now"])
        again = []
        for i, op in enumerate(fr.ops):
            c = int(code[i])
            if c == Code.MOVED and op.shard is None:
                again.append(op)
            elif not op.future.done():
                op.future.set_result(ShardResult(link.name, Code(c), int(value[i]),
                                                 int(detail[i]), bool(replayed[i]), now))
        if again:
            self._retry(link, Frame(again, None), backoff=False, layout=True)

    def _answer_chunk(self, link: Link, chunk: Chunk, code: np.ndarray,
                      value: np.ndarray) -> None:
        bulk = chunk.bulk
        moved = code == Code.MOVED
        done = chunk.pos[~moved]
        if link.name not in bulk.names:
            bulk.names.append(link.name)
        bulk.code[done] = code[~moved]
        bulk.value[done] = value[~moved]
        bulk.shard_of[done] = bulk.names.index(link.name)
        bulk.left -= len(done)
        if moved.any():
            self._retry(link, Frame([], Chunk(bulk, chunk.pos[moved])), backoff=False,
                        layout=True)
        elif bulk.left == 0 and not bulk.future.done():
            bulk.future.set_result({"code": bulk.code, "value": bulk.value,
                                    "shard": bulk.shard_of, "names": bulk.names})

    def _retry(self, link: Link, fr: Frame, backoff: bool, layout: bool = False,
               why: str = "connection lost") -> None:
        """Resend a frame's ops (same op ids) after an optional backoff and, when the
        layout moved, a refresh; give up after ``max_attempts``."""
        self.stats["resends"] += 1
        if fr.future is not None:
            if not fr.future.done():
                fr.future.set_exception(Unavailable(f"shard {link.name}: {why}"))
            return
        attempts = 1 + max([op.attempts for op in fr.ops] + (
            [fr.chunk.bulk.attempts] if fr.chunk else [0]))
        if attempts > self.max_attempts:
            exc = Unavailable(f"shard {link.name} did not answer: {why}")
            for op in fr.ops:
                if not op.future.done():
                    op.future.set_exception(exc)
            if fr.chunk is not None and not fr.chunk.bulk.future.done():
                fr.chunk.bulk.future.set_exception(exc)
            return
        for op in fr.ops:
            op.attempts = attempts
        if fr.chunk is not None:
            fr.chunk.bulk.attempts = attempts

        async def later() -> None:
            if backoff:
                await asyncio.sleep(min(0.5, 0.02 * 2 ** attempts))
            if layout:
                try:
                    await self.refresh(min_epoch=self.layout.epoch)
                except ray.exceptions.RayError:
                    pass
            self._reroute(fr.ops)
            if fr.chunk is not None:
                self._split_bulk(fr.chunk.bulk, fr.chunk.pos)

        spawn(later())

    def _reroute(self, ops: list[QueuedOp]) -> None:
        for op in ops:
            self._enqueue(op)
