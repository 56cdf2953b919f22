"""Directory: the named actor that owns the layout (SKU → shard, epoch), creates the
shard actors, and isolates hot SKUs on their own actors at run time.

Hot-SKU isolation (see docs/ARCHITECTURE.md#hot-skus): a hot SKU gets a dedicated
actor ``hot-<sku>``. The move bumps the epoch, closes the SKU for new holds on its
base shard (stale batches are refused there), transfers the SKU's *available* units
with idempotent journaled transfer ops, then publishes the new layout. Holds already
taken stay on the base shard and finish there; units they free later are drained to
the hot actor by the directory's background loop.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import msgpack
import numpy as np
import ray

from actors.layout import Layout, base_layout, hot_shard_name
from actors.shard import ShardActor
from allocator.catalog import Catalog
from allocator.config import DEFAULT_PREFIX, Keys, namespace_for
from allocator.ops import BatchBuilder, Code, op_key
from storage.redis import connect


def _columns(builder: BatchBuilder) -> dict[str, np.ndarray]:
    return builder.build(0).to_columns()


def await_actors(actors: list[Any], timeout_s: float = 60.0, pause_s: float = 0.2
                 ) -> list[Any]:
    """Wait until every actor answers a ping; their answers. An actor Ray is restarting
    (its process died) is waited for, up to ``timeout_s``; one that is dead for good
    raises at once. (A directory starting while a shard restarts must wait for it.)"""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return ray.get([a.ping.remote() for a in actors])
        except ray.exceptions.ActorUnavailableError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(pause_s)


@ray.remote(max_restarts=-1, max_task_retries=-1, num_cpus=0)
class Directory:
    def __init__(self, n_shards: int, redis_url: str, shard_config: dict[str, Any],
                 hot_min_rate: float = 0.0, max_hot: int = 4, poll_s: float = 1.0,
                 prefix: str = DEFAULT_PREFIX, shard_cpus: float = 0.0,
                 shard_resource: str = "") -> None:
        """The catalog is read from Redis (``{prefix}:catalog``, written by the cluster),
        so constructor args stay small and a restart needs nothing from the object store.

        Placement: shards are SPREAD over the nodes that can take them — every node, or
        with ``shard_resource`` only nodes started with that custom resource, one unit
        per shard (so its amount caps shards per node). A shard whose node dies is
        restarted by Ray on another such node and recovers from Redis."""
        self.redis = connect(redis_url)
        self.redis_url = redis_url
        self.prefix = prefix
        self.key = Keys(prefix).directory
        self.shard_cpus = shard_cpus
        self.shard_resources = {shard_resource: 1.0} if shard_resource else None
        self.shard_config = shard_config
        self.hot_min_rate = hot_min_rate  # 0 disables automatic promotion
        self.max_hot = max_hot
        self.lock = threading.RLock()
        raw = self.redis.get(self.key)
        if raw:
            state = msgpack.unpackb(raw, raw=False)
            self.layout = Layout.from_dict(state["layout"])
            self.pinned: list[str] = state["pinned"]
            self.seeded = bool(state["seeded"])
            self.moves = int(state.get("moves", 0))
        else:
            catalog = Catalog.from_dict(json.loads(self.redis.get(Keys(prefix).catalog)))
            self.layout = base_layout(catalog.sku_ids, catalog.warehouse_ids, n_shards)
            self.pinned, self.seeded, self.moves = [], False, 0
        self._save()
        self.actors = {name: self._actor(name) for name in self.layout.shards}
        await_actors(list(self.actors.values()))
        for sku in list(self.layout.hot):  # finish a move a crash may have cut short
            self._drain(sku)
        self._save()
        self._stop = threading.Event()
        threading.Thread(target=self._loop, args=(poll_s,), daemon=True).start()

    def _actor(self, name: str):
        return ShardActor.options(name=name, namespace=namespace_for(self.prefix), get_if_exists=True,
                                  max_concurrency=1, num_cpus=self.shard_cpus,
                                  lifetime="detached",  # not fate-shared with the directory
                                  resources=self.shard_resources,
                                  scheduling_strategy="SPREAD").remote(
            name, self.redis_url, self.shard_config, prefix=self.prefix)

    def _save(self) -> None:
        self.redis.set(self.key, msgpack.packb({
            "layout": self.layout.to_dict(), "pinned": self.pinned, "seeded": self.seeded,
            "moves": self.moves}, use_bin_type=True))

    # ------------------------------------------------------------------ reads
    def get_layout(self) -> dict[str, Any]:
        with self.lock:
            return self.layout.to_dict()

    def shard_names(self) -> list[str]:
        with self.lock:
            return list(self.layout.shards)

    def hot(self) -> dict[str, Any]:
        with self.lock:
            return {"hot": dict(self.layout.hot), "pinned": list(self.pinned),
                    "epoch": self.layout.epoch}

    # ------------------------------------------------------------------ stock
    def seed(self, stock: dict[str, list[int]], force: bool = False) -> bool:
        """Deliver initial stock (sku -> units per warehouse) once; False if already."""
        with self.lock:
            if self.seeded and not force:
                return False
            refs = []
            for name, skus in self.layout.shards.items():
                qty = np.array([stock.get(s, [0] * len(self.layout.warehouses)) for s in skus],
                               np.int64).reshape(-1)
                if qty.any():
                    refs.append(self.actors[name].receive_stock.remote(qty))
            ray.get(refs)
            self.seeded = True
            self._save()
            return True

    # -------------------------------------------------------------- hot SKUs
    def pin(self, skus: list[str]) -> dict[str, Any]:
        """Ops: isolate these SKUs now (before a sale) and keep them isolated."""
        for sku in skus:
            self.promote(sku)
            with self.lock:
                if sku not in self.pinned:
                    self.pinned.append(sku)
                    self._save()
        return self.hot()

    def promote(self, sku: str) -> str:
        """Move ``sku`` to its own actor without stopping traffic; returns its shard."""
        with self.lock:
            layout = self.layout
            if sku in layout.hot:
                return layout.hot[sku]
            source = layout.owner(sku)
            if sku not in layout.shards.get(source, []):
                raise ValueError(f"unknown SKU {sku!r}")
            name = hot_shard_name(sku)
            layout.shards[name] = [sku]
            self._save()  # the new shard reads its SKUs from the saved layout
            actor = self._actor(name)
            self.actors[name] = actor
            rules = ray.get(self.actors[source].channel_view.remote(sku, []))["rules"]
            if rules:  # the SKU's channel rules go with it (its counts start afresh)
                ray.get(actor.set_channel_rules.remote([[sku, *r] for r in rules]))
            layout.epoch += 1
            epoch = layout.epoch
            ray.get(actor.set_accepting.remote(sku, True, epoch))
            ray.get(self.actors[source].set_accepting.remote(sku, False, epoch))
            layout.hot[sku] = name
            self._save()
            self._drain(sku)
            return name

    def _drain(self, sku: str) -> int:
        """Move every available unit of a hot SKU left on its base shard to its actor."""
        layout = self.layout
        target = layout.hot[sku]
        source = next(n for n, skus in layout.shards.items() if sku in skus and n != target)
        src, dst = self.actors[source], self.actors[target]
        avail = ray.get(src.available.remote([sku])).get(sku, [])
        moved = 0
        for j, qty in enumerate(avail):
            if qty <= 0:
                continue
            self.moves += 1
            self._save()  # the move id is durable before the move is tried
            key = f"move:{sku}:{self.moves}"
            row = layout.shards[source].index(sku)
            out_cell = row * len(layout.warehouses) + j
            out = ray.get(src.apply.remote(
                _columns(BatchBuilder().transfer(op_key(key + ":out"), out_cell, qty, out=True)),
                layout.epoch))
            if out.get("stale") or int(out["code"][0]) != Code.OK:
                continue  # taken meanwhile: the next drain tries again
            ray.get(dst.apply.remote(
                _columns(BatchBuilder().transfer(op_key(key + ":in"), j, qty, out=False)),
                layout.epoch))
            moved += qty
        return moved

    def _loop(self, poll_s: float) -> None:
        while not self._stop.wait(poll_s):
            try:
                with self.lock:
                    for sku in list(self.layout.hot):
                        self._drain(sku)
                if self.hot_min_rate > 0:
                    self._auto_promote()
            except Exception:  # noqa: BLE001 - a shard restarting; next tick retries
                time.sleep(poll_s)

    def _auto_promote(self) -> None:
        with self.lock:
            if len(self.layout.hot) >= self.max_hot:
                return
            bases = [n for n in self.layout.shards if n.startswith("shard-")]
        rates = ray.get([self.actors[n].hot_skus.remote(self.hot_min_rate) for n in bases])
        candidates = sorted((r for rs in rates for r in rs), key=lambda x: -x[1])
        for sku, _rate in candidates:
            with self.lock:
                if len(self.layout.hot) >= self.max_hot:
                    return
            self.promote(sku)
