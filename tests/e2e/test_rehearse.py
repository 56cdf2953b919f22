"""A short rehearsal end to end: its own stack in a subprocess, a clean audit and a
report folder whose files exist and parse."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_short_rehearsal_is_clean_and_reports(tmp_path):
    out = tmp_path / "report"
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "REDIS_URL")}
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "commands", "rehearse", "--duration", "30", "--multiple", "2",
         "--ttl", "8", "--json", "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    elapsed = time.monotonic() - t0
    assert proc.stdout.strip(), proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["verdict"] == "pass", (summary["audit"]["problems"], summary["outcomes"])
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

    # the report folder: summary.json, Locust's HTML and CSV, the chart
    assert json.loads((out / "summary.json").read_text())["verdict"] == "pass"
    html = (out / "report.html").read_text()
    assert "<html" in html.lower() and "locust" in html.lower()
    rows = list(csv.DictReader((out / "locust_stats.csv").open()))
    names = {r["Name"] for r in rows}
    assert {"reserve", "commit", "Aggregated"} <= names
    assert list(csv.DictReader((out / "locust_stats_history.csv").open()))
    assert list(csv.DictReader((out / "samples.csv").open()))
    png = (out / "chart.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert elapsed < 200
