"""``allocator rehearse``: run a flash-sale rehearsal end to end.

1. Without ``host``: start the stack (Ray head, embedded Redis, directory and shards,
   the API in a uvicorn process) and seed the sale's stock. With ``host``: use it.
2. Snapshot the stock of every SKU in play over HTTP.
3. Run Locust headless (``loadtest/locustfile.py``, the shape of
   :mod:`loadtest.shape`), ``--processes N`` when asked, while a sampler records
   units held/committed every second and a timer flips the kill switch on the
   hottest SKU in the middle of the top burst.
4. Let walk-away holds expire, snapshot again and audit (:mod:`loadtest.audit`).
5. Write the report folder and return the summary (``verdict`` pass/fail).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import httpx

from loadtest.audit import audit_rehearsal, outcome_counts, stock_cells
from loadtest.params import Params
from loadtest.report import (locust_totals, stage_rates, write_chart, write_samples,
                             write_summary)
from loadtest.shape import build_stages, burst_window

if TYPE_CHECKING:
    from stack.local import LocalStack

HERE = Path(__file__).resolve().parent


@dataclass
class RehearsalOptions:
    multiple: float = 8.0
    duration_s: float = 60.0
    peak_users: int = 10
    host: str | None = None
    out: Path | None = None
    processes: int = 1  # Locust worker processes (1: a single process)
    skus: int = 200  # sale SKUs (the first of the catalog), hottest first
    hot: int = 3
    hot_stock: int = 40  # units per warehouse of each hot SKU (they sell out)
    stock: int = 100  # units per warehouse of the other sale SKUs
    ttl_s: float = 10.0
    kill_switch: bool = True
    throttled: bool = True
    shards: int = 2
    api_workers: int = 1
    wait_min_s: float = 0.05
    wait_max_s: float = 0.5
    # --host mode: the keys to use (none generated there)
    checkout_keys: list[str] = field(default_factory=list)
    ops_key: str = ""
    admin_key: str = ""
    throttled_key: str = ""
    log: Callable[[str], None] = lambda msg: None


def _destinations() -> list[str]:
    path = Path(__file__).resolve().parent.parent / "routing" / "data" / "demo_network.json"
    try:
        data = json.loads(path.read_text())
        return [d["pincode"] for d in data["destinations"]]
    except (OSError, KeyError, ValueError):
        return ["110001", "400001", "560001"]


def start_local_stack(opts: RehearsalOptions, stock: dict[str, list[int]],
                      keys: dict[str, dict[str, Any]]) -> "LocalStack":
    """The whole stack on this machine, the sale's stock seeded, rate limits off."""
    from stack.local import LocalStack

    return LocalStack(stock, env={"ALLOCATOR_API_KEYS": json.dumps(keys),
                                  "ALLOCATOR_API_RATE": "0"},
                      shards=opts.shards, api_workers=opts.api_workers, log=opts.log)


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
        for line in path.read_text().splitlines():
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
        while not self.stop_event.is_set():
            try:
                self.samples.append(dict(self.poll(), t=time.time()))
            except Exception:  # noqa: BLE001 - a missed sample is fine
                pass
            self.stop_event.wait(self.every_s)


def rehearse(opts: RehearsalOptions) -> dict[str, Any]:
    from allocator.catalog import demo_catalog

    log = opts.log
    out = Path(opts.out or Path("reports") / time.strftime("rehearsal-%Y%m%d-%H%M%S"))
    out.mkdir(parents=True, exist_ok=True)
    events_dir = out / "events"
    shutil.rmtree(events_dir, ignore_errors=True)
    events_dir.mkdir()

    catalog = demo_catalog()
    sale = catalog.sku_ids[:opts.skus]
    hot = sale[:opts.hot]
    ops_skus = catalog.sku_ids[opts.skus:opts.skus + 5]
    warehouses = list(catalog.warehouse_ids)
    stack: LocalStack | None = None
    if opts.host is None:
        keys = {f"rehearse-shop-{i}": {"name": f"shop-{i}", "scopes": ["checkout", "read"],
                                       "rate": 0} for i in range(8)}
        keys["rehearse-ops"] = {"name": "wms", "scopes": ["ops", "read"], "rate": 0}
        keys["rehearse-admin"] = {"name": "oncall", "scopes": ["admin", "ops", "checkout",
                                                               "read"], "rate": 0}
        keys["rehearse-throttled"] = {"name": "scraper", "scopes": ["checkout", "read"],
                                      "rate": 2, "burst": 2}
        checkout_keys = [k for k in keys if k.startswith("rehearse-shop-")]
        ops_key, admin_key, throttled_key = "rehearse-ops", "rehearse-admin", "rehearse-throttled"
        stock = {s: [opts.hot_stock if s in hot else opts.stock] * len(warehouses)
                 for s in sale}
        stock.update({s: [opts.stock] * len(warehouses) for s in ops_skus})
        log(f"starting Ray, Redis, {opts.shards} shards and the API …")
        stack = start_local_stack(opts, stock, keys)
        host = stack.url
    else:
        host = opts.host.rstrip("/")
        checkout_keys = opts.checkout_keys or ["dev-checkout-key"]
        ops_key = opts.ops_key or "dev-ops-key"
        admin_key, throttled_key = opts.admin_key, opts.throttled_key
    if not opts.throttled:
        throttled_key = ""
    try:
        return _run(opts, out, events_dir, host, stack, sale, hot, ops_skus, warehouses,
                    checkout_keys, ops_key, admin_key, throttled_key)
    finally:
        if stack is not None:
            log("stopping the stack …")
            stack.stop()


def _run(opts: RehearsalOptions, out: Path, events_dir: Path, host: str,
         stack: LocalStack | None, sale: list[str], hot: list[str], ops_skus: list[str],
         warehouses: list[str], checkout_keys: list[str], ops_key: str, admin_key: str,
         throttled_key: str) -> dict[str, Any]:
    log = opts.log
    read_key = admin_key or ops_key
    params = Params(record_dir=str(events_dir), sale_skus=sale, hot_skus=hot,
                    ops_skus=ops_skus, warehouses=warehouses, destinations=_destinations(),
                    checkout_keys=checkout_keys, ops_key=ops_key, throttled_key=throttled_key,
                    ttl_s=opts.ttl_s, wait_min_s=opts.wait_min_s, wait_max_s=opts.wait_max_s,
                    duration_s=opts.duration_s, multiple=opts.multiple,
                    peak_users=opts.peak_users)
    params_path = out / "params.json"
    params_path.write_text(params.to_json())
    stages = build_stages(opts.duration_s, opts.multiple, opts.peak_users)

    client = httpx.Client(base_url=host, timeout=30,
                          headers={"Authorization": f"Bearer {read_key}"})
    before = snapshot(client, sale + ops_skus)

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
        if not admin_key or not opts.kill_switch:
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
    cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "locustfile.py"), "--headless",
           "--host", host, "--csv", str(prefix), "--html", str(out / "report.html"),
           "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "10"]
    if opts.processes > 1:
        cmd += ["--processes", str(opts.processes)]
    env = dict(os.environ, REHEARSE_PARAMS=str(params_path),
               PYTHONPATH=os.pathsep.join(filter(None, [str(HERE.parent),
                                                        os.environ.get("PYTHONPATH")])))
    env.pop("RAY_ADDRESS", None)
    log(f"running Locust for {opts.duration_s:g} s: up to {opts.multiple:g}x peak "
        f"({max(s.users for s in stages)} buyers) against {host} …")
    sampler.start()
    start = time.time()
    killer = threading.Thread(target=kill_switch, args=(start,), daemon=True)
    killer.start()
    with (out / "locust.log").open("w") as logf:
        proc = subprocess.Popen(cmd, env=env, stdout=logf, stderr=subprocess.STDOUT)
        try:
            rc = proc.wait(timeout=opts.duration_s + 120)
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
    chart = None
    try:
        chart = write_chart(prefix, samples, out / "chart.png", marks,
                            title=f"rehearsal {opts.multiple:g}x peak, {opts.duration_s:g} s")
    except Exception as exc:  # noqa: BLE001 - the audit still stands without a chart
        log(f"chart failed: {exc}")

    failures = totals["failures"]
    clean = (result.ok and failures == 0 and counts["server_errors"] == 0
             and totals["requests"] > 0)
    summary: dict[str, Any] = {
        "verdict": "pass" if clean else "fail",
        "peak_multiple": opts.multiple, "duration_s": opts.duration_s,
        "peak_users": opts.peak_users, "max_users": totals["max_users"],
        "host": host, "started_stack": stack is not None, "locust_processes": opts.processes,
        "rps": totals["rps"], "peak_rps": totals["peak_rps"],
        "p50_ms": totals["p50_ms"], "p99_ms": totals["p99_ms"],
        "requests": totals["requests"], "failures": failures,
        "server_errors": counts["server_errors"],
        "rate_limited_429": counts["rate_limited_429"],
        "overloaded_503": counts["overloaded_503"],
        "kill_switch_423": counts["kill_switch_423"],
        "sold_out_409": counts["sold_out_409"],
        "oversold": result.oversold, "lost_units": result.lost_units,
        "leaked_holds": result.leaked_holds,
        "audit": result.to_dict(), "outcomes": counts, "kill_switch": kill,
        "stages": stage_rates(prefix, stages),
        "by_request": totals["by_request"], "locust_exit_code": rc,
        "report_dir": str(out.resolve()),
        "files": {"html": "report.html", "csv": "locust_stats.csv",
                  "history_csv": "locust_stats_history.csv", "samples_csv": "samples.csv",
                  "chart": "chart.png" if chart else None, "summary": "summary.json"},
    }
    write_summary(summary, out / "summary.json")
    return summary
