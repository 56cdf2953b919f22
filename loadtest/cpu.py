"""Where this machine's CPU goes during a rehearsal: the rehearsal's own processes
(everything it started, directly or not) grouped by part of the system, as cumulative
CPU seconds; :func:`stage_cpu` turns the samples into cores and µs per request per
stage. A part that runs elsewhere (``--host``) is simply absent.
"""

from __future__ import annotations

from typing import Any, Iterable

import psutil

PARTS = ("api", "shards", "redis", "ray", "generator", "runner")


def part_of(cmdline: str) -> str:
    """The part of the system a process of the rehearsal belongs to, by command line."""
    if "ShardActor" in cmdline:  # base shards and hot-SKU actors alike
        return "shards"
    if "locust" in cmdline:
        return "generator"
    if "uvicorn" in cmdline:
        return "api"
    if "redis-server" in cmdline:
        return "redis"
    if "ray" in cmdline:  # raylet, GCS, dashboard, the directory and other Ray workers
        return "ray"
    return "runner"


class PartCpu:
    """Cumulative CPU seconds by part of the processes under this one; a process that
    has exited keeps its last reading (so a part's total never goes down)."""

    def __init__(self, root: psutil.Process | None = None) -> None:
        self.root = root or psutil.Process()
        self.seen: dict[tuple[int, float], tuple[str, float]] = {}

    def _procs(self) -> Iterable[psutil.Process]:
        yield self.root
        try:
            yield from self.root.children(recursive=True)
        except psutil.Error:
            return

    def _part(self, p: psutil.Process) -> str:
        """By command line; a process whose own says nothing (a uvicorn or Locust
        worker started by ``multiprocessing``) takes its parent's part."""
        if p.pid == self.root.pid:
            return "runner"
        part = part_of(" ".join(p.cmdline()))
        if part == "runner":
            parent = p.parent()
            if parent is not None and parent.pid != self.root.pid:
                return self._part(parent)
        return part

    def read(self) -> dict[str, float]:
        for p in self._procs():
            try:
                with p.oneshot():
                    key = (p.pid, p.create_time())  # a reused pid is another process
                    part = self.seen[key][0] if key in self.seen else self._part(p)
                    t = p.cpu_times()
                    self.seen[key] = (part, t.user + t.system)
            except psutil.Error:
                continue
        out = dict.fromkeys(PARTS, 0.0)
        for part, seconds in self.seen.values():
            out[part] += seconds
        return {k: round(v, 3) for k, v in out.items()}


def stage_cpu(samples: list[dict[str, Any]], windows: dict[str, tuple[float, float]],
              achieved_rps: dict[str, float]) -> tuple[dict[str, dict[str, float]],
                                                       dict[str, dict[str, float]]]:
    """Per stage: the cores each part used over its window (from the first and last
    sample inside it) and its CPU µs per answered request."""
    cores: dict[str, dict[str, float]] = {}
    per_request: dict[str, dict[str, float]] = {}
    for label, (t0, t1) in windows.items():
        inside = [s for s in samples if "cpu_s" in s and t0 <= s["t"] <= t1]
        if len(inside) < 2:
            continue
        a, b = inside[0], inside[-1]
        span = b["t"] - a["t"]
        if span <= 0:
            continue
        used = {k: max(0.0, b["cpu_s"].get(k, 0.0) - a["cpu_s"].get(k, 0.0)) / span
                for k in b["cpu_s"]}
        cores[label] = {k: round(v, 3) for k, v in used.items() if v > 0}
        rps = achieved_rps.get(label) or 0.0
        if rps > 0:
            per_request[label] = {k: round(v / rps * 1e6) for k, v in used.items() if v > 0}
    return cores, per_request
