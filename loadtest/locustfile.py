"""Locust entry point of ``allocator rehearse`` (parameters: ``$REHEARSE_PARAMS``).

Only Locust processes import this (Locust monkey-patches the standard library with
gevent on import, which the rehearsal runner, a Ray driver, must not get).

Besides the users and the load shape it wires the meter (:mod:`loadtest.meter`): every
process samples its CPU once a second and counts its buyers' requests; workers ship
their seconds (and, on another machine, the audit's events) with each stats report;
the master, or the single local process, merges them and writes ``meter.json``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import gevent
from locust import LoadTestShape, events
from locust.runners import MasterRunner, WorkerRunner

from allocator.gctune import freeze_long_lived
from loadtest.params import Params
from loadtest.shape import build_stages, buyers_for, may_end, settle_s, stage_at, stop_timeout_s
from loadtest.users import METER, REC, FlashSaleUser  # noqa: F401
from loadtest.verdict import SearchPlan, Slo, judge, next_step

_p = Params.load()
if _p.ops_users > 0:
    from loadtest.users import OpsUser  # noqa: F401
if _p.throttled_users > 0 and _p.throttled_key:
    from loadtest.users import ThrottledUser  # noqa: F401

_state: dict[str, Any] = {"role": "local", "stopped": False}
RAMP_S = 2.0  # a capacity step's ramp


def _write_meter() -> None:
    if _p.meter_path and _state["role"] != "worker":
        METER.write(_p.meter_path)


@events.spawning_complete.add_listener
def _on_spawned(**_: Any) -> None:
    freeze_long_lived()  # the users just spawned live until the stage ends


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    freeze_long_lived()  # a full collection would stall every buyer (allocator.gctune)
    runner = environment.runner
    role = ("worker" if isinstance(runner, WorkerRunner)
            else "master" if isinstance(runner, MasterRunner) else "local")
    _state["role"] = role

    def sample_cpu() -> None:
        while True:
            METER.sample_cpu()
            gevent.sleep(1.0)

    gevent.spawn(sample_cpu)
    if role == "worker":
        def on_report(client_id: str, data: dict[str, Any]) -> None:
            data["rh_meter"] = METER.drain()
            if REC.forward:
                data["rh_events"] = REC.take()

        environment.events.report_to_master.add_listener(on_report)
    elif role == "master":
        def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
            METER.absorb(data.get("rh_meter") or {})
            evs = data.get("rh_events")
            if evs:
                safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in client_id)
                path = Path(_p.record_dir) / f"events-worker-{safe}.jsonl"
                with path.open("a") as fh:
                    fh.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in evs)
            if _state["stopped"]:
                _write_meter()  # a late report after the stop

        environment.events.worker_report.add_listener(on_worker_report)


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, response_length: int,
                response: Any = None, exception: Any = None, **_: Any) -> None:
    status = getattr(response, "status_code", 0) or 0
    METER.answered(name, response_time, status, failed=exception is not None)


@events.test_stop.add_listener
def _on_test_stop(environment: Any, **_: Any) -> None:
    _state["stopped"] = True
    _write_meter()


@events.quitting.add_listener
def _on_quitting(environment: Any, **_: Any) -> None:
    _write_meter()


def _fixed_users() -> int:
    return max(0, _p.ops_users) + (max(0, _p.throttled_users) if _p.throttled_key else 0)


def _may_end(shape: LoadTestShape, t: float, load_end: float,
             flush_s: float = _p.flush_s) -> bool:
    """Whether the run may stop: see :func:`loadtest.shape.may_end`."""
    return may_end(t, load_end, flush_s, shape.get_current_user_count(),
                   stop_timeout_s(_p.rps_per_buyer))


class RehearsalShape(LoadTestShape):
    """baseline → 1× → 5× → N× the peak, ramps and holds, then drain (loadtest.shape);
    each stage change is logged in the meter's phases."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = build_stages(_p.duration_s, _p.multiple, _p.peak_users, _p.baseline,
                                   rps_per_buyer=_p.rps_per_buyer)
        self.fixed = _fixed_users()
        self.current: str | None = None

    def tick(self):  # type: ignore[override]
        t = self.get_run_time()
        s = stage_at(self.stages, t)
        if s is None:
            if not _may_end(self, t, _p.duration_s):
                return 0, self.stages[-1].spawn_rate  # the drain's: one ramp-down
            return None
        if s.label != self.current:
            self.current = s.label
            METER.phases.append({"label": s.label, "level": s.level, "start": time.time(),
                                 "offered_rps": s.offered_rps, "users": s.users,
                                 "multiple": s.multiple})
            if METER.t0 is None:
                METER.t0 = METER.phases[0]["start"]
        if s.label == "drain":
            return 0, s.spawn_rate
        return s.users + self.fixed, max(s.spawn_rate, float(self.fixed))


class CapacityShape(LoadTestShape):
    """``--find-capacity``: a warm-up (``warmup_s`` at half the first step's rate, not
    judged: a stack that just started is not measured cold), then steps of offered
    load chosen by :func:`loadtest.verdict.next_step`, each judged as soon as it ends
    (with the workers' reports: a few seconds later in distributed mode)."""

    def __init__(self) -> None:
        super().__init__()
        self.plan = SearchPlan(start_rps=_p.capacity_start_rps, factor=_p.capacity_factor,
                               max_rps=_p.capacity_max_rps)
        self.slo = Slo(_p.slo_p99_ms, _p.max_error_rate, _p.min_achieved_ratio)
        self.fixed = _fixed_users()
        self.history: list[tuple[float, bool]] = []
        self.step: dict[str, Any] | None = None
        self.users = 0
        self.done_at: float | None = None
        self.warm_until: float | None = None

    def _start_warmup(self) -> None:
        users = buyers_for(self.plan.start_rps / 2, _p.rps_per_buyer)
        now = time.time()
        self.warm_until = now + _p.warmup_s
        METER.phases.append({"label": "warm-up", "level": "", "start": now,
                             "offered_rps": round(users * _p.rps_per_buyer, 2),
                             "users": users, "multiple": 0.0})
        METER.t0 = now
        self.spawn = max(1.0, users / RAMP_S, float(self.fixed))
        self.users = users

    def _start_step(self, rate: float, t: float) -> None:
        users = buyers_for(rate, _p.rps_per_buyer)
        now = time.time()
        hold_start = now + RAMP_S
        self.step = {"label": f"step {len(self.history) + 1}", "level": "",
                     "planned_rps": round(rate, 2),
                     "offered_rps": round(users * _p.rps_per_buyer, 2),
                     "users": users, "start": now, "hold_start": hold_start,
                     "measure_from": hold_start + settle_s(_p.step_s, _p.rps_per_buyer),
                     "measure_to": hold_start + _p.step_s, "multiple": 0.0}
        METER.phases.append(self.step)
        if METER.t0 is None:
            METER.t0 = now
        self.spawn = max(1.0, abs(users - self.users) / RAMP_S, float(self.fixed))
        self.users = users

    def tick(self):  # type: ignore[override]
        t = self.get_run_time()
        if self.done_at is not None:
            if not _may_end(self, t, self.done_at, max(2.0, _p.flush_s)):
                return 0, max(1.0, self.users / 2.0)
            return None
        if self.step is None:
            if _p.warmup_s > 0 and self.warm_until is None:
                self._start_warmup()
            elif self.warm_until is None or time.time() >= self.warm_until:
                self._start_step(self.plan.start_rps, t)
        elif time.time() >= self.step["measure_to"] + (4.0 if _state["role"] == "master" else 0.5):
            w = METER.window(self.step["measure_from"], self.step["measure_to"])
            res = judge(self.step["label"], self.step["offered_rps"], w, self.slo)
            self.step.update(end=self.step["measure_to"], held=res.held, reasons=res.reasons)
            self.history.append((self.step["planned_rps"], res.held))
            nxt = next_step(self.history, self.plan)
            if nxt is None:
                self.done_at = t
                METER.phases.append({"label": "drain", "level": "", "start": time.time(),
                                     "offered_rps": 0.0, "users": 0, "multiple": 0.0})
                return 0, max(1.0, self.users / 2.0)
            self._start_step(nxt, t)
        return self.users + self.fixed, self.spawn


if _p.find_capacity:
    del RehearsalShape  # Locust takes the one shape class the file defines
else:
    del CapacityShape
