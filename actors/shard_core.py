"""ShardCore: one shard's ledger made durable — journal before answer, snapshots,
recovery, expiry sweeps, demand counting and the events outbox. No Ray here: the
actor (``actors/shard.py``) is a thin wrapper, so all of this is testable directly.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from actors.shard_events import EventPublisher
from actors.shard_channels import ShardChannels
from actors.shard_counts import BatchCounts, ShardCounting
from allocator.errors import StorageUnavailable, UnknownHold
from allocator.ledger import Ledger
from allocator.ops import BatchResult, Code, OpBatch, OpKind
from storage.journal import EventLog, Journal, stream_id_min


def _available_at(ledger: Ledger, cells: np.ndarray) -> np.ndarray:
    """Available units of some cells (not the whole shard's: it may hold millions)."""
    return ledger.on_hand[cells] - ledger.held[cells] - ledger.committed[cells]


def _unique_cells(cells: np.ndarray) -> np.ndarray:
    """``np.unique(cells)``; a short integer column through a set (np.unique's Python
    layers cost more than the sort on a handful of cells)."""
    if len(cells) < 32 and cells.dtype.kind in "iu":
        return np.array(sorted(set(cells.tolist())), cells.dtype)
    return np.unique(cells)


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class ShardConfig:
    low_stock_threshold: int = 5
    snapshot_every_records: int = 2000  # at least this many records between snapshots
    # ... and at least this much replay work (the time batches took to apply since the
    # last snapshot) per second the last snapshot took: a big shard snapshots less often
    snapshot_work_ratio: float = 1.0
    demand_window_s: int = 10
    capacity: int = 1 << 16
    events: bool = True
    max_events_per_publish: int = 20_000
    bulk_events_over: int = 16  # a record with more changes becomes one "bulk" event
    # Retention: idempotency records and finished holds older than this are forgotten
    # (ALLOCATOR_IDEMPOTENCY_RETENTION_S), checked every retention_every_ms.
    retention_ms: int = 24 * 3600 * 1000
    retention_every_ms: int = 60_000
    # A journal record is acknowledged once this many replicas have it (Redis WAIT;
    # ALLOCATOR_JOURNAL_REPLICAS): 0 on one server, 1 behind Sentinel.
    journal_replicas: int = 0
    journal_replica_wait_ms: int = 1000


class ShardUnavailable(StorageUnavailable):
    """The shard could not journal (or recover): it answers nothing until it can."""

    code = "shard_unavailable"


class ShardCore(EventPublisher, ShardChannels, ShardCounting):
    """A durable ledger. Every public method is thread-safe (one lock)."""

    def __init__(self, name: str, sku_ids: list[str], warehouse_ids: list[str],
                 journal: Journal, events: EventLog | None, config: ShardConfig,
                 clock: Callable[[], int] = now_ms) -> None:
        self.name = name
        self.sku_ids = list(sku_ids)
        self.warehouse_ids = list(warehouse_ids)
        self.journal = journal
        self.events = events if config.events else None
        self.config = config
        self.clock = clock
        self.lock = threading.RLock()
        self.epoch = 0
        self.ledger: Ledger | None = None
        self.last_id = "0-0"
        self.records_since_snapshot = 0
        self.work_since_snapshot_s = 0.0  # applying batches: what a replay would redo
        self.last_snapshot_s = 0.0
        self.outbox: deque[tuple[str, dict]] = deque()
        self.demand = np.zeros((config.demand_window_s, len(self.sku_ids)), np.int64)
        self.demand_slot = 0
        self.last_forget: int | None = None  # clock of the last retention pass
        self.background_snapshots = False  # True: snapshot_if_due() takes them (the actor)
        self.snapshot_due = False
        self._snapshot_lock = threading.Lock()
        self.stats = {"batches": 0, "holds_ok": 0, "holds_refused": 0, "replays": 0,
                      "recoveries": 0, "journal_ms": 0.0}
        self.recover()

    # ------------------------------------------------------------------ recovery
    def recover(self) -> float:
        """Rebuild the ledger from the latest snapshot plus the journal tail; returns
        seconds taken. Raises :class:`StorageUnavailable` while Redis is down."""
        t0 = time.perf_counter()
        with self.lock:
            self.ledger = None
            self.last_forget = None
            snap, entries = self.journal.load()
            if snap is None:
                ledger = Ledger(self.sku_ids, self.warehouse_ids, capacity=self.config.capacity)
            else:
                ledger = Ledger.from_snapshot(snap, capacity=self.config.capacity)
                self.epoch = int(snap.get("epoch", 0))
                last_forget = snap.get("last_forget", -1)
                self.last_forget = None if last_forget < 0 else int(last_forget)
            last = "0-0"
            for entry_id, record in entries:
                self._replay(ledger, record)
                last = entry_id
            self.ledger = ledger
            if last != "0-0":
                self.last_id = last
            self.stats["recoveries"] += 1
            if self.events is not None:
                self._load_unpublished()
        return time.perf_counter() - t0

    def _replay(self, ledger: Ledger, record: dict[str, Any]) -> None:
        kind = record["t"]
        if kind == "b":
            batch = OpBatch.from_columns(record, record["now"])
            got = ledger.apply(batch)
            if not np.array_equal(got.code, record["code"]):
                raise RuntimeError(f"{self.name}: journal replay diverged")  # a bug, loudly
        elif kind == "x":
            ledger.expire(int(record["now"]))
        elif kind == "stock":
            ledger.receive_stock(record["qty"])
        elif kind == "accept":
            ledger.set_accepting(record["sku"], bool(record["on"]))
            self.epoch = max(self.epoch, int(record["epoch"]))
        elif kind == "chan":
            ledger.load_channel_rules(record["rules"])
        elif kind == "forget":
            ledger.forget_before(int(record["before"]))
            self.last_forget = int(record["now"])
        else:
            raise RuntimeError(f"{self.name}: unknown journal record {kind!r}")

    def _ready(self) -> Ledger:
        if self.ledger is None:
            try:
                self.recover()
            except StorageUnavailable as exc:
                raise ShardUnavailable(f"shard {self.name} is recovering: {exc.message}") from None
        assert self.ledger is not None
        return self.ledger

    def _journal(self, record: dict[str, Any]) -> str:
        """Append a record; on failure drop the in-memory state (it holds a change that
        is not durable) so the next call rebuilds it from Redis, and refuse."""
        t0 = time.perf_counter()
        try:
            entry = self.journal.append(record)
        except StorageUnavailable as exc:
            self.ledger = None
            raise ShardUnavailable(f"shard {self.name}: {exc.message}") from None
        self.stats["journal_ms"] += (time.perf_counter() - t0) * 1000
        self.last_id = entry
        self.records_since_snapshot += 1
        if self.events is not None:
            self.outbox.append((entry, record))
        return entry

    # ------------------------------------------------------------------- writes
    def apply(self, columns: dict[str, np.ndarray], epoch: int) -> dict[str, Any]:
        """Apply one client batch (columns of an :class:`OpBatch`, stamped with this
        shard's clock), journal it, then answer. A batch routed with an older epoch is
        refused whole (``stale``) so the client refreshes its directory and retries."""
        return self.apply_counted(columns, epoch)[0]

    def apply_counted(self, columns: dict[str, np.ndarray], epoch: int
                      ) -> tuple[dict[str, Any], BatchCounts | None]:
        """:meth:`apply`, and the batch's counts for the metrics (None when stale)."""
        with self.lock:
            ledger = self._ready()
            if epoch < self.epoch:
                return {"stale": True, "epoch": self.epoch}, None
            now = self.clock()
            batch = OpBatch.from_columns(columns, now)
            cells = _unique_cells(batch.l_cell)
            cells = cells[(cells >= 0) & (cells < ledger.n_cells)]
            before = _available_at(ledger, cells)
            t0 = time.perf_counter()
            res = ledger.apply(batch)
            self.work_since_snapshot_s += time.perf_counter() - t0
            after = _available_at(ledger, cells)
            t = self.config.low_stock_threshold
            record = {"t": "b", "now": now, **batch.to_columns(),
                      "code": res.code, "value": res.value, "replayed": res.replayed,
                      "detail": res.detail, "low": cells[(before > t) & (after <= t)]}
            journal_ms = self.stats["journal_ms"]
            self._journal(record)
            journal_ms = self.stats["journal_ms"] - journal_ms
            accepted, refused = self._count(batch, res)
            self._maybe_snapshot(ledger)
            return ({"code": res.code, "value": res.value, "detail": res.detail,
                     "replayed": res.replayed, "epoch": self.epoch, "now": now,
                     "cells": cells, "avail": after},
                    BatchCounts(len(batch), accepted, refused, journal_ms))

    def expire_due(self) -> int:
        """The expiry sweep: expire due holds and journal it; returns how many. Also
        runs retention when it is due (:meth:`forget_due`)."""
        with self.lock:
            ledger = self._ready()
            now = self.clock()
            expired = np.zeros(0, np.int64)
            if ledger.has_due(now):
                expired = ledger.expire(now)
                self._journal({"t": "x", "now": now, "ids": expired})
                self._maybe_snapshot(ledger)
            self.forget_due()
            return len(expired)

    def forget_due(self, force: bool = False) -> dict[str, int] | None:
        """Retention, at most every ``retention_every_ms`` (or now with ``force``):
        forget idempotency records and compact finished holds older than
        ``retention_ms``. Journaled before it is applied, so replay forgets at the
        same point. Returns what was dropped, or None when not due."""
        with self.lock:
            ledger = self._ready()
            now = self.clock()
            if (not force and self.last_forget is not None
                    and now - self.last_forget < self.config.retention_every_ms):
                return None
            before = now - self.config.retention_ms
            self._journal({"t": "forget", "now": now, "before": before})
            self.last_forget = now
            dropped = ledger.forget_before(before)
            self._maybe_snapshot(ledger)
            return dropped

    def receive_stock(self, qty: np.ndarray) -> None:
        with self.lock:
            ledger = self._ready()
            ledger.receive_stock(qty)
            self._journal({"t": "stock", "qty": np.asarray(qty, np.int64)})

    def set_accepting(self, sku: str, on: bool, epoch: int) -> None:
        """Open or close a SKU for new holds here, at directory epoch ``epoch``."""
        with self.lock:
            ledger = self._ready()
            ledger.set_accepting(sku, on)
            self.epoch = max(self.epoch, epoch)
            self._journal({"t": "accept", "sku": sku, "on": on, "epoch": epoch})

    def _maybe_snapshot(self, ledger: Ledger) -> None:
        """Snapshot when enough has happened since the last one: ``snapshot_every_records``
        records, and replay work worth ``snapshot_work_ratio`` of what the last snapshot
        cost (copying a large ledger is not free; replaying a long tail is not either)."""
        if (self.records_since_snapshot >= self.config.snapshot_every_records
                and self.work_since_snapshot_s
                >= self.config.snapshot_work_ratio * self.last_snapshot_s):
            if self.background_snapshots:
                self.snapshot_due = True  # the actor's sweeper takes it, off the hot path
            else:
                self.snapshot()

    def snapshot_if_due(self) -> bool:
        """Take the snapshot :meth:`_maybe_snapshot` asked for, if any."""
        if not self.snapshot_due:
            return False
        self.snapshot()
        return True

    def snapshot(self) -> None:
        """Store the ledger's state and trim the journal below it. The state is copied
        under the lock; packing and writing it (tens of ms for a large shard) happen
        outside it, so batches keep flowing meanwhile."""
        t0 = time.perf_counter()
        with self._snapshot_lock:
            with self.lock:
                ledger = self._ready()
                snap = ledger.snapshot()
                snap["epoch"] = self.epoch
                snap["last_forget"] = -1 if self.last_forget is None else self.last_forget
                last = keep = self.last_id
                if self.events is not None:
                    keep = stream_id_min(keep, self.events.cursor(self.name))
                self.records_since_snapshot = 0
                self.work_since_snapshot_s = 0.0
                self.snapshot_due = False
            self.journal.save_snapshot(snap, last, keep)
            self.last_snapshot_s = time.perf_counter() - t0

    # -------------------------------------------------------------------- reads
    def available(self, skus: list[str]) -> dict[str, list[int]]:
        """Available units per warehouse (in ``warehouse_ids`` order) for known SKUs."""
        with self.lock:
            ledger = self._ready()
            avail = ledger.available.reshape(len(self.sku_ids), -1)
            out = {}
            for sku in skus:
                row = ledger._sku_row.get(sku)
                if row is not None:
                    out[sku] = avail[row].tolist()
            return out

    def available_all(self) -> dict[str, Any]:
        """Available units of every cell (rows × warehouses), for clients' views."""
        with self.lock:
            ledger = self._ready()
            return {"epoch": self.epoch, "now": self.clock(),
                    "avail": ledger.available.reshape(len(self.sku_ids), -1)}

    def available_rows(self, rows: np.ndarray) -> dict[str, Any]:
        """Available units of some SKU rows (rows × warehouses); unknown rows dropped."""
        with self.lock:
            ledger = self._ready()
            nwh = ledger.n_warehouses
            rows = np.asarray(rows, np.int64)
            rows = rows[(rows >= 0) & (rows < len(self.sku_ids))]
            cells = (rows[:, None] * nwh + np.arange(nwh)).reshape(-1)
            avail = ledger.on_hand[cells] - ledger.held[cells] - ledger.committed[cells]
            return {"epoch": self.epoch, "rows": rows, "avail": avail.reshape(-1, nwh)}

    def stock(self, sku: str) -> dict[str, dict[str, int]]:
        with self.lock:
            return self._ready().stock(sku)

    def holds(self, hold_ids: list[int]) -> list[dict[str, Any] | None]:
        with self.lock:
            ledger = self._ready()
            out: list[dict[str, Any] | None] = []
            for hid in hold_ids:
                try:
                    v = ledger.hold_view(hid)
                except UnknownHold:  # never taken here, or finished and compacted away
                    out.append(None)
                    continue
                out.append({"hold_id": hid, "state": v.state.name.lower(),
                            "created_ms": v.created_ms, "expires_ms": v.expires_ms,
                            "lines": [list(x) for x in v.lines],
                            "dropped": [list(x) for x in v.dropped or ()],
                            "version": v.version})
            return out

    def hot_skus(self, min_per_s: float) -> list[tuple[str, float]]:
        """SKUs whose hold demand over the window is at least ``min_per_s`` a second."""
        with self.lock:
            rate = self.demand.sum(axis=0) / self.config.demand_window_s
            idx = np.flatnonzero(rate >= min_per_s)
            return sorted(((self.sku_ids[i], float(rate[i])) for i in idx),
                          key=lambda x: -x[1])

    def totals(self) -> dict[str, int]:
        """Unit totals over every cell (for audits): on_hand, held, committed."""
        with self.lock:
            led = self._ready()
            return {"on_hand": int(led.on_hand.sum()), "held": int(led.held.sum()),
                    "committed": int(led.committed.sum()),
                    "negative_available": int((led.available < 0).sum())}

    def pending_expiries(self) -> list[int]:
        """Expiry (ms) of every pending hold (the rehearsal waits for them to pass)."""
        with self.lock:
            return self._ready().pending_expiries().tolist()

    def info(self) -> dict[str, Any]:
        with self.lock:
            led = self.ledger
            return {"name": self.name, "skus": len(self.sku_ids), "epoch": self.epoch,
                    "ready": led is not None,
                    "pending_holds": int(len(led.pending_holds())) if led else None,
                    "tables": led.sizes() if led else None,
                    "journal_last_id": self.last_id, "outbox": len(self.outbox),
                    **self.stats}
