"""``allocator rehearse``: run a flash-sale rehearsal end to end.

1. Without ``host``: start the stack (Ray head, embedded Redis, directory and shards,
   the API in a uvicorn process) and seed the sale's stock. With ``host``: use it.
2. Snapshot the stock of every SKU in play over HTTP.
3. Run Locust headless (``loadtest/locustfile.py``, the shape of
   :mod:`loadtest.shape` or, with ``find_capacity``, a search for the knee),
   ``--processes N`` or as the master of ``expect_workers`` workers when asked, while
   a sampler records units held/committed every second and a timer flips the kill
   switch on the hottest SKU in the middle of the top burst.
4. Let walk-away holds expire, snapshot again and audit (:mod:`loadtest.audit`).
5. Judge each stage against the SLO (:mod:`loadtest.analysis`), write the report
   folder and return the summary (``verdict`` pass/fail, with its ``reasons``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import httpx

from loadtest.analysis import analyse
from loadtest.audit import audit_rehearsal, outcome_counts, stock_cells
from loadtest.generator import load_seconds, locust_cmd, locust_env
from loadtest.options import RehearsalOptions
from loadtest.meter import Meter
from loadtest.report import (locust_totals, stage_rates, write_chart, write_samples,
                             write_summary)
from loadtest.sale import LOCAL_KEYS, Sale, make_params, plan_sale
from loadtest.shape import build_stages, burst_window

if TYPE_CHECKING:
    from stack.local import LocalStack

HERE = Path(__file__).resolve().parent


def start_local_stack(opts: RehearsalOptions, stock: dict[str, list[int]],
                      keys: dict[str, dict[str, Any]]) -> "LocalStack":
    """The whole stack on this machine, the sale's stock seeded, rate limits off."""
    from stack.local import LocalStack

    return LocalStack(stock, env={"ALLOCATOR_API_KEYS": json.dumps(keys),
                                  "ALLOCATOR_API_RATE": "0"},
                      shards=opts.shards, api_workers=opts.api_workers, log=opts.log)


class UnreachableTarget(Exception):
    """The API under test could not be read before the load began (its address, or
    the key that reads its inventory)."""


def unreachable(exc: httpx.HTTPError, host: str) -> UnreachableTarget:
    """What to tell the user when the first read of ``host`` failed."""
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code
        if code in (401, 403):
            return UnreachableTarget(f"{host} refused the read key (HTTP {code}): give "
                                     "--ops-key or --admin-key, a key that may read inventory")
        return UnreachableTarget(f"{host} answered HTTP {code} to GET {exc.request.url.path}")
    return UnreachableTarget(f"cannot reach {host}: {exc or type(exc).__name__}")


def snapshot(client: httpx.Client, skus: list[str]) -> dict[tuple[str, str], dict[str, int]]:
    inv = {}
    for sku in skus:
        r = client.get(f"/v1/inventory/{sku}")
        r.raise_for_status()
        inv[sku] = r.json()["warehouses"]
    return stock_cells(inv)


def read_events(directory: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted(directory.glob("events-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                try:
                    out.append(json.loads(line))
                except ValueError:  # a torn last line of a killed process
                    pass
    return out


class Sampler(threading.Thread):
    def __init__(self, poll: Callable[[], dict[str, int]], every_s: float = 1.0) -> None:
        super().__init__(name="rehearse-sampler", daemon=True)
        self.poll, self.every_s = poll, every_s
        self.samples: list[dict[str, float]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        import psutil

        from loadtest.cpu import PartCpu

        parts = PartCpu()
        psutil.cpu_percent()  # the first call only starts the count
        while not self.stop_event.is_set():
            try:
                self.samples.append(dict(self.poll(), t=time.time(),
                                         machine_cpu_pct=psutil.cpu_percent(),
                                         cpu_s=parts.read()))
            except Exception:  # noqa: BLE001 - a missed sample is fine
                pass
            self.stop_event.wait(self.every_s)


def rehearse(opts: RehearsalOptions) -> dict[str, Any]:
    log = opts.log
    out = Path(opts.out or Path("reports") / time.strftime("rehearsal-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    events_dir = out / "events"
    shutil.rmtree(events_dir, ignore_errors=True)
    events_dir.mkdir()

    sale = plan_sale(opts)
    stack: "LocalStack | None" = None
    if opts.host is None:
        stock = {s: [opts.hot_stock if s in sale.hot else opts.stock] * len(sale.warehouses)
                 for s in sale.sale}
        stock.update({s: [opts.stock] * len(sale.warehouses) for s in sale.ops_skus})
        shards = "1 shard" if opts.shards == 1 else f"{opts.shards} shards"
        log(f"starting Ray, Redis, {shards} and the API …")
        stack = start_local_stack(opts, stock, LOCAL_KEYS)
        host = stack.url
    else:
        host = opts.host.rstrip("/")
    try:
        return _run(opts, out, events_dir, host, stack, sale)
    finally:
        if stack is not None:
            log("stopping the stack …")
            stack.stop()


def _run(opts: RehearsalOptions, out: Path, events_dir: Path, host: str,
         stack: "LocalStack | None", plan: Sale) -> dict[str, Any]:
    log = opts.log
    sale, hot, ops_skus = plan.sale, plan.hot, plan.ops_skus
    admin_key = plan.admin_key
    read_key = admin_key or plan.ops_key
    params = make_params(opts, plan, events_dir, out / "meter.json")
    params_path = out / "params.json"
    params_path.write_text(params.to_json())
    stages = build_stages(opts.duration_s, opts.multiple, opts.peak_users,
                          rps_per_buyer=opts.rps_per_buyer)

    client = httpx.Client(base_url=host, timeout=30,
                          headers={"Authorization": f"Bearer {read_key}"})
    try:
        before = snapshot(client, sale + ops_skus)
    except httpx.HTTPError as exc:
        raise unreachable(exc, host) from exc

    if stack is not None:
        poll = stack.totals
    else:
        def poll() -> dict[str, int]:
            t = {"held": 0, "committed": 0, "on_hand": 0}
            for sku in hot:
                row = client.get(f"/v1/inventory/{sku}").json()["totals"]
                for k in t:
                    t[k] += row[k]
            return t
    sampler = Sampler(poll)

    kill: dict[str, Any] = {}
    marks: list[tuple[float, str]] = []
    kill_on, kill_off = burst_window(stages)
    done = threading.Event()

    def kill_switch(start: float) -> None:
        if not admin_key or not opts.kill_switch or opts.find_capacity:
            return
        admin = httpx.Client(base_url=host, timeout=10,
                             headers={"Authorization": f"Bearer {admin_key}"})
        with admin:
            if done.wait(max(0.0, start + kill_on - time.time())):
                return  # the load ended before the burst
            r = admin.put("/v1/admin/kill-switch", json={"on": True, "skus": [hot[0]]})
            kill.update(sku=hot[0], on_ts=time.time(), on_status=r.status_code)
            marks.append((time.time(), f"kill switch on {hot[0]}"))
            done.wait(max(0.0, start + kill_off - time.time()))
            r = admin.put("/v1/admin/kill-switch", json={"on": False, "skus": [hot[0]]})
            kill.update(off_ts=time.time(), off_status=r.status_code)
            marks.append((time.time(), "kill switch off"))

    prefix = out / "locust"
    cmd = locust_cmd(opts, host, out)
    if opts.expect_workers > 0:
        log(f"waiting for {opts.expect_workers} worker(s) on port {opts.master_port} "
            "(the same command with --worker THIS_HOST on each) …")
    env = locust_env(params_path)
    if opts.find_capacity:
        plan = opts.plan()
        log(f"searching the capacity against {host}: after {opts.warmup_s:g} s of warm-up, "
            f"from {plan.start_rps:g} req/s, x{plan.factor:g} a step of {opts.step_s:g} s, "
            f"until a step misses the SLO (p99 {opts.slo_p99_ms:g} ms) …")
    else:
        log(f"running Locust for {opts.duration_s:g} s: up to {opts.multiple:g}x the peak of "
            f"{opts.peak_rps:g} req/s ({max(s.users for s in stages)} buyers, "
            f"{max(s.offered_rps for s in stages):g} req/s offered) against {host} …")
    sampler.start()
    start = time.time()
    killer = threading.Thread(target=kill_switch, args=(start,), daemon=True)
    killer.start()
    with (out / "locust.log").open("w") as logf:
        proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=load_seconds(opts) + 180
                           + (600 if opts.expect_workers else 0))
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
    end = time.time()
    done.set()
    killer.join(timeout=15)
    if kill.get("on_ts") and not kill.get("off_ts"):  # Locust ended early: never leave it on
        with httpx.Client(base_url=host, timeout=10,
                          headers={"Authorization": f"Bearer {admin_key}"}) as admin:
            r = admin.put("/v1/admin/kill-switch", json={"on": False, "skus": [hot[0]]})
            kill.update(off_ts=time.time(), off_status=r.status_code)

    # let every walk-away hold reach its TTL and the expiry sweep pass
    log("letting held units expire, then auditing …")
    settle_until = end + opts.ttl_s + 1.5
    while time.time() < settle_until:
        if stack is not None and not stack.pending_expiries():
            break
        time.sleep(0.5)
    time.sleep(1.0)
    sampler.stop_event.set()
    sampler.join(timeout=5)

    events = read_events(events_dir)
    after = snapshot(client, sale + ops_skus)
    now_ms = int(time.time() * 1000)
    kw: dict[str, Any] = {}
    if stack is not None:
        kw["pending_expires_ms"] = stack.pending_expiries()
        kw["ledger_audit"] = stack.audit()
    else:
        states = {}
        by_key = {}
        for ev in events:
            if ev.get("e") == "walkaway":
                by_key[ev["id"]] = ev["key"]
        for rid, key in by_key.items():
            r = client.get(f"/v1/reservations/{rid}", headers={"Authorization": f"Bearer {key}"})
            states[rid] = r.json().get("state") if r.status_code == 200 else f"HTTP {r.status_code}"
        kw["walkaway_states"] = states
    client.close()
    result = audit_rehearsal(before, after, events, ops_skus, now_ms=now_ms, **kw)
    counts = outcome_counts(events)
    totals = locust_totals(prefix)

    if kill.get("on_ts"):
        on, off = kill["on_ts"], kill.get("off_ts", end)
        kill["seconds"] = round(off - on, 1)
        kill["rejected"] = sum(1 for e in events if e.get("e") == "status" and e["code"] == 423)
        kill["rejected_other_skus"] = sum(
            1 for e in events if e.get("e") == "status" and e["code"] == 423
            and kill["sku"] not in (e.get("skus") or ()))
        kill["commits_during"] = sum(1 for e in events if e.get("e") == "commit"
                                     and on <= e["ts"] <= off)
        if kill["rejected_other_skus"]:
            result.problems.append(f"{kill['rejected_other_skus']} kill-switch refusals "
                                   "of SKUs that were not switched off")
    samples = sampler.samples
    write_samples(samples, out / "samples.csv")
    failures = totals["failures"]
    meter = Meter.load(out / "meter.json")
    outcome = analyse(meter, opts.slo(), rps_per_buyer=opts.rps_per_buyer,
                      multiple=opts.multiple, peak_rps=opts.peak_rps,
                      expected_levels=sorted({s.level for s in stages if s.level},
                                             key=lambda lv: float(lv[:-1])),
                      processes=max(opts.processes, opts.expect_workers),
                      find_capacity=opts.find_capacity, plan=opts.plan(),
                      audit_ok=result.ok, audit_problems=result.problems,
                      total_requests=totals["requests"], total_failures=failures,
                      samples=samples, shared_machine=stack is not None)
    for w in outcome.warnings:
        log(f"WARNING: {w}")
    chart = None
    title = (f"capacity search, SLO p99 {opts.slo_p99_ms:g} ms" if opts.find_capacity else
             f"rehearsal {opts.multiple:g}x the peak of {opts.peak_rps:g} req/s, "
             f"{opts.duration_s:g} s")
    try:
        chart = write_chart(prefix, samples, out / "chart.png", marks, title=title,
                            meter=meter, knee=outcome.knee,
                            capacity_rps=outcome.fields.get("capacity_rps"),
                            judged=outcome.results, slo_p99_ms=opts.slo_p99_ms)
    except Exception as exc:  # noqa: BLE001 - the audit still stands without a chart
        log(f"chart failed: {exc}")

    summary: dict[str, Any] = {
        "verdict": "fail" if outcome.reasons else "pass",
        "reasons": outcome.reasons, "warnings": outcome.warnings,
        "mode": "find-capacity" if opts.find_capacity else "stages",
        "peak_multiple": opts.multiple,
        "duration_s": round(end - start, 1) if opts.find_capacity else opts.duration_s,
        "peak_users": opts.peak_users, "max_users": totals["max_users"],
        "host": host, "started_stack": stack is not None,
        "api_workers": opts.api_workers if stack is not None else None,
        "shards": opts.shards if stack is not None else None,
        "locust_processes": opts.processes,
        "locust_workers": opts.expect_workers,
        "rps": totals["rps"], "peak_rps": totals["peak_rps"],
        "p50_ms": totals["p50_ms"], "p99_ms": totals["p99_ms"],
        "requests": totals["requests"], "failures": failures,
        "server_errors": counts["server_errors"],
        "rate_limited_429": counts["rate_limited_429"],
        "overloaded_503": counts["overloaded_503"],
        "kill_switch_423": counts["kill_switch_423"],
        "sold_out_409": counts["sold_out_409"],
        "oversold": result.oversold, "lost_units": result.lost_units,
        "leaked_holds": result.leaked_holds, "audit_ok": result.ok,
        **outcome.fields,
        "stage_results": [r.to_dict() for r in outcome.results],
        "audit": result.to_dict(), "outcomes": counts, "kill_switch": kill,
        "stages": stage_rates(prefix, stages) if not opts.find_capacity else [],
        "by_request": totals["by_request"], "locust_exit_code": rc,
        "report_dir": str(out.resolve()),
        "files": {"html": "report.html", "csv": "locust_stats.csv",
                  "history_csv": "locust_stats_history.csv", "samples_csv": "samples.csv",
                  "meter": "meter.json", "chart": "chart.png" if chart else None,
                  "summary": "summary.json"},
    }
    write_summary(summary, out / "summary.json")
    return summary
