"""What the load generator offered and what the server answered, second by second.

Every Locust process that runs users keeps a :class:`Meter`: per wall-clock second,
the buyer requests it *sent* (one per scheduled arrival), the ones answered *ok*
(2xx and the business refusals 409/410/423), *shed* (429/503) and *failed* (any
other status, a transport error), a latency histogram of the answered ones, and the
CPU the process used. Workers ship their seconds to the master with each stats report
(Locust's ``report_to_master``/``worker_report`` events); the master (or the single
local process) merges them, lets the load shape judge steps while the test runs
(``--find-capacity``), and writes ``meter.json`` for the runner.

Only buyer requests (``BUYER_NAMES``) are metered: the SLO is the checkout's; the
fixed ops and throttled users are reported by Locust's own statistics.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUYER_NAMES = frozenset({"route", "reserve", "amend", "commit", "release", "cancel_lines"})
SHED_CODES = frozenset({429, 503})
_LOG_STEP = math.log(1.02)  # latency buckets 2 % wide


def bucket_of(ms: float) -> int:
    """The histogram bucket of a latency: 0 below 1 ms, else ceil(log_1.02(ms))."""
    return 0 if ms <= 1.0 else int(math.ceil(math.log(ms) / _LOG_STEP - 1e-9))


def bucket_ms(index: int) -> float:
    """The upper bound (ms) of a bucket."""
    return 1.0 if index <= 0 else math.exp(index * _LOG_STEP)


def percentile(hist: dict[int, int], q: float) -> float | None:
    """The ``q`` quantile (0..1) of a bucket histogram, as the bucket's upper bound."""
    total = sum(hist.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for idx in sorted(hist):
        seen += hist[idx]
        if seen >= rank:
            return round(bucket_ms(idx), 1)
    return round(bucket_ms(max(hist)), 1)


@dataclass
class Second:
    """One wall-clock second of one or more processes."""

    sent: int = 0
    ok: int = 0
    shed: int = 0
    failed: int = 0
    hist: dict[int, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # process id -> CPU seconds used

    def merge(self, other: "Second") -> None:
        self.sent += other.sent
        self.ok += other.ok
        self.shed += other.shed
        self.failed += other.failed
        for k, v in other.hist.items():
            self.hist[k] = self.hist.get(k, 0) + v
        for k, v in other.cpu.items():
            self.cpu[k] = self.cpu.get(k, 0.0) + v

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "ok": self.ok, "shed": self.shed, "failed": self.failed,
                "hist": {str(k): v for k, v in self.hist.items()},
                "cpu": {k: round(v, 3) for k, v in self.cpu.items()}}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Second":
        return cls(sent=int(d.get("sent", 0)), ok=int(d.get("ok", 0)),
                   shed=int(d.get("shed", 0)), failed=int(d.get("failed", 0)),
                   hist={int(k): int(v) for k, v in (d.get("hist") or {}).items()},
                   cpu={k: float(v) for k, v in (d.get("cpu") or {}).items()})


@dataclass
class Window:
    """A meter window summed up: the rates and the latency of what was answered."""

    seconds: int
    sent_rps: float
    achieved_rps: float
    shed: int
    failed: int
    answered: int
    p50_ms: float | None
    p99_ms: float | None
    cpu_by_process: dict[str, float]  # mean cores used per generator process
    start: float = 0.0  # the whole seconds measured: [start, end)
    end: float = 0.0

    @property
    def error_rate(self) -> float:
        """Failed and shed requests over all the requests that came back."""
        total = self.answered + self.shed + self.failed
        return (self.shed + self.failed) / total if total else 0.0

    @property
    def generator_cpu_cores(self) -> float:
        return round(sum(self.cpu_by_process.values()), 2)

    @property
    def busiest_process_cores(self) -> float:
        return round(max(self.cpu_by_process.values(), default=0.0), 2)


class Meter:
    """Per-second counters of one process, or merged from several."""

    def __init__(self) -> None:
        self.seconds: dict[int, Second] = {}
        self.phases: list[dict[str, Any]] = []  # the shape's stages as they happened
        self.t0: float | None = None  # wall clock of the shape's start
        self._cpu_last: tuple[int, float] | None = None  # (pid, CPU seconds) last sampled

    def _at(self, ts: float) -> Second:
        sec = int(ts)
        s = self.seconds.get(sec)
        if s is None:
            s = self.seconds[sec] = Second()
        return s

    def sent(self, ts: float | None = None) -> None:
        """A buyer request leaves (one scheduled arrival)."""
        self._at(time.time() if ts is None else ts).sent += 1

    def answered(self, name: str, response_time_ms: float, status: int,
                 failed: bool, ts: float | None = None) -> None:
        """A request came back (Locust's ``request`` event)."""
        if name not in BUYER_NAMES:
            return
        s = self._at(time.time() if ts is None else ts)
        if failed:
            s.failed += 1
        elif status in SHED_CODES:
            s.shed += 1
        else:
            s.ok += 1
            b = bucket_of(response_time_ms)
            s.hist[b] = s.hist.get(b, 0) + 1

    def sample_cpu(self, now: float | None = None) -> None:
        """Add the CPU seconds this process used since the previous sample (call it
        about once a second)."""
        now = time.time() if now is None else now
        t = os.times()
        used, pid = t.user + t.system, os.getpid()
        if self._cpu_last is not None and self._cpu_last[0] == pid:  # not across a fork
            proc = f"{socket.gethostname()}:{pid}"
            cpu = self._at(now).cpu
            cpu[proc] = cpu.get(proc, 0.0) + max(0.0, used - self._cpu_last[1])
        self._cpu_last = (pid, used)

    def drain(self, before: float | None = None) -> dict[str, Any]:
        """Remove and return the seconds older than ``before`` (all when None)."""
        cut = None if before is None else int(before)
        keys = [k for k in self.seconds if cut is None or k < cut]
        return {str(k): self.seconds.pop(k).to_dict() for k in sorted(keys)}

    def absorb(self, data: dict[str, Any]) -> None:
        """Merge seconds shipped by :meth:`drain` (another process's)."""
        for k, d in data.items():
            self._at(int(k)).merge(Second.from_dict(d))

    def window(self, start: float, end: float) -> Window:
        """Sum the whole seconds inside [start, end)."""
        secs = [s for s in range(math.ceil(start), math.floor(end)) if s + 1 <= end]
        n = len(secs)
        tot = Second()
        cpu_sum: dict[str, float] = {}
        for sec in secs:
            s = self.seconds.get(sec)
            if s is None:
                continue
            tot.merge(Second(sent=s.sent, ok=s.ok, shed=s.shed, failed=s.failed, hist=s.hist))
            for k, v in s.cpu.items():
                cpu_sum[k] = cpu_sum.get(k, 0.0) + v
        return Window(seconds=n, sent_rps=round(tot.sent / n, 1) if n else 0.0,
                      achieved_rps=round(tot.ok / n, 1) if n else 0.0,
                      shed=tot.shed, failed=tot.failed, answered=tot.ok,
                      p50_ms=percentile(tot.hist, 0.50), p99_ms=percentile(tot.hist, 0.99),
                      cpu_by_process={k: round(v / n, 2) for k, v in cpu_sum.items()} if n else {},
                      start=float(secs[0]) if secs else start,
                      end=float(secs[-1] + 1) if secs else start)

    def to_dict(self) -> dict[str, Any]:
        return {"t0": self.t0, "phases": self.phases,
                "seconds": {str(k): v.to_dict() for k, v in sorted(self.seconds.items())}}

    def write(self, path: str | Path) -> None:
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(self.to_dict(), separators=(",", ":")))
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> "Meter":
        m = cls()
        p = Path(path)
        if not p.exists():
            return m
        data = json.loads(p.read_text())
        m.t0 = data.get("t0")
        m.phases = list(data.get("phases") or [])
        m.absorb(data.get("seconds") or {})
        return m
