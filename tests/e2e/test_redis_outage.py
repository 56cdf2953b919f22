"""Chaos: the embedded Redis hangs, then is killed, mid-burst under `allocator serve`.

What must hold: every answer is a success, a refusal or a 503 problem with Retry-After
(never a 500); serve restarts Redis from its AOF; afterwards reserves succeed again,
every reservation that was acknowledged (201) can be committed, and no unit stays held
by a request that was refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import psutil
import pytest

from stack.processes import free_port, wait_until_ready
from tests.support.http import auth, read_status_json

pytestmark = pytest.mark.integration
SKU, WH = "PHONE-0001", "WH-DEL"


def test_killing_redis_mid_burst_gives_503s_then_recovers_with_nothing_lost(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "REDIS_URL")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "commands", "serve", "--port", str(port), "--shards", "1",
         "--no-stock", "--data-dir", str(tmp_path / "redis"),
         "--dashboard-port", str(free_port())], env=env, stdout=subprocess.PIPE,
        stderr=open(tmp_path / "serve.log", "w"), text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        json.loads(read_status_json(proc))
        wait_until_ready(base, proc, timeout_s=120)
        ops = httpx.Client(base_url=base, headers=auth("dev-admin-key"), timeout=30)
        r = ops.post("/v1/inventory/movements", headers={"Idempotency-Key": "stock-1"},
                     json={"movements": [{"type": "restock", "sku": SKU, "warehouse": WH,
                                          "qty": 100_000}]})
        assert r.status_code == 200, r.text
        redis_server = next(p for p in psutil.Process(proc.pid).children(recursive=True)
                            if "redis-server" in " ".join(p.cmdline()))
        answers: list[tuple[float, int, dict, dict]] = []
        lock = threading.Lock()
        stop = time.monotonic() + 22

        def buyer(b: int) -> None:
            with httpx.Client(base_url=base, headers=auth("dev-checkout-key"),
                              timeout=30) as c:
                i = 0
                while time.monotonic() < stop:
                    i += 1
                    r = c.post("/v1/reservations", headers={"Idempotency-Key": f"b{b}-{i}"},
                               json={"lines": [{"sku": SKU, "qty": 1, "warehouse": WH}]})
                    body = r.json() if r.content else {}
                    with lock:
                        answers.append((time.monotonic(), r.status_code, body,
                                        dict(r.headers)))

        threads = [threading.Thread(target=buyer, args=(b,)) for b in range(12)]
        for t in threads:
            t.start()
        time.sleep(2.0)
        killed_at = time.monotonic()
        redis_server.suspend()  # first it hangs past every timeout (10 s for an op) ...
        time.sleep(2.0)
        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 503 and ready.json()["checks"]["redis"] is False
        assert int(ready.headers["Retry-After"]) >= 1
        time.sleep(11.0)
        redis_server.kill()  # ... then it dies: SIGKILL, no save, no goodbye
        for t in threads:
            t.join(60)
        codes = Counter(code for _, code, _, _ in answers)
        assert set(codes) <= {201, 503}, codes
        unavailable = [(b, h) for _, code, b, h in answers if code == 503]
        assert unavailable, f"the outage was not seen: {codes}"
        for body, headers in unavailable:
            assert headers["content-type"].startswith("application/problem+json")
            assert body["status"] == 503 and body["type"] in ("/problems/unavailable",
                                                               "/problems/overloaded")
            assert int(headers["retry-after"]) >= 1
        after = [code for t, code, _, _ in answers if t > killed_at + 17]
        assert after and all(code == 201 for code in after), Counter(after)
        acked = [b["id"] for _, code, b, _ in answers if code == 201]
        checkout = httpx.Client(base_url=base, headers=auth("dev-checkout-key"), timeout=30)
        for rid in acked:
            r = checkout.post(f"/v1/reservations/{rid}/commit")
            assert r.status_code == 200, (rid, r.text)
        deadline = time.monotonic() + 30
        while True:  # refused requests' holds are given back (retried past the outage)
            totals = ops.get(f"/v1/inventory/{SKU}").json()["totals"]
            if totals["held"] == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert totals["committed"] == len(acked)
        assert totals["held"] == 0, (tmp_path / "serve.log").read_text()[-5000:]
        assert totals["on_hand"] == 100_000
        assert ops.get("/readyz").status_code == 200
        log = (tmp_path / "serve.log").read_text()
        assert "unhandled error" not in log and "Traceback" not in log, log[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
