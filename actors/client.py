"""AllocatorClient: batches requests per shard and resolves each caller's future.

* ``submit`` (one op) queues it for its shard; a flusher thread sends what gathered
  within ``window_ms`` (or ``max_batch`` ops) as **one call per shard**, with up to
  ``max_inflight`` batches in flight per shard (pipelining);
* ``hold_bulk`` takes arrays of single-line holds (high-volume callers, benchmarks)
  and splits them per shard with numpy, without a Python object per line;
* a resolver thread waits on the calls; a batch refused as *stale* (older epoch), an
  op answered *moved*, or a call lost to an actor restart is re-routed and retried
  with the same op ids (idempotent), a bounded number of times;
* the queue is bounded: past ``max_queue`` ops, :class:`Overloaded` (retry-after).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from actors import NAMESPACE
from actors.layout import Layout
from actors.metrics import ClientMetrics
from allocator.errors import AllocatorError, UnknownSku, UnknownWarehouse
from allocator.ops import Code, OpKind

COLUMNS = ("kind", "op_id", "hold_id", "arg", "line_start", "line_count", "l_cell", "l_qty")


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


@dataclass
class _Op:
    kind: int
    op_id: int
    hold_id: int
    arg: int
    lines: list[tuple[str, str, int]]
    shard: str | None  # fixed for ops on an existing hold; None: the SKU's owner
    future: Future
    attempts: int = 0


@dataclass
class _Sent:
    shard: str
    columns: dict[str, np.ndarray]
    on_answer: Callable[[dict[str, Any]], None]
    on_retry: Callable[[BaseException | None], None]
    ref: Any = None


@dataclass
class _Bulk:
    code: np.ndarray
    value: np.ndarray
    shard_of: np.ndarray
    future: Future
    left: int
    attempts: dict[int, int] = field(default_factory=dict)


class AllocatorClient:
    """Thread-safe; one per process is plenty."""

    def __init__(self, window_ms: float = 1.0, max_batch: int = 4096,
                 max_queue: int = 100_000, max_inflight: int = 4, max_attempts: int = 8,
                 namespace: str = NAMESPACE) -> None:
        self.window_s = window_ms / 1000
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.max_inflight = max_inflight
        self.max_attempts = max_attempts
        self.namespace = namespace
        self._directory = ray.get_actor("directory", namespace=namespace)
        self._cv = threading.Condition()
        self._queues: dict[str, list[_Op]] = defaultdict(list)
        self._ready: list[_Sent] = []  # built batches waiting for an in-flight slot
        self._queued = 0
        self._inflight: dict[str, int] = defaultdict(int)
        self._waiting: dict[Any, _Sent] = {}
        self._actors: dict[str, Any] = {}
        self._metrics = ClientMetrics()
        self._stopped = False
        self._refresh_lock = threading.Lock()
        self.refresh()
        self._threads = [threading.Thread(target=self._flush_loop, daemon=True),
                         threading.Thread(target=self._resolve_loop, daemon=True)]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ layout
    def refresh(self, min_epoch: int = 0) -> Layout:
        """Fetch the directory's layout (if ours is older than ``min_epoch`` or forced)."""
        with self._refresh_lock:
            if min_epoch and getattr(self, "layout", None) and self.layout.epoch > min_epoch:
                return self.layout
            layout = Layout.from_dict(ray.get(self._directory.get_layout.remote()))
            rows = {name: {s: i for i, s in enumerate(skus)} for name, skus in layout.shards.items()}
            if not hasattr(self, "sku_ids"):
                self.sku_ids = [s for n, skus in layout.shards.items() if n.startswith("shard-")
                                for s in skus]
                self._gidx = {s: i for i, s in enumerate(self.sku_ids)}
            names = sorted(layout.shards)
            owner = np.empty(len(self.sku_ids), np.int64)
            row = np.empty(len(self.sku_ids), np.int64)
            for i, sku in enumerate(self.sku_ids):
                name = layout.owner(sku)
                owner[i] = names.index(name)
                row[i] = rows[name][sku]
            self.layout, self._rows, self._wh = layout, rows, {
                w: j for j, w in enumerate(layout.warehouses)}
            self._names, self._owner, self._row = names, owner, row
            self._metrics.hot_skus.set(len(layout.hot))
            return layout

    def actor(self, name: str):
        handle = self._actors.get(name)
        if handle is None:
            handle = self._actors[name] = ray.get_actor(name, namespace=self.namespace)
        return handle

    def owner(self, sku: str) -> str:
        return self.layout.owner(sku)

    def check(self, sku: str, warehouse: str | None = None) -> int:
        """The SKU's index in :attr:`sku_ids`; UnknownSku / UnknownWarehouse if either
        is not in the layout."""
        idx = self._gidx.get(sku)
        if idx is None:
            raise UnknownSku(f"unknown SKU {sku!r}", sku=sku)
        if warehouse is not None and warehouse not in self._wh:
            raise UnknownWarehouse(f"unknown warehouse {warehouse!r}", warehouse=warehouse)
        return idx

    # ------------------------------------------------------------------ submit
    def submit(self, kind: OpKind, op_id: int, lines: Sequence[tuple[str, str, int]] = (),
               hold_id: int = -1, arg: int = 0, shard: str | None = None) -> Future:
        """Queue one op; its future resolves to a :class:`ShardResult`. All lines of a
        routed op must belong to one shard (see :meth:`split_by_shard`)."""
        fut: Future = Future()
        op = _Op(int(kind), int(op_id), int(hold_id), int(arg), list(lines), shard, fut)
        with self._cv:
            if self._queued >= self.max_queue:
                self._metrics.overloaded.inc()
                raise Overloaded("too many requests queued", retry_after_s=self._retry_after())
            self._enqueue(op)
            self._cv.notify_all()
        return fut

    def split_by_shard(self, lines: Sequence[tuple[str, str, int]]
                       ) -> dict[str, list[tuple[str, str, int]]]:
        out: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
        for line in lines:
            out[self.owner(line[0])].append(line)
        return dict(out)

    def _retry_after(self) -> float:
        return max(0.05, round(self._queued / 200_000, 3))

    def _enqueue(self, op: _Op) -> None:
        shard = op.shard or self.owner(op.lines[0][0])
        self._queues[shard].append(op)
        self._queued += 1

    def hold_bulk(self, sku_index: np.ndarray, wh_index: np.ndarray, qty: np.ndarray,
                  op_ids: np.ndarray, ttl_ms: int) -> Future:
        """Single-line holds as arrays (``sku_index`` into :attr:`sku_ids`, ``wh_index``
        into the layout's warehouses). The future gives ``{"code", "value", "shard"}``
        arrays, one row per input line (value = hold id on its shard)."""
        n = len(op_ids)
        with self._cv:
            if self._queued + n > self.max_queue * 4:
                raise Overloaded("too many requests queued", retry_after_s=self._retry_after())
        bulk = _Bulk(np.zeros(n, np.uint8), np.zeros(n, np.int64), np.zeros(n, np.int64),
                     Future(), n)
        arrays = (np.asarray(sku_index, np.int64), np.asarray(wh_index, np.int64),
                  np.asarray(qty, np.int64), np.asarray(op_ids, np.int64))
        self._send_bulk(bulk, np.arange(n), arrays, ttl_ms)
        return bulk.future

    def _send_bulk(self, bulk: _Bulk, pos: np.ndarray, arrays: tuple[np.ndarray, ...],
                   ttl_ms: int) -> None:
        gidx, wh, qty, ops = arrays
        owner = self._owner[gidx[pos]]
        order = np.argsort(owner, kind="stable")
        pos, owner = pos[order], owner[order]
        cuts = np.flatnonzero(np.diff(owner)) + 1
        built = []
        for part in np.split(pos, cuts):
            if not part.size:
                continue
            name = self._names[int(self._owner[gidx[part[0]]])]
            for s in range(0, len(part), self.max_batch):
                chunk = part[s:s + self.max_batch]
                cells = self._row[gidx[chunk]] * len(self._wh) + wh[chunk]
                m = len(chunk)
                cols = {"kind": np.full(m, OpKind.HOLD, np.uint8), "op_id": ops[chunk],
                        "hold_id": np.full(m, -1, np.int64), "arg": np.full(m, ttl_ms, np.int64),
                        "line_start": np.arange(m, dtype=np.int64),
                        "line_count": np.ones(m, np.int64), "l_cell": cells, "l_qty": qty[chunk]}
                built.append(self._bulk_sent(bulk, name, chunk, cols, arrays, ttl_ms))
        with self._cv:
            self._ready.extend(built)
            self._cv.notify_all()

    def _bulk_sent(self, bulk: _Bulk, name: str, chunk: np.ndarray, cols: dict,
                   arrays: tuple, ttl_ms: int) -> _Sent:
        def answer(out: dict[str, Any]) -> None:
            code = out["code"]
            moved = code == Code.MOVED
            done = chunk[~moved]
            bulk.code[done] = code[~moved]
            bulk.value[done] = out["value"][~moved]
            bulk.shard_of[done] = self._names.index(name)
            bulk.left -= len(done)
            if moved.any():
                retry(None, chunk[moved])
            elif bulk.left == 0:
                bulk.future.set_result({"code": bulk.code, "value": bulk.value,
                                        "shard": [self._names[i] for i in bulk.shard_of]})

        def retry(exc: BaseException | None, which: np.ndarray = chunk) -> None:
            tries = bulk.attempts.get(int(which[0]), 0) + 1
            if tries > self.max_attempts:
                if not bulk.future.done():
                    bulk.future.set_exception(Unavailable(f"shard {name} did not answer: {exc}"))
                return
            for p in which.tolist():
                bulk.attempts[p] = tries
            self._backoff(tries, exc)
            self._send_bulk(bulk, which, arrays, ttl_ms)

        return _Sent(name, cols, answer, retry)

    def _backoff(self, tries: int, exc: BaseException | None) -> None:
        if exc is not None:
            time.sleep(min(0.5, 0.02 * 2 ** tries))
        self.refresh(min_epoch=self.layout.epoch)

    # ------------------------------------------------------------------- flush
    def _flush_loop(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and not self._queued and not self._sendable():
                    self._cv.wait()
                if self._stopped:
                    return
                deadline = time.monotonic() + self.window_s
                while self._queued < self.max_batch and not self._ready:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._cv.wait(left)
                taken = {s: q for s, q in self._queues.items() if q}
                self._queues = defaultdict(list)
                self._queued = 0
                self._metrics.queue_depth.set(0)
            built = [self._ops_sent(shard, ops[s:s + self.max_batch])
                     for shard, ops in taken.items() for s in range(0, len(ops), self.max_batch)]
            with self._cv:
                self._ready.extend(built)
            self._dispatch()

    def _sendable(self) -> bool:
        return any(self._inflight[s.shard] < self.max_inflight for s in self._ready)

    def _dispatch(self) -> None:
        with self._cv:
            keep = []
            for sent in self._ready:
                if self._inflight[sent.shard] >= self.max_inflight:
                    keep.append(sent)
                    continue
                try:
                    sent.ref = self.actor(sent.shard).apply.remote(sent.columns,
                                                                    self.layout.epoch)
                except ValueError as exc:  # the actor is not there (yet)
                    threading.Thread(target=sent.on_retry, args=(exc,), daemon=True).start()
                    continue
                self._inflight[sent.shard] += 1
                self._waiting[sent.ref] = sent
            self._ready = keep
            self._cv.notify_all()

    def _ops_sent(self, shard: str, ops: list[_Op]) -> _Sent:
        nwh = len(self._wh)
        rows = self._rows.get(shard, {})
        starts, counts, cells, qtys = [], [], [], []
        for op in ops:
            starts.append(len(cells))
            counts.append(len(op.lines))
            for sku, wh, q in op.lines:
                cells.append(rows[sku] * nwh + self._wh[wh])
                qtys.append(q)
        cols = {"kind": np.array([o.kind for o in ops], np.uint8),
                "op_id": np.array([o.op_id for o in ops], np.int64),
                "hold_id": np.array([o.hold_id for o in ops], np.int64),
                "arg": np.array([o.arg for o in ops], np.int64),
                "line_start": np.array(starts, np.int64), "line_count": np.array(counts, np.int64),
                "l_cell": np.array(cells, np.int64), "l_qty": np.array(qtys, np.int64)}

        def answer(out: dict[str, Any]) -> None:
            again = []
            for i, op in enumerate(ops):
                code = Code(int(out["code"][i]))
                if code == Code.MOVED and op.shard is None:
                    again.append(op)
                    continue
                op.future.set_result(ShardResult(shard, code, int(out["value"][i]),
                                                 int(out["detail"][i]),
                                                 bool(out["replayed"][i]), int(out["now"])))
            if again:
                requeue(None, again)

        def requeue(exc: BaseException | None, which: list[_Op] = ops) -> None:
            live = []
            for op in which:
                op.attempts += 1
                if op.attempts > self.max_attempts:
                    op.future.set_exception(Unavailable(f"shard {shard} did not answer: {exc}"))
                else:
                    live.append(op)
            if not live:
                return
            self._backoff(max(o.attempts for o in live), exc)
            with self._cv:
                for op in live:
                    self._enqueue(op)
                self._cv.notify_all()

        return _Sent(shard, cols, answer, requeue)

    # ----------------------------------------------------------------- resolve
    def _resolve_loop(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and not self._waiting:
                    self._cv.wait(0.1)
                if self._stopped:
                    return
                refs = list(self._waiting)
            done, _ = ray.wait(refs, num_returns=1, timeout=0.1)
            if done:
                more, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
                done = list({*done, *more})
            for ref in done:
                with self._cv:
                    sent = self._waiting.pop(ref)
                    self._inflight[sent.shard] -= 1
                    self._cv.notify_all()
                try:
                    out = ray.get(ref)
                except (RayActorError, RayTaskError, GetTimeoutError) as exc:
                    self._actors.pop(sent.shard, None)
                    threading.Thread(target=sent.on_retry, args=(exc,), daemon=True).start()
                    continue
                if out.get("stale"):
                    threading.Thread(target=sent.on_retry, args=(None,), daemon=True).start()
                    continue
                sent.on_answer(out)
            self._dispatch()

    def close(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify_all()
        for t in self._threads:
            t.join(timeout=2)
