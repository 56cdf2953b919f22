"""``allocator bench api``: reserve → commit over HTTP against two baselines.

One run starts a local cluster (Ray, embedded Redis, directory, 2 shards), seeds
plenty of stock, then serves three uvicorn processes with the same settings (workers,
log level, default loop; the baselines on uvicorn's default HTTP protocol, the API on
its own, :mod:`api.server`, which answers the checkout routes outside ASGI):

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

import json
import os
import random
from typing import Any

from bench.baselines import BENCH_KEY, peer_stock_key
from bench.loadgen import Generator, merge, pct

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
        out[f"{name}_p50_ms"] = pct(lat.get(name, []), 50)
        out[f"{name}_p99_ms"] = pct(lat.get(name, []), 99)
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
def _servers(cluster: Any, env: dict[str, str], workers: int) -> dict[str, Any]:
    """The allocator API, the echo baseline and the peer baseline, same settings."""
    from stack.local import start_api

    servers: dict[str, Any] = {}
    try:
        servers["api"] = start_api(cluster, env, workers=workers)
        for name in ("echo", "peer"):
            servers[name] = start_api(cluster, env, workers=workers, ready_path="/echo",
                                      factory=f"bench.baselines:{name}_app")
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return servers


def _measure(gen: Generator, procs: dict[str, Any], common: dict[str, Any],
             connections: int, seconds: float, rounds: int, warmup_s: float,
             kinds: tuple[str, ...], echo_path: str, tag: str) -> dict[str, Any]:
    """Interleaved rounds of each kind of load; their merged figures by kind."""
    server = {"echo": "echo", "peer": "peer", "routed": "api", "pre_routed": "api"}
    plan = [(kind, dict(common, port=procs[server[kind]].port,
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
    return {kind: merge(parts) for kind, parts in slices.items()}


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

    from actors.shard_core import ShardConfig
    from allocator.catalog import demo_catalog
    from stack.local import LocalStack
    from storage.redis import connect

    workers = tuple(workers) or (1,)
    if connections < 1 or seconds <= 0 or min(workers) < 1 or clients < 1 or rounds < 1:
        raise ValueError("connections, seconds, workers, clients and rounds must be positive")
    batch_seconds = seconds if batch_seconds is None else batch_seconds
    catalog = demo_catalog()
    skus = list(catalog.sku_ids)
    warehouses = list(catalog.warehouse_ids)
    gen: Generator | None = None
    echo_path = "/echo-sync" if sync_echo else "/echo"
    stack = LocalStack({s: [stock_per_cell] * len(warehouses) for s in skus}, shards=shards,
                       catalog=catalog, shard=ShardConfig(capacity=1 << 20),
                       start_api_process=False)
    runs: dict[int, dict[str, Any]] = {}
    try:
        redis = connect(stack.cluster.redis_url)
        pipe = redis.pipeline(transaction=False)
        for sku in skus:
            for wh in warehouses:
                pipe.set(peer_stock_key(sku, wh), stock_per_cell)
        pipe.execute()
        keys = {BENCH_KEY: {"name": "bench", "scopes": ["checkout", "read"], "rate": 0}}
        env = {"ALLOCATOR_API_KEYS": json.dumps(keys), "ALLOCATOR_API_RATE": "0",
               "ALLOCATOR_API_MAX_BODY_BYTES": str(max(16 << 20, batch_orders * 200)),
               "ALLOCATOR_API_MAX_BATCH_ORDERS": str(max(10_000, batch_orders))}
        gen = Generator(clients)
        common = {"host": "127.0.0.1", "skus": skus, "warehouses": warehouses, "seed": 1}
        kinds = ("echo", "peer", "routed") + (("pre_routed",) if pre_routed else ())
        bodies = _bulk_bodies(skus, warehouses, batch_orders)
        for w in workers:
            procs = _servers(stack.cluster, env, w)
            try:
                phases = _measure(gen, procs, common, connections, seconds, rounds, warmup_s,
                                  kinds, echo_path, f"w{w}")
                batch = gen.run("batch", dict(common, port=procs["api"].port,
                                              tag=f"w{w}-bulk", batch_bodies=bodies),
                                batch_connections, batch_seconds, server_pid=procs["api"].pid)
            finally:
                for proc in procs.values():
                    proc.stop()
            runs[w] = _summary(phases, batch, batch_orders, batch_connections, pre_routed)
        audit = stack.audit()
    finally:
        if gen is not None:
            gen.close()
        stack.stop()

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
            "peer_rps": "POST /v1/reservations on the peer baseline (bench.api:peer_app: "
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
                    f"{workers[0]} worker(s), log level warning, default loop; the "
                    "baselines uvicorn's default HTTP protocol, the API its own "
                    "(api.server.CheckoutProtocol: httptools, checkout routes outside ASGI)",
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
