"""From ``meter.json`` to the verdict: each hold stage (or capacity step) judged
against the SLO, the summary keys, the generator's CPU, the knee.

The hold stages' keys are their levels: ``"0.2x"``, ``"1x"``, ``"5x"``, ``"8x"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from loadtest.cpu import stage_cpu
from loadtest.meter import Meter
from loadtest.shape import settle_s
from loadtest.verdict import (SearchPlan, Slo, StageResult, capacity, generator_warning,
                              judge, run_reasons)


@dataclass
class Outcome:
    """What :func:`analyse` found."""

    results: list[StageResult]  # hold stages, or capacity steps, in order
    reasons: list[str]  # why the load part fails (empty: it held)
    warnings: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)  # summary.json keys
    knee: dict[str, Any] | None = None  # {"t", "label", "rps"} for the chart


def _phase_end(meter: Meter, phases: list[dict[str, Any]], i: int) -> float:
    if i + 1 < len(phases):
        return float(phases[i + 1]["start"])
    return float(max(meter.seconds, default=int(phases[i]["start"])) + 1)


def hold_results(meter: Meter, slo: Slo, rps_per_buyer: float) -> list[StageResult]:
    """Each hold stage judged over its steady window (the hold minus its settle)."""
    out = []
    phases = meter.phases
    for i, ph in enumerate(phases):
        if not str(ph.get("label", "")).startswith("hold"):
            continue
        start, end = float(ph["start"]), _phase_end(meter, phases, i)
        w = meter.window(start + settle_s(end - start, rps_per_buyer), end)
        out.append(judge(ph["level"], float(ph["offered_rps"]), w, slo))
    return out


def step_results(meter: Meter, slo: Slo) -> list[tuple[dict[str, Any], StageResult]]:
    """Each capacity step judged again on the complete data."""
    out = []
    for ph in meter.phases:
        if not str(ph.get("label", "")).startswith("step") or "measure_to" not in ph:
            continue
        if ph.get("held") is None:  # the run ended before the step was judged
            continue
        w = meter.window(float(ph["measure_from"]), float(ph["measure_to"]))
        res = judge(f"{ph['offered_rps']:g} req/s", float(ph["offered_rps"]), w, slo)
        out.append((ph, res))
    return out


def _by_level(results: list[StageResult], attr: str) -> dict[str, Any]:
    return {r.label: getattr(r, attr) for r in results}


def analyse(meter: Meter, slo: Slo, *, rps_per_buyer: float, multiple: float,
            peak_rps: float, expected_levels: list[str], processes: int,
            find_capacity: bool, plan: SearchPlan | None = None,
            audit_ok: bool = True, audit_problems: list[str] | None = None,
            total_requests: int = 0, total_failures: int = 0,
            samples: list[dict[str, float]] = (), shared_machine: bool = False) -> Outcome:
    """Judge the run; ``fields`` holds the summary.json keys of the verdict.
    ``samples`` (with ``machine_cpu_pct``) give each stage's CPU use of this machine;
    ``shared_machine``: the stack under test runs on it too."""
    problems = audit_problems or []
    warnings: list[str] = []
    fields: dict[str, Any] = {"slo_p99_ms": slo.p99_ms, "max_error_rate": slo.max_error_rate,
                              "min_achieved_ratio": slo.min_achieved_ratio,
                              "rps_per_buyer": round(rps_per_buyer, 4),
                              "expected_peak_rps": round(peak_rps, 2)}
    knee = None
    if not find_capacity:
        results = hold_results(meter, slo, rps_per_buyer)
        reasons = run_reasons(results, audit_ok, problems, total_requests, total_failures, slo)
        missing = [lv for lv in expected_levels if lv not in {r.label for r in results}]
        reasons += [f"{lv}: the stage never ran (the load ended early)" for lv in missing]
        fields.update(stage_rps=_by_level(results, "achieved_rps"),
                      stage_offered_rps=_by_level(results, "offered_rps"),
                      stage_sent_rps=_by_level(results, "sent_rps"),
                      stage_p99_ms=_by_level(results, "p99_ms"),
                      stage_error_rate={r.label: round(r.error_rate, 5) for r in results},
                      stage_held=_by_level(results, "held"))
        first_bad = next((r for r in results if not r.held), None)
        if first_bad is not None:
            ph = next(p for p in meter.phases if p.get("level") == first_bad.label
                      and str(p["label"]).startswith("hold"))
            knee = {"t": float(ph["start"]), "rps": first_bad.offered_rps,
                    "label": f"SLO missed at {first_bad.label}"}
    else:
        judged = step_results(meter, slo)
        results = [r for _, r in judged]
        history = [(float(ph["planned_rps"]), r.held) for ph, r in judged]
        cap_planned, bounded = capacity(history)
        offered_of = {float(ph["planned_rps"]): (ph, r) for ph, r in judged}
        cap = offered_of[cap_planned][1] if cap_planned is not None else None
        required = round(multiple * peak_rps, 1)
        fields.update(capacity_rps=cap.offered_rps if cap else None,
                      capacity_achieved_rps=cap.achieved_rps if cap else None,
                      capacity_p99_ms=cap.p99_ms if cap else None,
                      capacity_bounded=bounded, required_rps=required,
                      capacity_steps=[dict(r.to_dict(), planned_rps=ph["planned_rps"],
                                           users=ph["users"]) for ph, r in judged])
        reasons = [f"audit: {p}" for p in problems[:10]] if not audit_ok else []
        if not audit_ok and not problems:
            reasons.append("audit: not clean")
        if cap is None:
            reasons.append("no step held its offered load"
                           + (f" (the lowest tried: {min(h[0] for h in history):g} req/s)"
                              if history else ""))
        elif cap.offered_rps < required:
            reasons.append(f"capacity {cap.offered_rps:g} req/s < {multiple:g}x the peak "
                           f"({required:g} req/s)")
        if not bounded and cap is not None:
            warnings.append(f"no step failed up to {cap.offered_rps:g} req/s: the capacity "
                            "is a lower bound (raise --capacity-max-rps)")
        fails = [(ph, r) for ph, r in judged if not r.held
                 and (cap_planned is None or float(ph["planned_rps"]) > cap_planned)]
        if fails:  # the first step that missed, in time
            ph, r = fails[0]
            knee = {"t": float(ph["start"]), "rps": cap.offered_rps if cap else 0.0,
                    "label": f"knee: {cap.offered_rps if cap else 0:g} req/s held "
                             f"(first miss: {r.offered_rps:g} req/s)"}
        if plan is not None:
            fields["capacity_search"] = {"start_rps": plan.start_rps, "factor": plan.factor,
                                         "max_rps": plan.max_rps}
    cores = max((r.generator_cpu_cores for r in results), default=0.0)
    fields["generator_cpu_cores"] = cores
    warn = generator_warning(results, processes)
    fields["generator_saturated"] = warn is not None
    if warn:
        warnings.append(warn)
    busy = machine_busy(samples, results)
    fields["stage_machine_cpu_pct"] = busy
    fields["stage_cpu_cores"], fields["stage_cpu_us_per_request"] = stage_cpu(
        list(samples), {r.label: r.window for r in results},
        {r.label: r.achieved_rps for r in results})
    hot = {k: v for k, v in busy.items() if v >= 90}
    if hot and shared_machine:
        warnings.append("this machine's cores were saturated at " + ", ".join(
            f"{k} ({v:g} %)" for k, v in hot.items()) + ": the generator and the stack "
            "share them, so these figures are this machine's, not the system's")
    lagging = [r for r in results if r.offered_rps > 0 and r.sent_rps < 0.95 * r.offered_rps]
    if lagging:
        warnings.append("the generator sent less than it offered at "
                        + ", ".join(f"{r.label} ({r.sent_rps:g} of {r.offered_rps:g} req/s)"
                                    for r in lagging)
                        + ": buyers waited on slow answers past their schedule, or the "
                        "generator ran out of CPU")
    return Outcome(results, reasons, warnings, fields, knee)


def machine_busy(samples: list[dict[str, float]], results: list[StageResult]
                 ) -> dict[str, float]:
    """Mean CPU use of this machine (all cores, %) over each judged window."""
    out = {}
    for r in results:
        vals = [x["machine_cpu_pct"] for x in samples if "machine_cpu_pct" in x
                and r.window[0] <= x["t"] < r.window[1]]
        if vals:
            out[r.label] = round(sum(vals) / len(vals), 1)
    return out
