"""Helpers shared by integration and e2e tests: the service layer driven from sync
test code, stock reads summed over shards, audits."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Awaitable, Sequence

import ray

from allocator.config import Keys
from allocator.ops import OpKind
from service.bootstrap import ServiceConfig, connect
from service.orders import Caller, HoldRequest
from service.ids import op_id
from service.reservation import Reservation


class SyncServices:
    """The API process's services on a private event loop, called synchronously."""

    def __init__(self, redis_url: str, hold_ttl_s: float = 60.0, keys: Keys = Keys(),
                 **checkout: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.services = self.run(connect(ServiceConfig(redis_url, keys=keys, hold_ttl_s=hold_ttl_s,
                                                       checkout=checkout)))
        self.checkout = self.services.checkout

    def run(self, coro: Awaitable[Any], timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def _reserve(self, req: HoldRequest, key: str, owner: str) -> Reservation:
        out = self.run(self.checkout.reserve(req, Caller(owner), key, f"fp:{req}"))
        if out.error is not None:
            raise out.error
        return out.value

    def hold(self, lines: Sequence[tuple[str, str, int]], key: str, owner: str = "k",
             ttl_ms: int | None = None, customer: str | None = None) -> Reservation:
        return self._reserve(HoldRequest(lines=tuple(lines), ttl_ms=ttl_ms,
                                         customer=customer), key, owner)

    def reserve(self, order: Any, key: str, owner: str = "k",
                ttl_ms: int | None = None) -> Reservation:
        return self._reserve(HoldRequest(order=order, ttl_ms=ttl_ms), key, owner)

    def commit(self, rid: str, owner: str = "k") -> Reservation:
        return self.run(self.checkout.commit(rid, owner))

    def release(self, rid: str, owner: str = "k") -> Reservation:
        return self.run(self.checkout.release(rid, owner))

    def get(self, rid: str, owner: str | None = "k") -> Reservation:
        return self.run(self.checkout.get(rid, owner))

    def close(self) -> None:
        try:
            self.run(self.services.close(), timeout=10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)


def restock(client: Any, sku: str, wh: str, qty: int) -> None:
    res = client.submit(OpKind.RESTOCK, op_id("restock", sku, wh, time.time_ns()),
                        [(sku, wh, qty)]).result(30)
    assert res.ok, res


def stock_of(cluster: Any, client: Any, sku: str) -> dict[str, dict[str, int]]:
    """Per warehouse on_hand/held/committed summed over every shard that has the SKU."""
    total: dict[str, dict[str, int]] = {}
    for name, skus in client.refresh().shards.items():
        if sku in skus:
            for wh, row in call_when_up(cluster, name, "stock", sku).items():
                t = total.setdefault(wh, {"on_hand": 0, "held": 0, "committed": 0})
                for k in t:
                    t[k] += row[k]
    return total


def call_when_up(cluster: Any, shard: str, method: str, *args: Any,
                 timeout_s: float = 30.0) -> Any:
    """Call a shard method, waiting out a restart in progress."""
    deadline = time.time() + timeout_s
    while True:
        try:
            return ray.get(getattr(cluster.shard(shard), method).remote(*args), timeout=5)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError, ValueError):
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def wait_restarted(cluster: Any, shard: str, started: float, timeout_s: float = 60.0) -> None:
    """Wait until ``shard`` answers from a new incarnation (a ``ray.kill`` takes effect
    a moment later: the old one may still answer the first ping)."""
    deadline = time.time() + timeout_s
    while call_when_up(cluster, shard, "ping", timeout_s=timeout_s)["started"] <= started:
        assert time.time() < deadline, f"shard {shard} did not restart"
        time.sleep(0.05)


def assert_audit_clean(cluster: Any) -> None:
    report = cluster.audit()
    assert report["ok"], report
    assert report["oversold_units"] == 0
