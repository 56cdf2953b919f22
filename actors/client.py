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
endpoint. :class:`BlockingClient` wraps a ShardClient on a private loop for
synchronous callers (tools, tests, benchmarks).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Sequence

import numpy as np
import ray

from actors.layout import Layout
from actors.wire import HEADER, frame
from allocator.aio import spawn
from allocator.codec import unpack
from allocator.config import DEFAULT_PREFIX, namespace_for
from allocator.errors import AllocatorError, UnknownSku, UnknownWarehouse
from allocator.ops import Code, Line, OpKind


class Overloaded(AllocatorError):
    """Too many requests queued; retry after ``retry_after_s``."""

    code = "overloaded"


class Unavailable(AllocatorError):
    """A shard could not answer (restarting, or Redis down) after every retry."""

    code = "unavailable"


@dataclass(frozen=True)
class ShardResult:
    """One op's answer, with the shard that gave it."""

    shard: str
    code: Code
    value: int
    detail: int
    replayed: bool
    now_ms: int

    @property
    def ok(self) -> bool:
        return self.code == Code.OK


@dataclass(frozen=True)
class OpLimits:
    """Anti-scalping limits of a hold (see :class:`allocator.ops.OpBatch`)."""

    customer: int = 0
    owner: int = 0
    share_bp: int = 0
    caps: tuple[int, ...] = ()  # per line; empty = none


NO_LIMITS = OpLimits()


@dataclass
class _Op:
    kind: int
    op_id: int
    hold_id: int
    arg: int
    lines: Sequence[Line]
    limits: OpLimits
    shard: str | None  # fixed for ops on an existing hold; None: the SKU's owner
    future: asyncio.Future
    attempts: int = 0


@dataclass
class _Bulk:
    """A bulk hold in progress: results land in these arrays by input position."""

    gidx: np.ndarray
    wh: np.ndarray
    qty: np.ndarray
    op_id: np.ndarray
    ttl_ms: int
    code: np.ndarray
    value: np.ndarray
    shard_of: np.ndarray  # index into names
    names: list[str]
    left: int
    future: asyncio.Future
    attempts: int = 0


@dataclass
class _Chunk:
    bulk: _Bulk
    pos: np.ndarray  # input positions in this frame


@dataclass
class _Frame:
    ops: list[_Op]
    chunk: _Chunk | None
    future: asyncio.Future | None = None  # reads (avail)


@dataclass
class _Link:
    """One shard: its queue, its connection and what is in flight on it."""

    name: str
    queue: list[_Op] = field(default_factory=list)
    chunks: deque = field(default_factory=deque)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    inflight: deque = field(default_factory=deque)  # _Frame, in send order
    connecting: asyncio.Task | None = None
    view_read: asyncio.Future | None = None
    rows_read: tuple[set, asyncio.Future] | None = None  # rows asked this loop turn
    reads_waiting: list = field(default_factory=list)  # view reads before connecting
    kick_pending: bool = False
    failures: int = 0


class ShardClient:
    """One per process and event loop. Create with :meth:`connect`."""

    def __init__(self, token: bytes, namespace: str = namespace_for(DEFAULT_PREFIX), max_batch: int = 8192,
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
        self.stats = {"frames": 0, "ops": 0, "reconnects": 0, "resends": 0, "view_reads": 0}
        self._links: dict[str, _Link] = {}
        self._actors: dict[str, Any] = {}
        self._view: dict[str, np.ndarray] = {}
        self._view_at: dict[str, float] = {}
        self._ids = itertools.count(1)
        self._layout_task: asyncio.Task | None = None
        self._background: asyncio.Task | None = None
        self._closed = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self._directory = ray.get_actor("directory", namespace=namespace)

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

    def owner(self, sku: str) -> str:
        return self.layout.owner(sku)

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

    async def _read_view(self, link: _Link) -> None:
        self.stats["view_reads"] += 1
        answer = await self.read(link.name, "avail")
        self._view[link.name] = answer["avail"]
        self._view_at[link.name] = time.monotonic()

    async def fresh(self, skus: Sequence[str]) -> dict[str, np.ndarray]:
        """Read these SKUs' rows from their shards now (requests in one turn of the loop
        share one read per shard) and return them, as :meth:`availability` would."""
        waits = []
        for sku in skus:
            shard = self.owner(sku)
            link = self._link(shard)
            if link.rows_read is None:
                link.rows_read = (set(), asyncio.get_running_loop().create_future())
                asyncio.get_running_loop().call_soon(self._read_rows, link)
            link.rows_read[0].add(self._rows[shard][sku])
            waits.append(link.rows_read[1])
        await asyncio.gather(*{id(w): w for w in waits}.values())
        out = self.availability(skus)
        assert out is not None
        return out

    def _read_rows(self, link: _Link) -> None:
        assert link.rows_read is not None
        rows, fut = link.rows_read
        link.rows_read = None

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

        spawn(go())

    async def _refresh_views(self) -> None:
        while not self._closed:
            await asyncio.sleep(self.view_refresh_s)
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
            self._write(link, req, _Frame([], None, fut))
        return await fut

    # ------------------------------------------------------------------ submit
    def submit(self, kind: OpKind, op_id: int, lines: Sequence[Line] = (), hold_id: int = -1,
               arg: int = 0, shard: str | None = None, limits: OpLimits = NO_LIMITS
               ) -> asyncio.Future:
        """Queue one op; the future resolves to its :class:`ShardResult`. All lines of
        an op without a fixed ``shard`` must belong to one shard (see
        :meth:`split_by_shard`)."""
        if self.queued >= self.max_queue:
            raise Overloaded("too many requests queued", retry_after_s=self._retry_after())
        fut = asyncio.get_running_loop().create_future()
        self._enqueue(_Op(int(kind), int(op_id), int(hold_id), int(arg), lines, limits,
                          shard, fut))
        return fut

    def _retry_after(self) -> float:
        return max(0.05, round(self.queued / 200_000, 3))

    def _enqueue(self, op: _Op) -> None:
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
            raise Overloaded("too many requests queued", retry_after_s=self._retry_after())
        bulk = _Bulk(np.asarray(gidx, np.int64), np.asarray(wh, np.int64),
                     np.asarray(qty, np.int64), np.asarray(op_ids, np.int64), int(ttl_ms),
                     np.zeros(n, np.uint8), np.zeros(n, np.int64), np.zeros(n, np.int64),
                     [], n, asyncio.get_running_loop().create_future())
        if n == 0:
            return {"code": bulk.code, "value": bulk.value, "shard": bulk.shard_of, "names": []}
        self._split_bulk(bulk, np.arange(n))
        return await bulk.future

    def _split_bulk(self, bulk: _Bulk, pos: np.ndarray) -> None:
        owner = self._owner[bulk.gidx[pos]]
        order = np.argsort(owner, kind="stable")
        pos, owner = pos[order], owner[order]
        cuts = np.flatnonzero(np.diff(owner)) + 1
        for part in np.split(pos, cuts):
            if not part.size:
                continue
            link = self._link(self.names[int(self._owner[bulk.gidx[part[0]]])])
            for s in range(0, len(part), self.max_batch):
                link.chunks.append(_Chunk(bulk, part[s:s + self.max_batch]))
                self.queued += len(part[s:s + self.max_batch])
            self._schedule(link)

    # ------------------------------------------------------------------- flush
    def _link(self, name: str) -> _Link:
        link = self._links.get(name)
        if link is None:
            link = self._links[name] = _Link(name)
        return link

    def _schedule(self, link: _Link) -> None:
        if not link.kick_pending:
            link.kick_pending = True
            asyncio.get_running_loop().call_soon(self._kick, link)

    def _kick(self, link: _Link) -> None:
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
                                   "cols": self._chunk_columns(link.name, chunk)},
                            _Frame([], chunk))
            else:
                ops, link.queue = link.queue[:self.max_batch], link.queue[self.max_batch:]
                self.queued -= len(ops)
                try:
                    cols = self._op_columns(link.name, ops)
                except KeyError:  # an op routed with an older layout
                    self._misrouted(link, ops)
                    continue
                self._write(link, {"op": "apply", "epoch": self.layout.epoch, "cols": cols},
                            _Frame(ops, None))

    def _misrouted(self, link: _Link, ops: list[_Op]) -> None:
        """Ops this shard cannot take: those whose SKU now lives elsewhere go there; the
        rest (a line naming something the layout does not know) fail, never loop."""
        for op in ops:
            try:
                self._op_columns(link.name, [op])
            except KeyError:
                if op.shard is None and op.lines and self.owner(op.lines[0][0]) != link.name:
                    self._enqueue(op)
                elif not op.future.done():
                    op.future.set_exception(AllocatorError(
                        f"op {op.op_id} names a SKU or warehouse shard {link.name} lacks"))
                continue
            link.queue.append(op)  # fine on its own: goes in the next frame
            self.queued += 1

    def _write(self, link: _Link, req: dict[str, Any], fr: _Frame) -> None:
        req["id"] = next(self._ids)
        link.inflight.append(fr)
        self.stats["frames"] += 1
        self.stats["ops"] += len(fr.ops) + (len(fr.chunk.pos) if fr.chunk else 0)
        assert link.writer is not None
        link.writer.write(frame(req))

    def _op_columns(self, shard: str, ops: list[_Op]) -> dict[str, np.ndarray]:
        nwh = len(self.warehouses)
        rows, whs = self._rows[shard], self.wh_index
        starts, counts, cells, qtys, caps = [], [], [], [], []
        limited = False
        for op in ops:
            starts.append(len(cells))
            counts.append(len(op.lines))
            for sku, wh, q in op.lines:
                cells.append(rows[sku] * nwh + whs[wh])
                qtys.append(q)
            if op.limits is not NO_LIMITS:
                limited = True
                caps.extend(op.limits.caps or [0] * len(op.lines))
            else:
                caps.extend([0] * len(op.lines))
        cols = {"kind": np.array([o.kind for o in ops], np.uint8),
                "op_id": np.array([o.op_id for o in ops], np.int64),
                "hold_id": np.array([o.hold_id for o in ops], np.int64),
                "arg": np.array([o.arg for o in ops], np.int64),
                "line_start": np.array(starts, np.int64),
                "line_count": np.array(counts, np.int64),
                "l_cell": np.array(cells, np.int64), "l_qty": np.array(qtys, np.int64)}
        if limited:
            cols["customer"] = np.array([o.limits.customer for o in ops], np.int64)
            cols["owner"] = np.array([o.limits.owner for o in ops], np.int64)
            cols["share_bp"] = np.array([o.limits.share_bp for o in ops], np.int64)
            cols["l_cap"] = np.array(caps, np.int64)
        return cols

    def _chunk_columns(self, shard: str, chunk: _Chunk) -> dict[str, np.ndarray]:
        b, pos = chunk.bulk, chunk.pos
        m = len(pos)
        return {"kind": np.full(m, OpKind.HOLD, np.uint8), "op_id": b.op_id[pos],
                "hold_id": np.full(m, -1, np.int64), "arg": np.full(m, b.ttl_ms, np.int64),
                "line_start": np.arange(m, dtype=np.int64), "line_count": np.ones(m, np.int64),
                "l_cell": self._row[b.gidx[pos]] * len(self.warehouses) + b.wh[pos],
                "l_qty": b.qty[pos]}

    # ------------------------------------------------------------- connections
    def _ensure_connected(self, link: _Link) -> None:
        if link.connecting is None or link.connecting.done():
            link.connecting = spawn(self._connect(link))

    async def _connect(self, link: _Link) -> None:
        while not self._closed:
            try:
                host, port = await self.actor(link.name).endpoint.remote()
                reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
                writer.write(frame({"op": "hello", "id": 0, "token": self.token}))
                hello = await _read_frame(reader)
                if hello is None or not hello.get("ok"):
                    raise ConnectionError(f"shard {link.name} refused the wire token")
            except (OSError, ConnectionError, ray.exceptions.RayError, ValueError) as exc:
                self._actors.pop(link.name, None)
                link.failures += 1
                if link.failures > self.max_attempts:
                    self._fail_link(link, Unavailable(f"shard {link.name} is unreachable: {exc}"))
                    link.failures = 0
                    return
                await asyncio.sleep(min(0.5, 0.02 * 2 ** link.failures))
                continue
            link.reader, link.writer = reader, writer
            link.failures = 0
            self.stats["reconnects"] += 1
            spawn(self._read_answers(link, reader))
            for req, fut in link.reads_waiting:
                self._write(link, req, _Frame([], None, fut))
            link.reads_waiting = []
            self._kick(link)
            return

    def _fail_link(self, link: _Link, exc: AllocatorError | None) -> None:
        """Answer every op waiting on this link with ``exc`` (None: cancel them)."""
        waiting = list(link.inflight)
        link.inflight.clear()
        ops = link.queue + [op for fr in waiting for op in fr.ops]
        link.queue = []
        chunks = list(link.chunks) + [fr.chunk for fr in waiting if fr.chunk is not None]
        link.chunks.clear()
        reads = [fr.future for fr in waiting if fr.future is not None]
        reads += [fut for _, fut in link.reads_waiting]
        link.reads_waiting = []
        for fut in [op.future for op in ops] + [c.bulk.future for c in chunks] + reads:
            if fut.done():
                continue
            if exc is None:
                fut.cancel()
            else:
                fut.set_exception(exc)
        self.queued = sum(len(lk.queue) + sum(len(c.pos) for c in lk.chunks)
                          for lk in self._links.values())

    async def _read_answers(self, link: _Link, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                answer = await _read_frame(reader)
                if answer is None:
                    break
                fr = link.inflight.popleft()
                self._answered(link, fr, answer)
                if link.queue or link.chunks:
                    self._kick(link)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        if link.reader is reader:  # lost: resend what was in flight once reconnected
            link.reader = link.writer = None
            lost = list(link.inflight)
            link.inflight.clear()
            self._actors.pop(link.name, None)
            for fr in lost:
                self._retry(link, fr, backoff=True)
            if not self._closed:
                self._ensure_connected(link)

    # ----------------------------------------------------------------- answers
    def _answered(self, link: _Link, fr: _Frame, answer: dict[str, Any]) -> None:
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
            self._retry(link, _Frame(again, None), backoff=False, layout=True)

    def _answer_chunk(self, link: _Link, chunk: _Chunk, code: np.ndarray,
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
            self._retry(link, _Frame([], _Chunk(bulk, chunk.pos[moved])), backoff=False,
                        layout=True)
        elif bulk.left == 0 and not bulk.future.done():
            bulk.future.set_result({"code": bulk.code, "value": bulk.value,
                                    "shard": bulk.shard_of, "names": bulk.names})

    def _retry(self, link: _Link, fr: _Frame, backoff: bool, layout: bool = False,
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

    def _reroute(self, ops: list[_Op]) -> None:
        for op in ops:
            self._enqueue(op)


async def _read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (n,) = HEADER.unpack(head)
    return unpack(await reader.readexactly(n))


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
               arg: int = 0, shard: str | None = None, limits: OpLimits = NO_LIMITS
               ) -> concurrent.futures.Future:
        async def go() -> ShardResult:
            return await self.client.submit(kind, op_id, lines, hold_id, arg, shard, limits)
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

