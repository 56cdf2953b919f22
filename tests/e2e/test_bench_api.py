"""Smoke test of ``allocator bench api``: tiny durations, in its own process (the bench
starts its own Ray cluster, which cannot share this pytest process with the session's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_bench_api_smoke():
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "REDIS_URL")}
    out = subprocess.run(
        [sys.executable, "-m", "commands", "bench", "api", "--json", "--seconds", "1",
         "--warmup", "0", "--rounds", "1", "--connections", "4", "--batch-orders", "200",
         "--batch-connections", "1", "--batch-seconds", "1"],
        env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("reserve_rps", "pre_rps", "echo_rps", "peer_rps", "ratio",
                "ratio_vs_peer_pre", "ratio_vs_peer_routed", "p50_ms", "p99_ms",
                "batch_lines_per_s", "reserve_commit_tps", "targets", "audit_ok",
                "oversold_units"):
        assert key in result, key
    assert result["audit_ok"] is True
    assert result["oversold_units"] == 0
    assert result["echo_rps"] > 0 and result["reserve_rps"] > 0 and result["peer_rps"] > 0
    assert result["batch_lines_per_s"] > 0
    for phase in ("routed", "pre_routed", "echo", "peer", "batch"):
        assert result[phase]["errors"] == {}, (phase, result[phase]["errors"])
    assert set(result["targets"]) == {
        "ratio_vs_peer_pre>=1.5", "ratio_vs_peer_routed>=1.0", "ratio>=0.3", "p99_ms<=50",
        "batch_lines_per_s>=200000"}
