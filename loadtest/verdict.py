"""Did each stage hold its offered load within the objective? And where is the knee?

A hold stage *holds* when, over its steady window,

* the server answered at least ``min_achieved_ratio`` (95 %) of the offered rate,
* the p99 latency of what it answered is within ``p99_ms`` (the SLO),
* failed and shed requests (429/503) are at most ``max_error_rate`` of the total.

Each miss is a reason, printed with the verdict. The stock audit is a separate,
hard gate (see :mod:`loadtest.audit`): a rehearsal passes only when both hold.
``--find-capacity`` steps the offered rate with :func:`next_step` until a step fails
and reports the highest rate that held (:func:`capacity`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SATURATED_CORES = 0.9  # a gevent process cannot use more than one core


@dataclass(frozen=True)
class Slo:
    """What a stage must achieve to hold."""

    p99_ms: float = 100.0
    max_error_rate: float = 0.001
    min_achieved_ratio: float = 0.95

    def __post_init__(self) -> None:
        if not self.p99_ms > 0:
            raise ValueError("the p99 objective must be positive (ms)")
        if not 0 <= self.max_error_rate < 1:
            raise ValueError("the maximum error rate must be in [0, 1)")
        if not 0 < self.min_achieved_ratio <= 1:
            raise ValueError("the minimum achieved ratio must be in (0, 1]")


@dataclass
class StageResult:
    """One judged stage (or capacity step)."""

    label: str
    offered_rps: float
    achieved_rps: float
    sent_rps: float
    p99_ms: float | None
    error_rate: float
    requests: int
    generator_cpu_cores: float = 0.0
    busiest_process_cores: float = 0.0
    reasons: list[str] = field(default_factory=list)
    window: tuple[float, float] = (0.0, 0.0)  # wall-clock seconds measured

    @property
    def held(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["held"] = self.held
        d["error_rate"] = round(self.error_rate, 5)
        return d


def stage_reasons(offered_rps: float, achieved_rps: float, p99_ms: float | None,
                  error_rate: float, requests: int, slo: Slo) -> list[str]:
    """Why a stage did not hold (empty when it did)."""
    out: list[str] = []
    if requests <= 0:
        return ["no buyer request was answered"]
    if offered_rps > 0 and achieved_rps < slo.min_achieved_ratio * offered_rps:
        out.append(f"achieved {achieved_rps:g} req/s is {100 * achieved_rps / offered_rps:.0f} % "
                   f"of the {offered_rps:g} offered (< {100 * slo.min_achieved_ratio:g} %)")
    if p99_ms is None or p99_ms > slo.p99_ms:
        out.append(f"p99 {p99_ms} ms > SLO {slo.p99_ms:g} ms")
    if error_rate > slo.max_error_rate:
        out.append(f"errors {100 * error_rate:.2f} % > {100 * slo.max_error_rate:g} %")
    return out


def judge(label: str, offered_rps: float, window: Any, slo: Slo) -> StageResult:
    """A :class:`loadtest.meter.Window` measured while ``offered_rps`` was offered."""
    requests = window.answered + window.shed + window.failed
    return StageResult(
        label=label, offered_rps=round(offered_rps, 1), achieved_rps=window.achieved_rps,
        sent_rps=window.sent_rps, p99_ms=window.p99_ms, error_rate=window.error_rate,
        requests=requests, generator_cpu_cores=window.generator_cpu_cores,
        busiest_process_cores=window.busiest_process_cores,
        window=(window.start, window.end),
        reasons=stage_reasons(offered_rps, window.achieved_rps, window.p99_ms,
                              window.error_rate, window.answered, slo))


def generator_warning(results: list[StageResult], processes: int) -> str | None:
    """A warning when a generator process ran at (almost) a full core in some stage:
    then the achieved rate may be the generator's limit, not the server's."""
    hot = [r for r in results if r.busiest_process_cores >= SATURATED_CORES]
    if not hot:
        return None
    r = max(hot, key=lambda x: x.busiest_process_cores)
    return (f"load generator saturated: a Locust process used {r.busiest_process_cores:g} "
            f"cores at {r.label} ({r.generator_cpu_cores:g} cores in all, {processes} "
            "process(es)); the figures may be the generator's limit: add --processes, or "
            "workers on other machines (--expect-workers/--worker)")


def run_reasons(stages: list[StageResult], audit_ok: bool, audit_problems: list[str],
                total_requests: int, total_failures: int, slo: Slo) -> list[str]:
    """Every reason the rehearsal fails: audit problems first, then each stage's."""
    out: list[str] = []
    if not audit_ok:
        out += [f"audit: {p}" for p in audit_problems[:10]] or ["audit: not clean"]
    if total_requests <= 0:
        out.append("no request was answered")
    elif total_failures > slo.max_error_rate * total_requests:
        out.append(f"{total_failures} failed requests in {total_requests} "
                   f"(> {100 * slo.max_error_rate:g} %)")
    for st in stages:
        out += [f"{st.label}: {r}" for r in st.reasons]
    return out


# --- capacity search -------------------------------------------------------------------

@dataclass(frozen=True)
class SearchPlan:
    """How ``--find-capacity`` steps the offered rate."""

    start_rps: float
    factor: float = 1.25  # each step offers this much more until one fails
    max_rps: float = 100_000.0
    precision: float = 0.05  # then bisect until pass and fail are this close
    max_refinements: int = 2
    min_rps: float = 1.0

    def __post_init__(self) -> None:
        if not self.start_rps > 0 or not self.factor > 1 or self.max_rps < self.start_rps:
            raise ValueError("a capacity search needs start > 0, factor > 1, max >= start")


def next_step(history: list[tuple[float, bool]], plan: SearchPlan) -> float | None:
    """The next offered rate to try given ``(rate, held)`` so far, or None: done.

    Up by ``factor`` while steps hold (to ``max_rps``); down by it while they fail (to
    ``min_rps``); then at most ``max_refinements`` geometric bisections between the
    highest rate that held and the lowest that failed above it."""
    if not history:
        return plan.start_rps
    fails = [r for r, ok in history if not ok]
    passes = [r for r, ok in history if ok]
    if not fails:
        last = max(passes)
        if last >= plan.max_rps:
            return None
        return min(last * plan.factor, plan.max_rps)
    hi = min(fails)
    below = [r for r in passes if r < hi]
    if not below:
        nxt = hi / plan.factor
        return None if nxt < plan.min_rps else nxt
    lo = max(below)
    refinements = sum(1 for r, _ in history if not _on_ladder(r, plan))
    if hi / lo - 1 <= plan.precision or refinements >= plan.max_refinements:
        return None
    return math.sqrt(lo * hi)


def _on_ladder(rate: float, plan: SearchPlan) -> bool:
    """Whether ``rate`` is one of the coarse steps start × factor^k (or the max)."""
    if abs(rate / plan.max_rps - 1) < 1e-3:
        return True
    k = math.log(rate / plan.start_rps) / math.log(plan.factor)
    return abs(k - round(k)) < 0.01  # rates are kept to 2 decimals; bisections are k ± 1/4


def capacity(history: list[tuple[float, bool]]) -> tuple[float | None, bool]:
    """``(capacity_rps, bounded)``: the highest rate that held below the lowest that
    failed (``bounded`` True), or the highest that held when none failed (a lower
    bound: ``bounded`` False). None when no step held."""
    fails = [r for r, ok in history if not ok]
    passes = [r for r, ok in history if ok]
    if not fails:
        return (max(passes) if passes else None), False
    below = [r for r in passes if r < min(fails)]
    return (max(below) if below else None), True
