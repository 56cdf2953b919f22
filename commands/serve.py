"""``allocator serve`` and ``allocator bench actors``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from allocator.console import emit


def add_serve_command(sub: Any) -> None:
    p = sub.add_parser("serve", help="start (or join) Ray, Redis and the shards; serve")
    p.add_argument("--address", help="join this Ray cluster (e.g. auto or HOST:6379); "
                   "default: start a local head with the dashboard")
    p.add_argument("--redis-url", help="external Redis (default $REDIS_URL, else embedded)")
    p.add_argument("--data-dir", type=Path, help="embedded Redis data (default .allocator/redis)")
    p.add_argument("--shards", type=int, help="base shard actors (default $ALLOCATOR_SHARDS or 2)")
    p.add_argument("--shard-cpus", type=float,
                   help="CPUs reserved per shard (default $ALLOCATOR_SHARD_CPUS or 0; "
                   "1 on a cluster)")
    p.add_argument("--shard-resource",
                   help="custom Ray resource that marks the nodes which host shards "
                   "(default $ALLOCATOR_SHARD_RESOURCE; empty: any node)")
    p.add_argument("--dashboard-port", type=int, default=8265)
    p.add_argument("--hot-rate", type=float, default=2000.0,
                   help="holds/s over 10 s that make a SKU hot (0: only pinned SKUs)")
    p.add_argument("--max-hot", type=int, default=8, help="SKUs on their own actor at most")
    p.add_argument("--pin", nargs="*", default=[], metavar="SKU",
                   help="isolate these SKUs on their own actors before traffic")
    p.add_argument("--catalog", type=Path, help="catalog JSON (default: the demo catalog)")
    p.add_argument("--stock", type=Path,
                   help="initial stock JSON {sku: [units per warehouse]}; default demo stock")
    p.add_argument("--no-stock", action="store_true", help="start with empty stock")
    p.add_argument("--host", default="127.0.0.1", help="HTTP API address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="HTTP API port (default 8000)")
    p.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    p.add_argument("--no-api", action="store_true", help="start the cluster only")
    p.add_argument("--once", action="store_true", help="start, print status, then stop")
    p.add_argument("--detach", action="store_true",
                   help="with --address: make sure the directory and shards run (started, "
                   "seeded once), print status and exit, leaving them running (a "
                   "deployment's bootstrap job)")
    p.set_defaults(func=_serve)


def add_bench_actors_command(bench: Any) -> None:
    p = bench.add_parser("actors", help="client → shards (journal on) vs Redis Lua")
    p.add_argument("--zipf-lines", type=int, default=1_000_000)
    p.add_argument("--hot-lines", type=int, default=600_000)
    p.add_argument("--shards", type=int, nargs="+", default=[2], metavar="N",
                   help="shard actors (default 2); several (e.g. 1 2 4): one scaling row "
                   "each, the first as baseline")
    p.add_argument("--scaling-lines", type=int, default=300_000,
                   help="lines per scaling row (with several --shards)")
    p.add_argument("--events", action="store_true", help="publish events during the run")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_bench)


def _bench(args: argparse.Namespace) -> int:
    if len(args.shards) > 1:
        from bench.scaling import bench_scaling

        try:
            emit(bench_scaling(args.shards, lines=args.scaling_lines), args.json)
        except ValueError as exc:
            print(f"allocator bench actors: {exc}", file=sys.stderr)
            return 2
        return 0
    from bench.actors import bench_actors

    emit(bench_actors(zipf_lines=args.zipf_lines, hot_lines=args.hot_lines,
                      shards=args.shards[0], events=args.events), args.json)
    return 0


def demo_seed_stock(catalog: Any, seed: int = 5) -> dict[str, list[int]]:
    """Deterministic demo stock: most cells stocked, some empty."""
    import numpy as np

    rng = np.random.default_rng(seed)
    shape = (len(catalog.skus), len(catalog.warehouses))
    units = rng.integers(0, 200, size=shape) * (rng.random(shape) < 0.7)
    return {sku: units[i].tolist() for i, sku in enumerate(catalog.sku_ids)}


def _exit_cleanly(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def _serve(args: argparse.Namespace) -> int:
    from actors.cluster import Cluster, ClusterConfig
    from allocator.catalog import Catalog, demo_catalog
    from allocator.config import Settings
    from storage.topology import redact

    catalog = Catalog.load(args.catalog) if args.catalog else demo_catalog()
    settings = Settings.from_env(ray_address=args.address, redis_url=args.redis_url,
                                 shards=args.shards, shard_cpus=args.shard_cpus,
                                 shard_resource=args.shard_resource)
    config = ClusterConfig.from_settings(settings, data_dir=args.data_dir,
                                         dashboard=not settings.ray_address,
                                         dashboard_port=args.dashboard_port,
                                         hot_min_rate=args.hot_rate, max_hot=args.max_hot)
    if args.detach and not (settings.ray_address and settings.redis_url):
        print("allocator serve: --detach needs a Ray cluster to leave the shards on "
              "(--address or RAY_ADDRESS) and a Redis that outlives this process "
              "(--redis-url or REDIS_URL)", file=sys.stderr)
        return 2
    cluster = Cluster(config, catalog)
    try:
        if not args.no_stock:
            stock = json.loads(args.stock.read_text()) if args.stock else demo_seed_stock(catalog)
            cluster.seed(stock)
        if args.pin:
            cluster.pin(args.pin)
        status = {
            "ray_address": cluster.gcs_address,
            "dashboard": f"http://127.0.0.1:{config.dashboard_port}" if config.dashboard else None,
            "redis_url": redact(cluster.redis_url),
            **cluster.status(),
        }
        if not (args.once or args.no_api):
            status["api"] = f"http://{args.host}:{args.port}/docs"
        print(json.dumps(status, indent=2), flush=True)
        if args.once or args.detach:
            return 0
        if not args.no_api:
            from stack.local import serve_api

            # uvicorn re-raises the signal that stopped it: make that a clean exit
            signal.signal(signal.SIGTERM, _exit_cleanly)
            try:
                serve_api(cluster, args.host, args.port, args.workers)
            except KeyboardInterrupt:
                pass
        else:
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            try:
                stop.wait()
            except KeyboardInterrupt:
                pass
    finally:
        if not args.detach:
            cluster.shutdown()
    return 0
