"""uvicorn vs Ray Serve as the ingress of the same FastAPI route (docs/DEPLOY.md, "Why a
uvicorn Deployment, not Ray Serve"): requests/s, latency, and the servers' CPU per
request — the figure that survives a shared machine. Prints one JSON line with the
uvicorn baseline and the ratios.

Not part of the package: it needs ``pip install "ray[serve]"`` (then keep protobuf
< 6.34 for OR-Tools: ``pip install "grpcio-reflection<1.76" "protobuf>=6.33.1,<6.34"``).
Run: ``.venv/bin/python deploy/measure/ingress.py``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import httpx
import psutil

APP = '''
from fastapi import FastAPI
app = FastAPI()

@app.post("/v1/echo")
async def echo(body: dict) -> dict:
    return {"ok": True, "n": len(body)}
'''
SECONDS, CONCURRENCY = 8.0, 32
SERVE_PROCESSES = ("ray::ServeReplica", "ray::ProxyActor", "ray::ServeController")


async def load(url: str, seconds: float = SECONDS) -> dict[str, Any]:
    lat: list[float] = []
    stop = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=10,
                                 limits=httpx.Limits(max_connections=CONCURRENCY)) as c:
        async def one() -> None:
            while time.perf_counter() < stop:
                t = time.perf_counter()
                r = await c.post(url, json={"sku": "PHONE-0000", "qty": 1})
                assert r.status_code == 200, r.text
                lat.append(time.perf_counter() - t)
        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(CONCURRENCY)))
        elapsed = time.perf_counter() - t0
    lat.sort()
    return {"requests": len(lat), "rps": round(len(lat) / elapsed),
            "p50_ms": round(lat[len(lat) // 2] * 1000, 2),
            "p99_ms": round(lat[int(len(lat) * 0.99)] * 1000, 2)}


def wait(url: str) -> None:
    for _ in range(300):
        try:
            if httpx.post(url, json={}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} never answered")


def cpu_s(procs: list[psutil.Process]) -> float:
    return sum(sum(p.cpu_times()[:2]) for p in procs)


def measured(url: str, procs: list[psutil.Process]) -> dict[str, Any]:
    asyncio.run(load(url, 3))  # warm-up
    c0 = cpu_s(procs)
    out = asyncio.run(load(url))
    out["server_cpu_ms_per_req"] = round((cpu_s(procs) - c0) * 1000 / out["requests"], 3)
    out["server_processes"] = len(procs)
    return out


def main() -> None:
    here = tempfile.mkdtemp(prefix="ingress-")
    with open(os.path.join(here, "echoapp.py"), "w") as f:
        f.write(APP)
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "echoapp:app", "--port", "18777",
                             "--log-level", "warning", "--no-access-log"],
                            env=dict(os.environ, PYTHONPATH=here))
    try:
        wait("http://127.0.0.1:18777/v1/echo")
        uv = measured("http://127.0.0.1:18777/v1/echo", [psutil.Process(proc.pid)])
    finally:
        proc.terminate()
        proc.wait()

    import ray
    from ray import serve

    sys.path.insert(0, here)
    from echoapp import app  # type: ignore[import-not-found]

    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": here}})

    @serve.deployment(num_replicas=1, max_ongoing_requests=128,
                      ray_actor_options={"num_cpus": 0})
    @serve.ingress(app)
    class Echo:
        pass

    serve.start(http_options={"port": 18778})
    serve.run(Echo.bind(), route_prefix="/")
    try:
        wait("http://127.0.0.1:18778/v1/echo")
        procs = [p for p in psutil.process_iter(["cmdline"])
                 if any(k in " ".join(p.info["cmdline"] or []) for k in SERVE_PROCESSES)]
        sv = measured("http://127.0.0.1:18778/v1/echo", procs)
    finally:
        serve.shutdown()
        ray.shutdown()
    print(json.dumps({
        "benchmark": "ingress", "concurrency": CONCURRENCY, "baseline": {"uvicorn": uv},
        "ray_serve": sv, "ratio_rps_serve_vs_uvicorn": round(sv["rps"] / uv["rps"], 2),
        "ratio_cpu_per_req_serve_vs_uvicorn": round(
            sv["server_cpu_ms_per_req"] / uv["server_cpu_ms_per_req"], 2),
        "load_avg_1m": round(os.getloadavg()[0], 2)}))


if __name__ == "__main__":
    main()
