"""The load generator of ``allocator bench api``: ``procs`` spawned processes, each an
asyncio loop (uvloop when installed) holding keep-alive HTTP/1.1 connections with
hand-written requests, closed loop. Figures merge across processes and rounds."""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

from bench.baselines import BENCH_KEY, PINCODES

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


def pct(values: list[float], q: float) -> float | None:
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


class Generator:
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
        return merge([{"seconds": seconds, "rates": o["rates"], "n": o["n"], "lat": o["lat"],
                        "errors": o["errors"], "client_cpu_s": o["cpu_s"],
                        "server_cpu_s": 0.0, "wall_s": 0.0} for o in outs],
                      parallel=True) | {"server_cpu_s": cpu1 - cpu0, "wall_s": t1 - t0}

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


def merge(parts: list[dict[str, Any]], parallel: bool = False) -> dict[str, Any]:
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
