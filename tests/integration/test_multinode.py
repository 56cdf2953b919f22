"""The allocator on several Ray nodes (``ray.cluster_utils.Cluster``: a head and two
workers on this machine): shards spread over the workers, two API drivers on
different nodes, a worker removed mid-burst. The scenario runs in its own process
(:mod:`tests.support.multinode`: this session has a Ray of its own) and reports JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def report():
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "REDIS_URL")}
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.multinode", "--json"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    assert proc.returncode == 0, err[-4000:]
    data = json.loads(out.strip().splitlines()[-1])
    print(json.dumps({k: data[k] for k in ("moved_shards", "restart_s", "recover_s",
                                           "acked", "refused", "timings_s")}))
    return data


def test_shards_spread_over_the_worker_nodes_never_the_head(report):
    nodes = report["nodes"]
    placed = set(report["placement_before"].values())
    assert placed == {nodes["worker"], nodes["victim"]}
    assert nodes["head"] not in set(report["placement_after"].values())


def test_two_api_drivers_on_different_nodes_reach_every_shard(report):
    a, b = report["driver_nodes"]
    assert a != b and a == report["nodes"]["head"]
    for shards in report["driver_shards"]:
        assert shards == sorted(report["placement_before"])


def test_a_node_removed_mid_burst_loses_nothing_acknowledged(report):
    moved, worker = report["moved_shards"], report["nodes"]["worker"]
    assert moved and all(report["placement_after"][n] == worker for n in moved)
    assert all(t is not None and t < 60 for t in report["recover_s"].values()), (
        f"served again? recover_s {report['recover_s']}, restart_s {report['restart_s']}, "
        f"timings {report['timings_s']}, acked {report['acked']}, refused {report['refused']}")
    assert report["unresolved"] == 0
    assert report["acked_lost"] == 0 and report["held_minus_acked"] == 0
    assert report["sku_mismatch"] == [] and report["oversold_skus"] == []
    assert report["audit_ok"] and report["oversold_units"] == 0
    assert report["sold_out_skus"] > 0 and report["refused"] > 0  # demand exceeded stock


def test_the_directory_still_places_and_serves_after_the_loss(report):
    after = report["after_directory"]
    assert after["hold_ok"] and after["hold_shard"].startswith("hot-")
    assert after["hot_shard_node"] == report["nodes"]["worker"]


def test_the_shards_outlive_a_crash_of_the_directory(report):
    crash = report["directory_crash"]
    assert crash["shards_restarted"] == []
    assert set(report["placement_after"]) <= set(crash["layout_shards"])
