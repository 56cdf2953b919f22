"""The load generator's processes: how ``allocator rehearse`` starts Locust — one
process, ``--processes N`` on this machine, the master of ``--expect-workers N``
workers, or (``--worker MASTER``) one of those workers on another machine.

A worker runs the same command line as its master with ``--worker MASTER_HOST[:PORT]``
added: it builds the same parameters (sale, keys, shape, SLO), takes its target host
from the master, and ships its meter seconds and the audit's events to the master with
each stats report (see loadtest/locustfile.py).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from loadtest.shape import stop_timeout_s

if TYPE_CHECKING:
    from loadtest.options import RehearsalOptions

HERE = Path(__file__).resolve().parent
DEFAULT_MASTER_PORT = 5557


def load_seconds(opts: "RehearsalOptions") -> float:
    """An upper bound of how long the load runs (for the runner's timeout)."""
    if not opts.find_capacity:
        return opts.duration_s + 10
    plan = opts.plan()
    ups = math.ceil(math.log(plan.max_rps / plan.start_rps) / math.log(plan.factor)) + 1
    downs = math.ceil(math.log(plan.start_rps / plan.min_rps) / math.log(plan.factor))
    return (ups + downs + plan.max_refinements) * (opts.step_s + 8) + opts.warmup_s + 20


def locust_env(params_path: Path) -> dict[str, str]:
    """The environment of a Locust process of this rehearsal."""
    env = dict(os.environ, REHEARSE_PARAMS=str(params_path),
               PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent),
                                                        os.environ.get("PYTHONPATH")])))
    env.pop("RAY_ADDRESS", None)
    return env


def locust_cmd(opts: "RehearsalOptions", host: str, out: Path) -> list[str]:
    """The headless Locust command of the rehearsal's runner (local or master)."""
    cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
           "--host", host, "--csv", str(out / "locust"), "--html", str(out / "report.html"),
           "--only-summary", "--loglevel", "WARNING", "--stop-timeout", stop_timeout(opts)]
    if opts.expect_workers > 0:
        cmd += ["--master", "--expect-workers", str(opts.expect_workers),
                "--master-bind-port", str(opts.master_port),
                "--expect-workers-max-wait", "600"]
    elif opts.processes > 1:
        cmd += ["--processes", str(opts.processes)]
    return cmd


def stop_timeout(opts: "RehearsalOptions") -> str:
    """Locust's ``--stop-timeout``: a buyer killed while its commit is in flight would
    leave a commit nobody was told about, and the audit would fail."""
    return f"{stop_timeout_s(opts.rps_per_buyer):g}"


def parse_master(value: str) -> tuple[str, int]:
    """``HOST`` or ``HOST:PORT`` (the master's port defaults to 5557)."""
    host, sep, port = value.rpartition(":")
    if not sep:
        return value, DEFAULT_MASTER_PORT
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--worker wants HOST or HOST:PORT, got {value!r}")
    return host, int(port)


def run_worker(opts: "RehearsalOptions", master: str) -> int:
    """Be a Locust worker of the master at ``master`` until it ends the test; the
    exit code of Locust."""
    from loadtest.sale import make_params, plan_sale

    host, port = parse_master(master)
    with tempfile.TemporaryDirectory(prefix="allocator-worker-") as tmp:
        params = make_params(opts, plan_sale(opts), Path(tmp) / "events", None)
        params.forward_events = True
        params_path = Path(tmp) / "params.json"
        params_path.write_text(params.to_json())
        cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--worker",
               "--master-host", host, "--master-port", str(port), "--loglevel", "WARNING",
               "--stop-timeout", stop_timeout(opts)]
        if opts.processes > 1:
            cmd += ["--processes", str(opts.processes)]
        opts.log(f"Locust worker of {host}:{port} ({max(1, opts.processes)} process(es)); "
                 "it ends with the master's test …")
        return subprocess.run(cmd, env=locust_env(params_path)).returncode
