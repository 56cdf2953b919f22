"""`allocator serve` as a user runs it: its own Ray head, embedded Redis, the API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from allocator.catalog import demo_catalog
from commands.serve import demo_seed_stock
from stack.processes import free_port, wait_until_ready

from tests.support.http import auth, read_status_json

pytestmark = pytest.mark.integration


def test_serve_starts_the_whole_stack_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "REDIS_URL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "commands", "serve", "--port", str(port), "--shards", "1",
         "--data-dir", str(tmp_path / "redis"), "--dashboard-port", str(free_port())],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        status = json.loads(read_status_json(proc))
        assert status["api"] == f"http://127.0.0.1:{port}/docs"
        assert status["shards"] == {"shard-00": 1200}
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base, proc, timeout_s=120)
        headers = {**auth("dev-checkout-key"), "Idempotency-Key": "serve-smoke-1"}
        order = {"lines": [{"sku": "PHONE-0000", "qty": 1}], "destination": "560001"}
        stocked = demo_seed_stock(demo_catalog())["PHONE-0000"]
        assert sum(stocked) > 0  # serve seeds this stock: the order can be filled
        plan = httpx.post(f"{base}/v1/route", json=order, headers=headers).json()
        assert plan["status"] == "planned", plan
        r = httpx.post(f"{base}/v1/reservations", json=order, headers=headers)
        assert r.status_code == 201, r.text
        line = r.json()["lines"][0]
        assert stocked[demo_catalog().warehouse_ids.index(line["warehouse"])] >= 1
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0
