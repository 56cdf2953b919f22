"""Short rehearsals end to end: their own stack in a subprocess, a clean audit, a
report folder whose files exist and parse, the SLO verdict's keys; a verdict that fails
with its reasons although the audit is clean; a Locust master with a worker process.

The SLO thresholds here are set so that the outcome does not depend on how fast this
machine is: a generous p99 for the passing run, an impossible one (0.5 ms) for the
failing one. The verdict's rules themselves are unit-tested
(tests/unit/test_loadtest_verdict.py)."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "REDIS_URL")}


def rehearse(*args: str, timeout: float = 240) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([sys.executable, "-m", "commands", "rehearse", "--json", *args],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    return proc, json.loads(proc.stdout.strip().splitlines()[-1])


def test_short_rehearsal_is_clean_and_reports(tmp_path):
    out = tmp_path / "report"
    proc, summary = rehearse("--duration", "30", "--multiple", "2", "--ttl", "8",
                             "--peak-rps", "40", "--slo-p99-ms", "1500", "--out", str(out))
    assert summary["verdict"] == "pass", (summary["reasons"], summary["outcomes"])
    assert summary["reasons"] == []
    assert proc.returncode == 0
    assert summary["oversold"] == 0 and summary["lost_units"] == 0
    assert summary["leaked_holds"] == 0 and summary["server_errors"] == 0
    assert summary["failures"] == 0
    assert summary["requests"] > 100 and summary["rps"] > 0
    assert summary["audit"]["confirmed_commits"] > 0
    assert summary["audit"]["confirmed_commit_units"] == summary["audit"]["ledger_committed_units"]
    assert summary["rate_limited_429"] > 0  # the low-rate key was refused, not failed
    assert summary["kill_switch"]["sku"] and summary["kill_switch"]["rejected_other_skus"] == 0
    assert summary["peak_multiple"] == 2
    for key in ("peak_multiple", "rps", "p99_ms", "failures", "oversold", "lost_units",
                "leaked_holds", "verdict"):
        assert key in summary

    # the open model: each hold stage offered buyers x rate, and the server kept up
    levels = {"0.2x", "1x", "2x"}
    assert summary["stage_offered_rps"] == {"0.2x": 8.0, "1x": 40.0, "2x": 80.0}
    for key in ("stage_rps", "stage_p99_ms", "stage_sent_rps", "stage_error_rate",
                "stage_machine_cpu_pct"):
        assert set(summary[key]) == levels, key
    for lv in levels:
        assert summary["stage_rps"][lv] >= 0.95 * summary["stage_offered_rps"][lv]
        assert 0 < summary["stage_p99_ms"][lv] <= 1500
    assert summary["slo_p99_ms"] == 1500 and summary["max_error_rate"] == 0.001
    assert summary["rps_per_buyer"] == 1.0 and summary["expected_peak_rps"] == 40
    assert 0 < summary["generator_cpu_cores"] < 4
    assert summary["mode"] == "stages" and "capacity_rps" not in summary
    assert summary["api_workers"] == max(1, min(4, os.cpu_count() or 1))  # one per core
    assert summary["shards"] == max(1, min(4, (os.cpu_count() or 1) // 2))  # per two
    assert [r["label"] for r in summary["stage_results"]] == ["0.2x", "1x", "2x"]
    assert all(r["held"] and not r["reasons"] for r in summary["stage_results"])

    # the report folder: summary.json, Locust's HTML and CSV, the chart
    assert json.loads((out / "summary.json").read_text())["verdict"] == "pass"
    meter = json.loads((out / "meter.json").read_text())
    assert meter["seconds"] and [p["label"] for p in meter["phases"]][-1] == "drain"
    html = (out / "report.html").read_text()
    assert "<html" in html.lower() and "locust" in html.lower()
    rows = list(csv.DictReader((out / "locust_stats.csv").open()))
    names = {r["Name"] for r in rows}
    assert {"reserve", "commit", "Aggregated"} <= names
    assert list(csv.DictReader((out / "locust_stats_history.csv").open()))
    assert list(csv.DictReader((out / "samples.csv").open()))
    png = (out / "chart.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_missed_slo_fails_with_its_reasons_although_the_audit_is_clean(tmp_path):
    """A capacity search against an impossible objective: no step holds, the verdict
    fails and says why, the exit code is 1, and the books still balance."""
    proc, s = rehearse("--find-capacity", "--slo-p99-ms", "0.5", "--peak-rps", "20",
                       "--capacity-factor", "4", "--step-duration", "4", "--ttl", "5",
                       "--capacity-warmup", "3", "--out", str(tmp_path / "cap"))
    assert proc.returncode == 1 and s["verdict"] == "fail"
    assert s["mode"] == "find-capacity" and s["capacity_rps"] is None
    assert s["reasons"] and s["reasons"][-1].startswith("no step held its offered load")
    steps = s["capacity_steps"]
    assert [st["planned_rps"] for st in steps] == [20.0, 5.0, 1.25]  # down by the factor
    phases = json.loads((tmp_path / "cap" / "meter.json").read_text())["phases"]
    warm, first = phases[0], phases[1]  # a warm-up at half the first step's rate, unjudged
    assert warm["label"] == "warm-up" and warm["offered_rps"] == 10.0
    assert first["label"] == "step 1" and 2.5 <= first["start"] - warm["start"] <= 5
    assert all(not st["held"] and st["reasons"] for st in steps)
    assert any("> SLO 0.5 ms" in r for st in steps for r in st["reasons"])
    assert s["audit_ok"], s["audit"]
    assert s["oversold"] == 0 and s["lost_units"] == 0
    assert s["leaked_holds"] == 0 and s["slo_p99_ms"] == 0.5
    assert s["generator_cpu_cores"] >= 0 and "generator_saturated" in s
    assert (tmp_path / "cap" / "chart.png").read_bytes()[:4] == b"\x89PNG"


def test_master_with_a_worker_process_audits_the_workers_events(tmp_path):
    """--expect-workers 1 and a worker started with the same flags + --worker: the
    worker's requests reach the meter and its commits the audit (forwarded events)."""
    from stack.processes import free_port

    port = str(free_port())
    flags = ["--duration", "20", "--multiple", "1", "--ttl", "5", "--peak-rps", "20",
             "--slo-p99-ms", "1500", "--no-kill-switch"]
    master = subprocess.Popen(
        [sys.executable, "-m", "commands", "rehearse", "--json", *flags, "--expect-workers",
         "1", "--master-port", port, "--out", str(tmp_path / "m")],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        worker = subprocess.run(
            [sys.executable, "-m", "commands", "rehearse", *flags, "--worker",
             f"127.0.0.1:{port}"], cwd=ROOT, env=ENV, capture_output=True, text=True,
            timeout=240)
        out, err = master.communicate(timeout=240)
    finally:
        if master.poll() is None:
            master.kill()
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert out.strip(), err[-3000:]
    s = json.loads(out.strip().splitlines()[-1])
    assert s["verdict"] == "pass", s["reasons"]
    assert s["locust_workers"] == 1 and s["stage_offered_rps"]["1x"] == 20.0
    assert s["stage_rps"]["1x"] >= 19
    assert list((tmp_path / "m" / "events").glob("events-worker-*.jsonl"))
    assert s["audit"]["confirmed_commits"] > 0
    assert s["audit"]["confirmed_commit_units"] == s["audit"]["ledger_committed_units"]
