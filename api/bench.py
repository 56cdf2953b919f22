"""``allocator bench api``: reserve → commit over HTTP against two baselines.

One run starts a local cluster (Ray, embedded Redis, directory, 2 shards), seeds
plenty of stock, then serves three uvicorn processes with the same settings (workers,
log level, default loop and HTTP parser):

* the allocator API (``api.app:create_app``), joined to that cluster;
* the echo baseline, :func:`echo_app`: one ``GET /echo`` returning a fixed JSON;
* the peer baseline, :func:`peer_app`: the flash-sale endpoint most teams write
  (async FastAPI, pydantic body and ``Header`` parameters, an idempotency ``SET NX``
  and one ``redis.asyncio`` EVALSHA check-and-decrement per request) on the same Redis.

The same load generator drives them all: ``clients`` processes, each an asyncio loop
(uvloop when installed) holding ``connections / clients`` keep-alive HTTP/1.1
connections with hand-written requests (closed loop: a connection sends its next
request when the last answer is in). After a warm-up, ``seconds`` of each kind of load
-- echo, peer, reserve → commit routed (the server plans the order), reserve → commit
pre-routed (the line names its warehouse) -- run interleaved in ``rounds`` slices, so
that every server sees the same machine; then a bulk phase posts ``batch_orders``
single-line rows per ``POST /v1/reservations/bulk``. A rate is per connection
(completions over the time from the common start to its last completion), summed.
The JSON also gives each server's CPU use (cores) and the generator's, so a saturated
client would show. With several ``workers`` counts the whole run repeats per count.

Keys (see also the ``definitions`` key of the result):

* ``echo_rps``, ``peer_rps``: requests/s of the baselines;
* ``reserve_rps`` (``pre_rps``): HTTP requests/s of the routed (pre-routed) reserve →
  commit mix, both requests counted; ``reserve_commit_tps`` is transactions/s;
* ``ratio`` = ``reserve_rps / echo_rps``; ``ratio_vs_peer_routed`` =
  ``reserve_rps / peer_rps``; ``ratio_vs_peer_pre`` = ``pre_rps / peer_rps``;
* ``p50_ms``/``p99_ms``: latency of ``POST /v1/reservations`` (routed) at that rate;
* ``batch_lines_per_s``: lines reserved per second through the bulk endpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from api.server import free_port, start_uvicorn, wait_until_ready

BENCH_KEY = "bench-key-123"
PINCODES = ("110001", "400001", "560001")
ECHO_PAYLOAD = {"status": "ok", "service": "echo", "items": [1, 2, 3]}


# --------------------------------------------------------------------- baseline app
def echo_app() -> Any:
    """The baseline: a bare FastAPI app with one endpoint returning a fixed JSON
    (``uvicorn --factory api.bench:echo_app``)."""
    from fastapi import FastAPI

    app = FastAPI(title="echo")

    @app.get("/echo")
    async def echo() -> dict[str, Any]:
        return ECHO_PAYLOAD

    @app.get("/echo-sync")
    def echo_sync() -> dict[str, Any]:
        """The same in a plain ``def`` (run in the threadpool, like the API's handlers)."""
        return ECHO_PAYLOAD

    return app


# ------------------------------------------------------------------------- peer app
PEER_CHECK_AND_DECREMENT = """
local left = tonumber(redis.call('GET', KEYS[1]) or '0')
local want = tonumber(ARGV[1])
if left < want then return -1 end
return redis.call('DECRBY', KEYS[1], want)
"""


def peer_stock_key(sku: str, warehouse: str) -> str:
    return f"peer:stock:{sku}:{warehouse}"


class PeerLine(BaseModel):
    sku: str
    qty: int
    warehouse: str


class PeerOrder(BaseModel):
    lines: list[PeerLine]


def peer_app() -> Any:
    """The peer baseline: what most teams build for a flash sale
    (``uvicorn --factory api.bench:peer_app``): an ``async def`` FastAPI endpoint, the
    body as a pydantic parameter and the key as a ``Header`` parameter, an idempotency
    ``SET NX`` and one ``redis.asyncio`` EVALSHA check-and-decrement per request, on
    the same Redis as the allocator (``REDIS_URL``)."""
    import redis.asyncio as aioredis
    from fastapi import FastAPI, Header, HTTPException

    app = FastAPI(title="peer")
    client = aioredis.from_url(os.environ["REDIS_URL"], max_connections=64)
    script = client.register_script(PEER_CHECK_AND_DECREMENT)

    @app.get("/echo")
    async def ready() -> dict[str, Any]:
        return ECHO_PAYLOAD

    @app.post("/v1/reservations", status_code=201)
    async def reserve(order: PeerOrder, idempotency_key: str = Header()) -> dict[str, Any]:
        if not await client.set(f"peer:idem:{idempotency_key}", "1", nx=True, ex=86400):
            raise HTTPException(409, "Idempotency-Key already used")
        line = order.lines[0]
        left = await script(keys=[peer_stock_key(line.sku, line.warehouse)], args=[line.qty])
        if int(left) < 0:
            raise HTTPException(409, "sold out")
        return {"id": idempotency_key, "state": "pending", "lines": [line.model_dump()]}

    return app


# ------------------------------------------------------------------- load generator
class _Conn(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with hand-written requests (a bare protocol:
    no stream reader, one future per request)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.need = -1
        self.status = 0
        self.waiter: asyncio.Future | None = None

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: self, self.host, self.port)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        self._parse()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc or ConnectionError("connection closed"))

    def _parse(self) -> None:
        if self.waiter is None:
            return
        if self.need < 0:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                return
            head = bytes(self.buf[:i + 2]).lower()
            self.status = int(head[9:12])
            j = head.find(b"\r\ncontent-length:")
            if j < 0:
                self.waiter.set_exception(RuntimeError("response without content-length"))
                self.waiter = None
                return
            self.need = int(head[j + 17:head.index(b"\r\n", j + 2)])
            del self.buf[:i + 4]
        if len(self.buf) >= self.need:
            body = bytes(self.buf[:self.need])
            del self.buf[:self.need]
            self.need = -1
            waiter, self.waiter = self.waiter, None
            waiter.set_result((self.status, body))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        if self.transport is None:
            await self.open()
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.transport = None


def _post(path: str, body: bytes, host: str, idem: str | None = None) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}\r\n"
            f"Authorization: Bearer {BENCH_KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n")
    if idem is not None:
        head += f"Idempotency-Key: {idem}\r\n"
    return head.encode() + b"\r\n" + body


_ID = re.compile(rb'"id":"(res_[0-9a-f]+)"')
_RESERVED = re.compile(rb'"reserved":(\d+)')


class _Stats:
    """Completions, latencies and errors of one generator process. Rates are per
    connection (completions / time from the common start to that connection's last
    completion), summed: every request started inside the window counts, and a long
    request (a batch) still in flight at the end is neither dropped nor stretched."""

    def __init__(self) -> None:
        self.count: dict[tuple[int, str], int] = {}
        self.lat: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}
        self.lines: dict[int, int] = {}
        self.last: dict[int, float] = {}

    def ok(self, conn: int, name: str, t0: float, t1: float) -> None:
        self.count[conn, name] = self.count.get((conn, name), 0) + 1
        self.lat.setdefault(name, []).append((t1 - t0) * 1e3)
        self.last[conn] = max(self.last.get(conn, t1), t1)

    def error(self, name: str, status: int | str) -> None:
        k = f"{name}:{status}"
        self.errors[k] = self.errors.get(k, 0) + 1

    def rates(self, start: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for (conn, name), n in self.count.items():
            out[name] = out.get(name, 0.0) + n / max(self.last[conn] - start, 1e-9)
        out["lines"] = sum(n / max(self.last[c] - start, 1e-9) for c, n in self.lines.items())
        return out


async def _run_conn(kind: str, p: dict[str, Any], c: int, stats: _Stats,
                    start: float, end: float) -> None:
    host, port = p["host"], p["port"]
    conn = _Conn(host, port)
    await conn.open()
    rng = random.Random(f"{p['seed']}:{c}")
    skus, whs = p["skus"], p["warehouses"]
    tag = f"{p['tag']}-{uuid.uuid4().hex[:12]}-{c}"
    echo_req = f"GET {p.get('echo_path', '/echo')} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    batch_bodies = p.get("batch_bodies") or []
    n = 0
    now = time.perf_counter
    try:
        while now() < start:
            await asyncio.sleep(min(0.01, max(0.0, start - now())))
        while now() < end:
            n += 1
            if kind == "echo":
                t0 = now()
                status, _ = await conn.request(echo_req)
                if status == 200:
                    stats.ok(c, "echo", t0, now())
                else:
                    stats.error("echo", status)
            elif kind in ("routed", "pre_routed"):
                sku = rng.choice(skus)
                if kind == "routed":
                    order = {"lines": [{"sku": sku, "qty": 1}],
                             "destination": rng.choice(PINCODES)}
                else:
                    order = {"lines": [{"sku": sku, "qty": 1, "warehouse": rng.choice(whs)}]}
                req = _post("/v1/reservations", json.dumps(order).encode(), host, f"{tag}-{n}")
                t0 = now()
                status, body = await conn.request(req)
                t1 = now()
                if status != 201:
                    stats.error("reserve", status)
                    continue
                stats.ok(c, "reserve", t0, t1)
                m = _ID.search(body)
                if m is None:
                    stats.error("reserve", "no-id")
                    continue
                req = _post(f"/v1/reservations/{m.group(1).decode()}/commit", b"", host)
                t1b = now()
                status, _ = await conn.request(req)
                t2 = now()
                if status != 200:
                    stats.error("commit", status)
                    continue
                stats.ok(c, "commit", t1b, t2)
                stats.ok(c, "txn", t0, t2)
            elif kind == "peer":
                order = {"lines": [{"sku": rng.choice(skus), "qty": 1,
                                    "warehouse": rng.choice(whs)}]}
                req = _post("/v1/reservations", json.dumps(order).encode(), host, f"{tag}-{n}")
                t0 = now()
                status, _ = await conn.request(req)
                if status == 201:
                    stats.ok(c, "peer", t0, now())
                else:
                    stats.error("peer", status)
            elif kind == "batch":
                body = batch_bodies[(c + n) % len(batch_bodies)]
                req = _post(p.get("batch_path", "/v1/reservations/bulk"), body, host,
                            f"{tag}-{n}")
                t0 = now()
                status, resp = await conn.request(req)
                t1 = now()
                m = _RESERVED.search(resp[:64]) if status == 200 else None
                if m is None:
                    stats.error("batch", status)
                    continue
                stats.ok(c, "batch", t0, t1)
                stats.lines[c] = stats.lines.get(c, 0) + int(m.group(1))
            else:
                raise ValueError(f"unknown load kind {kind!r}")
    finally:
        await conn.close()


def _gen_phase(kind: str, p: dict[str, Any], conns: int, start_wall: float,
               seconds: float) -> dict[str, Any]:
    """One generator process: ``conns`` connections from ``start_wall`` for ``seconds``."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        pass

    stats = _Stats()
    t: dict[str, float] = {}

    async def main() -> None:
        t["start"] = start = time.perf_counter() + max(0.0, start_wall - time.time())
        results = await asyncio.gather(
            *(_run_conn(kind, p, c, stats, start, start + seconds) for c in range(conns)),
            return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                stats.error(kind, type(r).__name__)

    cpu0 = time.process_time()
    asyncio.run(main())
    n: dict[str, int] = {}
    for (_, name), v in stats.count.items():
        n[name] = n.get(name, 0) + v
    return {"rates": stats.rates(t["start"]), "lat": stats.lat, "errors": stats.errors,
            "cpu_s": time.process_time() - cpu0, "n": n}


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return round(float(np.percentile(values, q)), 2)


def _proc_cpu_s(pid: int | None) -> float:
    """CPU seconds of a server process and its children (uvicorn workers)."""
    if pid is None:
        return 0.0
    try:
        import psutil

        proc = psutil.Process(pid)
        total = 0.0
        for p in [proc, *proc.children(recursive=True)]:
            ct = p.cpu_times()
            total += ct.user + ct.system
        return total
    except Exception:  # noqa: BLE001 - psutil missing or a process gone: no figure
        return 0.0


class _Generator:
    """``procs`` spawned processes sharing the connections of each phase."""

    def __init__(self, procs: int) -> None:
        self.procs = procs
        self.pool = ProcessPoolExecutor(procs, mp_context=get_context("spawn"))
        for f in [self.pool.submit(time.sleep, 0.2) for _ in range(procs)]:
            f.result(timeout=120)  # every process up and imported before the first phase

    def run(self, kind: str, p: dict[str, Any], connections: int, seconds: float,
            server_pid: int | None = None) -> dict[str, Any]:
        per = [connections // self.procs + (i < connections % self.procs)
               for i in range(self.procs)]
        start_wall = time.time() + 0.3
        futs = [self.pool.submit(_gen_phase, kind, dict(p, seed=f"{p['seed']}:{i}"), n,
                                 start_wall, seconds) for i, n in enumerate(per) if n]
        time.sleep(max(0.0, start_wall - time.time()))
        cpu0, t0 = _proc_cpu_s(server_pid), time.perf_counter()
        outs = [f.result(timeout=seconds + 300) for f in futs]
        cpu1, t1 = _proc_cpu_s(server_pid), time.perf_counter()
        return _merge([{"seconds": seconds, "rates": o["rates"], "n": o["n"], "lat": o["lat"],
                        "errors": o["errors"], "client_cpu_s": o["cpu_s"],
                        "server_cpu_s": 0.0, "wall_s": 0.0} for o in outs],
                      parallel=True) | {"server_cpu_s": cpu1 - cpu0, "wall_s": t1 - t0}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def _merge(parts: list[dict[str, Any]], parallel: bool = False) -> dict[str, Any]:
    """Merge figures of one kind of load: ``parallel`` parts (generator processes of one
    round) add their rates; sequential rounds average them, weighted by length.
    Latencies are pooled, counts, errors and CPU seconds added."""
    total = sum(r["seconds"] for r in parts) or 1.0
    out: dict[str, Any] = {"rates": {}, "n": {}, "lat": {}, "errors": {}, "client_cpu_s": 0.0,
                           "server_cpu_s": 0.0, "wall_s": 0.0,
                           "seconds": parts[0]["seconds"] if parallel else total,
                           "rounds": 1 if parallel else len(parts)}
    for r in parts:
        w = 1.0 if parallel else r["seconds"] / total
        for k, v in r["rates"].items():
            out["rates"][k] = out["rates"].get(k, 0.0) + v * w
        for k, v in r["n"].items():
            out["n"][k] = out["n"].get(k, 0) + v
        for k, v in r["lat"].items():
            out["lat"].setdefault(k, []).extend(v)
        for k, v in r["errors"].items():
            out["errors"][k] = out["errors"].get(k, 0) + v
        for k in ("client_cpu_s", "server_cpu_s", "wall_s"):
            out[k] += r[k]
    return out


# ------------------------------------------------------------------------ servers
def _stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def _bulk_bodies(skus: list[str], warehouses: list[str], n_orders: int, k: int = 4,
                 seed: int = 3) -> list[bytes]:
    """Columnar bodies for ``POST /v1/reservations/bulk``."""
    rng = random.Random(seed)
    return [json.dumps({"skus": [rng.choice(skus) for _ in range(n_orders)],
                        "warehouses": [rng.choice(warehouses) for _ in range(n_orders)],
                        "qty": [1] * n_orders}, separators=(",", ":")).encode()
            for _ in range(k)]


def _figures(phase: dict[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    """Rates, latencies and CPU use of one kind of load, for the JSON."""
    rates, lat = phase["rates"], phase["lat"]
    out: dict[str, Any] = {}
    for name in names:
        out[f"{name}_per_s"] = round(rates.get(name, 0.0), 1)
        out[f"{name}_p50_ms"] = _pct(lat.get(name, []), 50)
        out[f"{name}_p99_ms"] = _pct(lat.get(name, []), 99)
    wall = phase["wall_s"] or 1.0
    out.update(errors=phase["errors"], seconds=round(phase["seconds"], 2),
               rounds=phase["rounds"],
               server_cpu_cores=round(phase["server_cpu_s"] / wall, 2),
               client_cpu_cores=round(phase["client_cpu_s"] / wall, 2))
    return out


def _mix(phase: dict[str, Any], echo_rps: float) -> dict[str, Any]:
    """The reserve -> commit figures: HTTP requests/s (both requests), transactions/s."""
    f = _figures(phase, ("reserve", "commit", "txn"))
    rps = round(f["reserve_per_s"] + f["commit_per_s"], 1)
    return {"http_rps": rps, "reserve_commit_tps": f.pop("txn_per_s"),
            "ratio": round(rps / echo_rps, 4) if echo_rps else None,
            "reserve_p50_ms": f.pop("reserve_p50_ms"),
            "reserve_p99_ms": f.pop("reserve_p99_ms"),
            "commit_p50_ms": f.pop("commit_p50_ms"), "commit_p99_ms": f.pop("commit_p99_ms"),
            "txn_p50_ms": f.pop("txn_p50_ms"), "txn_p99_ms": f.pop("txn_p99_ms"),
            "reserve_requests": phase["n"].get("reserve", 0),
            "commit_requests": phase["n"].get("commit", 0),
            **{k: v for k, v in f.items() if not k.endswith("_per_s")}}


# -------------------------------------------------------------------------- bench
def _servers(env: dict[str, str], workers: int) -> dict[str, subprocess.Popen]:
    """The allocator API, the echo baseline and the peer baseline, same settings."""
    ports = {name: free_port() for name in ("api", "echo", "peer")}
    procs = {"api": start_uvicorn(ports["api"], env, workers=workers),
             "echo": start_uvicorn(ports["echo"], env, "api.bench:echo_app", workers),
             "peer": start_uvicorn(ports["peer"], env, "api.bench:peer_app", workers)}
    for name, proc in procs.items():
        proc.port = ports[name]  # type: ignore[attr-defined]
        wait_until_ready(f"http://127.0.0.1:{ports[name]}", proc, 120,
                         "/readyz" if name == "api" else "/echo")
    return procs


def _measure(gen: _Generator, procs: dict[str, subprocess.Popen], common: dict[str, Any],
             connections: int, seconds: float, rounds: int, warmup_s: float,
             kinds: tuple[str, ...], echo_path: str, tag: str) -> dict[str, Any]:
    """Interleaved rounds of each kind of load; their merged figures by kind."""
    server = {"echo": "echo", "peer": "peer", "routed": "api", "pre_routed": "api"}
    plan = [(kind, dict(common, port=procs[server[kind]].port,  # type: ignore[attr-defined]
                        tag=f"{tag}-{kind}", echo_path=echo_path), procs[server[kind]].pid)
            for kind in kinds]
    if warmup_s > 0:
        for kind, p, _ in plan:
            gen.run(kind, dict(p, tag=f"{p['tag']}-warm"), connections, warmup_s)
    slices: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for r in range(rounds):
        for kind, p, pid in plan:
            slices[kind].append(gen.run(kind, dict(p, tag=f"{p['tag']}{r}"), connections,
                                        seconds / rounds, server_pid=pid))
    return {kind: _merge(parts) for kind, parts in slices.items()}


def bench_api(connections: int = 32, seconds: float = 10.0, workers: tuple[int, ...] = (1,),
              clients: int = 1, warmup_s: float = 2.0, rounds: int = 2,
              batch_orders: int = 5_000, batch_connections: int = 2,
              batch_seconds: float | None = None, pre_routed: bool = True,
              stock_per_cell: int = 1_000_000, shards: int = 2,
              sync_echo: bool = False) -> dict[str, Any]:
    """Run every phase and return one JSON-able summary (see the module doc).

    ``seconds`` is the measured time of each kind of load (echo, peer, routed,
    pre-routed), split into ``rounds`` interleaved slices so that every server sees the
    same machine; ``batch_seconds`` (default ``seconds``) is the bulk phase. The main
    figures are those of the first worker count; the others are under ``by_workers``."""
    import ray

    from actors.cluster import Cluster, ClusterConfig
    from actors.shard_core import ShardConfig
    from allocator.catalog import demo_catalog
    from allocator.storage import connect

    workers = tuple(workers) or (1,)
    if connections < 1 or seconds <= 0 or min(workers) < 1 or clients < 1 or rounds < 1:
        raise ValueError("connections, seconds, workers, clients and rounds must be positive")
    batch_seconds = seconds if batch_seconds is None else batch_seconds
    catalog = demo_catalog()
    skus = list(catalog.sku_ids)
    warehouses = [getattr(w, "id", w) for w in catalog.warehouses]
    data_dir = tempfile.mkdtemp(prefix="allocator-bench-api-")
    config = ClusterConfig(data_dir=Path(data_dir), n_shards=shards, num_cpus=2,
                           shard=ShardConfig(capacity=1 << 20))
    gen: _Generator | None = None
    echo_path = "/echo-sync" if sync_echo else "/echo"
    joined = os.environ.pop("RAY_ADDRESS", None)  # always a fresh local cluster
    try:
        cluster = Cluster(config, catalog)
    finally:
        if joined is not None:
            os.environ["RAY_ADDRESS"] = joined
    runs: dict[int, dict[str, Any]] = {}
    try:
        cluster.seed({s: [stock_per_cell] * len(warehouses) for s in skus})
        redis = connect(cluster.redis_url)
        pipe = redis.pipeline(transaction=False)
        for sku in skus:
            for wh in warehouses:
                pipe.set(peer_stock_key(sku, wh), stock_per_cell)
        pipe.execute()
        keys = {BENCH_KEY: {"name": "bench", "scopes": ["checkout", "read"], "rate": 0}}
        env = dict(os.environ, RAY_ADDRESS=ray.get_runtime_context().gcs_address,
                   REDIS_URL=cluster.redis_url, ALLOCATOR_API_KEYS=json.dumps(keys),
                   ALLOCATOR_API_RATE="0",
                   ALLOCATOR_API_MAX_BODY_BYTES=str(max(16 << 20, batch_orders * 200)),
                   ALLOCATOR_API_MAX_BATCH_ORDERS=str(max(10_000, batch_orders)))
        gen = _Generator(clients)
        common = {"host": "127.0.0.1", "skus": skus, "warehouses": warehouses, "seed": 1}
        kinds = ("echo", "peer", "routed") + (("pre_routed",) if pre_routed else ())
        bodies = _bulk_bodies(skus, warehouses, batch_orders)
        for w in workers:
            procs = _servers(env, w)
            try:
                phases = _measure(gen, procs, common, connections, seconds, rounds, warmup_s,
                                  kinds, echo_path, f"w{w}")
                batch = gen.run("batch", dict(common, port=procs["api"].port,  # type: ignore[attr-defined]
                                              tag=f"w{w}-bulk", batch_bodies=bodies),
                                batch_connections, batch_seconds, server_pid=procs["api"].pid)
            finally:
                for proc in procs.values():
                    _stop(proc)
            runs[w] = _summary(phases, batch, batch_orders, batch_connections, pre_routed)
        audit = cluster.audit()
    finally:
        if gen is not None:
            gen.close()
        cluster.shutdown()
        shutil.rmtree(data_dir, ignore_errors=True)

    result = {"benchmark": "api", **runs[workers[0]]}
    if len(workers) > 1:
        result["by_workers"] = {str(w): {k: v for k, v in r.items()
                                         if not isinstance(v, dict)} for w, r in runs.items()}
    result.update({
        "audit_ok": audit["ok"], "oversold_units": audit["oversold_units"],
        "connections": connections, "seconds": seconds, "rounds": rounds,
        "warmup_s": warmup_s, "workers": workers[0], "client_procs": clients,
        "shards": shards, "cpu_count": os.cpu_count(), "skus": len(skus),
        "warehouses": len(warehouses),
        "definitions": {
            "echo_rps": f"GET {echo_path} on a bare FastAPI app ("
                        f"{'def, threadpool' if sync_echo else 'async def'}, fixed JSON), "
                        "requests/s",
            "peer_rps": "POST /v1/reservations on the peer baseline (api.bench:peer_app: "
                        "async FastAPI, pydantic body + Header parameters, one SET NX and "
                        "one EVALSHA check-and-decrement on the same Redis), requests/s",
            "reserve_rps": "HTTP requests/s of the routed reserve -> commit mix: "
                           "POST /v1/reservations {lines, destination} then "
                           "POST /v1/reservations/{id}/commit, both counted",
            "pre_rps": "the same with pre-routed lines (each names its warehouse)",
            "ratio": "reserve_rps / echo_rps",
            "ratio_vs_peer_pre": "pre_rps / peer_rps",
            "ratio_vs_peer_routed": "reserve_rps / peer_rps",
            "p50_ms, p99_ms": "latency of POST /v1/reservations (routed) at that load",
            "batch_lines_per_s": "lines reserved/s via POST /v1/reservations/bulk "
                                 f"({batch_orders} single-line pre-routed rows per request)",
            "server_cpu_cores": "CPU seconds of that server process per wall second",
            "load": f"{connections} keep-alive HTTP/1.1 connections, closed loop, "
                    f"{clients} generator process(es); every server: uvicorn, "
                    f"{workers[0]} worker(s), log level warning, default loop/http",
        },
    })
    return result


def _summary(phases: dict[str, Any], batch: dict[str, Any], batch_orders: int,
             batch_connections: int, pre_routed: bool) -> dict[str, Any]:
    e = _figures(phases["echo"], ("echo",))
    echo_rps = e["echo_per_s"]
    peer = _figures(phases["peer"], ("peer",))
    peer_rps = peer["peer_per_s"]
    routed = _mix(phases["routed"], echo_rps)
    pre = _mix(phases["pre_routed"], echo_rps) if pre_routed else None
    b = _figures(batch, ("batch",))
    batch_lines = round(batch["rates"].get("lines", 0.0))
    ratio_pre = round(pre["http_rps"] / peer_rps, 3) if pre and peer_rps else None
    ratio_routed = round(routed["http_rps"] / peer_rps, 3) if peer_rps else None
    out: dict[str, Any] = {
        "reserve_rps": routed["http_rps"], "pre_rps": pre["http_rps"] if pre else None,
        "echo_rps": echo_rps, "peer_rps": peer_rps, "ratio": routed["ratio"],
        "ratio_vs_peer_pre": ratio_pre, "ratio_vs_peer_routed": ratio_routed,
        "p50_ms": routed["reserve_p50_ms"], "p99_ms": routed["reserve_p99_ms"],
        "batch_lines_per_s": batch_lines, "reserve_commit_tps": routed["reserve_commit_tps"],
        "reserve_mode": "routed", "routed": routed,
    }
    if pre:
        out["pre_routed"] = pre
    out["echo"] = {"rps": echo_rps, "p50_ms": e["echo_p50_ms"], "p99_ms": e["echo_p99_ms"],
                   "requests": phases["echo"]["n"].get("echo", 0),
                   **{k: v for k, v in e.items() if not k.startswith("echo_")}}
    out["peer"] = {"rps": peer_rps, "p50_ms": peer["peer_p50_ms"],
                   "p99_ms": peer["peer_p99_ms"], "requests": phases["peer"]["n"].get("peer", 0),
                   **{k: v for k, v in peer.items() if not k.startswith("peer_")}}
    out["batch"] = {"orders_per_request": batch_orders, "connections": batch_connections,
                    "requests": batch["n"].get("batch", 0), "requests_per_s": b["batch_per_s"],
                    "request_p50_ms": b["batch_p50_ms"], "request_p99_ms": b["batch_p99_ms"],
                    **{k: v for k, v in b.items() if not k.startswith("batch_")}}
    p99 = routed["reserve_p99_ms"]
    out["targets"] = {
        "ratio_vs_peer_pre>=1.5": ratio_pre is not None and ratio_pre >= 1.5,
        "ratio_vs_peer_routed>=1.0": ratio_routed is not None and ratio_routed >= 1.0,
        "ratio>=0.3": routed["ratio"] is not None and routed["ratio"] >= 0.3,
        "p99_ms<=50": p99 is not None and p99 <= 50.0,
        "batch_lines_per_s>=200000": batch_lines >= 200_000,
    }
    return out
