"""The allocator as the API sees it: one object wiring client, reservations, router,
inventory and kill switch, connected to a running cluster (Ray + Redis)."""

from __future__ import annotations

import json
import os
import signal
from typing import Any

import ray

from actors import NAMESPACE
from actors.client import AllocatorClient
from actors.inventory import Inventory, KillSwitch
from actors.reservations import Reservation, Reservations
from actors.routed import RoutedPlanner
from allocator.catalog import Catalog
from allocator.errors import AllocatorError, InvalidRequest
from allocator.storage import connect
from api.models import OrderIn, ReserveIn
from api.problems import Problem
from routing import Network, Order, Plan, demo_network


def order_of(body: OrderIn) -> Order:
    """The routing order for a request body (validated again by :class:`Order`)."""
    if body.destination is None:
        raise InvalidRequest("destination: a pincode is needed to route the order")
    data = body.model_dump(exclude_none=True, exclude={"ttl_s", "key"})
    data["lines"] = [{"sku": l.sku, "qty": l.qty} for l in body.lines]
    return Order.from_dict(data)


def pre_routed_lines(body: OrderIn) -> list[tuple[str, str, int]]:
    if not all(line.warehouse for line in body.lines):
        raise InvalidRequest("lines: either every line names a warehouse (pre-routed) or none")
    return [(l.sku, str(l.warehouse), l.qty) for l in body.lines]


class Service:
    """Connects to the cluster named by ``redis_url`` (Ray must be initialised)."""

    def __init__(self, redis_url: str, prefix: str = "alloc", hold_ttl_ms: int = 600_000,
                 network: Network | None = None) -> None:
        self.redis = connect(redis_url)
        raw = self.redis.get(f"{prefix}:catalog")
        if raw is None:
            raise AllocatorError("no catalog in Redis: start the cluster with 'allocator serve'")
        self.catalog = Catalog.from_dict(json.loads(raw))
        self.network = network or _network_from_env()
        self.client = AllocatorClient(window_ms=1.0)
        self.planner = RoutedPlanner(self.network, self.catalog)
        self.reservations = Reservations(self.client, redis_url, hold_ttl_ms=hold_ttl_ms,
                                         prefix=prefix, planner=self.planner)
        self.inventory = Inventory(self.client)
        self.kill = KillSwitch(self.redis, prefix)
        self.directory = ray.get_actor("directory", namespace=NAMESPACE)

    def close(self) -> None:
        self.client.close()

    # ------------------------------------------------------------- checkout
    def quote(self, body: OrderIn) -> Plan:
        return self.planner.quote(order_of(body), self.reservations.available)

    def reserve(self, body: ReserveIn, key: str, owner: str, check_kill: bool = True
                ) -> Reservation:
        """Route + hold (or hold a pre-routed order); ``check_kill=False`` when the
        caller already checked the kill switch (the batch endpoint)."""
        ttl_ms = None if body.ttl_s is None else int(body.ttl_s * 1000)
        if check_kill:
            blocked = self.kill.blocked([line.sku for line in body.lines])
            if blocked:
                raise Problem("kill_switch", "reservations are switched off" + (
                    "" if blocked == ["*"] else f" for {', '.join(blocked)}"), skus=blocked)
        if body.pre_routed:
            return self.reservations.hold(pre_routed_lines(body), key, owner, ttl_ms)
        return self.reservations.reserve(order_of(body), key, owner, ttl_ms)

    # ------------------------------------------------------------------ ops
    def shards(self) -> list[dict[str, Any]]:
        names = ray.get(self.directory.shard_names.remote())
        refs = {n: self.client.actor(n).info.remote() for n in names}
        out = []
        for name, ref in refs.items():
            try:
                out.append(ray.get(ref, timeout=5))
            except (ray.exceptions.RayError, TimeoutError) as exc:
                out.append({"name": name, "skus": 0, "ready": False, "error": type(exc).__name__})
        return out

    def hot(self) -> dict[str, Any]:
        return ray.get(self.directory.hot.remote())

    def pin(self, skus: list[str]) -> dict[str, Any]:
        for sku in skus:
            self.catalog.sku(sku)  # UnknownSku before anything moves
        out = ray.get(self.directory.pin.remote(skus))
        self.client.refresh()
        return out

    def ready(self) -> dict[str, bool]:
        checks = {"redis": False, "ray": False}
        try:
            checks["redis"] = bool(self.redis.ping())
        except Exception:  # noqa: BLE001 - any failure means not ready
            pass
        try:
            ray.get(self.directory.shard_names.remote(), timeout=2)
            checks["ray"] = True
        except Exception:  # noqa: BLE001
            pass
        return checks


def _network_from_env() -> Network:
    path = os.environ.get("ALLOCATOR_NETWORK")
    return Network.load(path) if path else demo_network()


def connect_ray(address: str) -> None:
    """Join the running cluster as a driver (idempotent)."""
    if not ray.is_initialized():
        keep = signal.getsignal(signal.SIGTERM)  # ray.init replaces the server's handler
        ray.init(address=address, namespace=NAMESPACE, logging_level="ERROR",
                 log_to_driver=False)
        if keep is not None:
            signal.signal(signal.SIGTERM, keep)
