"""What the shard client holds while ops travel, and how it encodes them: results and
errors, limits, queued ops, bulk holds and their chunks, frames in flight, one link
per shard; the wire columns of a frame."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from allocator.errors import AllocatorError
from allocator.ops import PARAM_FIELDS, Code, Line, OpKind


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
    """Anti-scalping limits and the sales channel of a hold (see
    :class:`allocator.ops.OpBatch`)."""

    customer: int = 0
    owner: int = 0
    share_bp: int = 0
    caps: tuple[int, ...] = ()  # per line; empty = none
    channel: int = 0


NO_LIMITS = OpLimits()


@dataclass
class QueuedOp:
    kind: int
    op_id: int
    hold_id: int
    lines: Sequence[Line]
    limits: OpLimits
    shard: str | None  # fixed for ops on an existing hold; None: the SKU's owner
    future: asyncio.Future
    ttl_ms: int = 0  # the op's parameter: see allocator.ops.PARAM_OF
    version: int = 0
    state: int = 0
    attempts: int = 0


@dataclass
class BulkHold:
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
class Chunk:
    bulk: BulkHold
    pos: np.ndarray  # input positions in this frame


@dataclass
class Frame:
    ops: list[QueuedOp]
    chunk: Chunk | None
    future: asyncio.Future | None = None  # reads (avail)


@dataclass
class Link:
    """One shard: its queue, its connection and what is in flight on it."""

    name: str
    queue: list[QueuedOp] = field(default_factory=list)
    chunks: deque = field(default_factory=deque)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    inflight: deque = field(default_factory=deque)  # Frame, in send order
    connecting: asyncio.Task | None = None
    view_read: asyncio.Future | None = None
    rows_read: tuple[set, asyncio.Future] | None = None  # rows asked, not yet sent
    rows_reading: bool = False  # a row read is in flight (the next one waits for it)
    reads_waiting: list = field(default_factory=list)  # view reads before connecting
    kick_pending: bool = False
    failures: int = 0


def op_columns(ops: list[QueuedOp], rows: dict[str, int], whs: dict[str, int],
           nwh: int) -> dict[str, np.ndarray]:
    """The wire columns (:meth:`allocator.ops.OpBatch.to_columns` form) of queued ops,
    ``rows``: SKU → row on their shard, ``whs``: warehouse → column."""
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
            "line_start": np.array(starts, np.int64),
            "line_count": np.array(counts, np.int64),
            "l_cell": np.array(cells, np.int64), "l_qty": np.array(qtys, np.int64)}
    for name in PARAM_FIELDS:  # a parameter column travels when some op sets it
        values = [getattr(o, name) for o in ops]
        if any(values):
            cols[name] = np.array(values, np.int64)
    if limited:
        cols["customer"] = np.array([o.limits.customer for o in ops], np.int64)
        cols["owner"] = np.array([o.limits.owner for o in ops], np.int64)
        cols["share_bp"] = np.array([o.limits.share_bp for o in ops], np.int64)
        cols["l_cap"] = np.array(caps, np.int64)
        channel = cols["channel"] = np.array([o.limits.channel for o in ops], np.int64)
        if not channel.any():
            del cols["channel"]
    return cols

def chunk_columns(chunk: Chunk, row: np.ndarray, nwh: int) -> dict[str, np.ndarray]:
    """The wire columns of a bulk chunk; ``row``: SKU index → row on its shard."""
    b, pos = chunk.bulk, chunk.pos
    m = len(pos)
    return {"kind": np.full(m, OpKind.HOLD, np.uint8), "op_id": b.op_id[pos],
            "hold_id": np.full(m, -1, np.int64), "ttl_ms": np.full(m, b.ttl_ms, np.int64),
            "line_start": np.arange(m, dtype=np.int64), "line_count": np.ones(m, np.int64),
            "l_cell": row[b.gidx[pos]] * nwh + b.wh[pos],
            "l_qty": b.qty[pos]}
