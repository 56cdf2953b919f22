"""`allocator serve` as a user runs it: its own Ray head, embedded Redis, the API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from api.server import free_port, wait_until_ready

from tests.e2e.conftest import auth

pytestmark = pytest.mark.integration


def test_serve_starts_the_whole_stack_and_stops_on_sigterm(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "REDIS_URL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "allocator", "serve", "--port", str(port), "--shards", "1",
         "--data-dir", str(tmp_path / "redis"), "--dashboard-port", str(free_port())],
        env=env, stdout=subprocess.PIPE, text=True)
    try:
        status = json.loads(_read_json_block(proc))
        assert status["api"] == f"http://127.0.0.1:{port}/docs"
        assert status["shards"] == {"shard-00": 1200}
        base = f"http://127.0.0.1:{port}"
        wait_until_ready(base, proc, timeout_s=120)
        headers = {**auth("dev-checkout-key"), "Idempotency-Key": "serve-smoke-1"}
        order = {"lines": [{"sku": "PHONE-0000", "qty": 1}], "destination": "560001"}
        plan = httpx.post(f"{base}/v1/route", json=order, headers=headers).json()
        assert plan["status"] in ("planned", "unfillable")
        r = httpx.post(f"{base}/v1/reservations", json=order, headers=headers)
        assert r.status_code in (201, 409), r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 0


def _read_json_block(proc: subprocess.Popen) -> str:
    """The status JSON serve prints first (an indented object)."""
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.append(line)
        if line.rstrip() == "}":
            return "".join(lines)
    raise AssertionError(f"serve printed no status: {''.join(lines)!r}")
