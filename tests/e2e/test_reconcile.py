"""Reconciliation over HTTP and from the command line: injected drift of each kind is
caught, only the safe corrections are applied, each difference is a drift event with
its cause, the totals reach /metrics; and a scheduled round writes its report."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from allocator.config import Keys
from storage.events import EventStream
from storage.redis import connect

from tests.support.http import assert_problem, key, restock

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WH = "WH-BLR"


def cell(http, sku):
    return http.get(f"/v1/inventory/{sku}").json()["warehouses"][WH]


@pytest.fixture
def four_skus(http, ops_http, skus):
    """match, in flight (2 committed, WMS 2 fewer), shrinkage (WMS 5 fewer, nothing
    committed), phantom (WMS 3 more): 10 on hand each."""
    names = skus.take(4)
    for sku in names:
        restock(ops_http, sku, WH, 10)
    r = http.post("/v1/reservations", headers=key(),
                  json={"lines": [{"sku": names[1], "warehouse": WH, "qty": 2}]})
    assert r.status_code == 201, r.text
    assert http.post(f"/v1/reservations/{r.json()['id']}/commit",
                     headers=key()).status_code == 200
    wms = {names[0]: 10, names[1]: 8, names[2]: 5, names[3]: 13}
    return names, wms


def test_each_kind_of_drift_is_caught_and_only_the_safe_ones_fixed(http, ops_http,
                                                                  four_skus, cluster):
    names, wms = four_skus
    counts = [{"sku": s, "warehouse": WH, "on_hand": n} for s, n in wms.items()]
    dry = ops_http.post("/v1/inventory/reconcile", json={"counts": counts, "dry_run": True})
    assert dry.status_code == 200, dry.text
    assert cell(http, names[2])["on_hand"] == 10  # a dry run changes nothing

    r = ops_http.post("/v1/inventory/reconcile", json={"counts": counts})
    assert r.status_code == 200, r.text
    report = r.json()
    causes = {f["sku"]: f["cause"] for f in report["findings"]}
    assert [causes[s] for s in names] == ["match", "in_flight_shipment",
                                          "unexplained_shrinkage", "phantom_stock"]
    assert report["summary"]["corrected"] == 1 and report["summary"]["drift_incidents"] == 2
    assert [cell(http, s)["on_hand"] for s in names] == [10, 10, 5, 10]  # only shrinkage

    stream = EventStream(connect(cluster.redis_url), Keys())
    drift = [e for _, e in stream.read(count=100_000)
             if e.get("type") == "drift" and e.get("sku") in names]
    assert {(e["sku"], e["cause"]) for e in drift} == {
        (names[1], "in_flight_shipment"), (names[2], "unexplained_shrinkage"),
        (names[3], "phantom_stock")}

    accepted = ops_http.post("/v1/inventory/reconcile", json={
        "counts": [{"sku": names[3], "warehouse": WH, "on_hand": 13}],
        "accept_increases": True})
    assert accepted.json()["summary"]["corrected"] == 1
    assert cell(http, names[3])["on_hand"] == 13
    metrics = ops_http.get("/metrics").text
    assert 'allocator_drift_cells_total{cause="unexplained_shrinkage"}' in metrics


def test_bad_counts_are_refused_whole(http, ops_http, skus):
    sku = skus.take()[0]
    one = {"sku": sku, "warehouse": WH, "on_hand": 1}
    assert_problem(ops_http.post("/v1/inventory/reconcile", json={"counts": [one, one]}),
                   422, "validation")
    assert_problem(ops_http.post("/v1/inventory/reconcile", json={
        "counts": [{"sku": "NOPE", "warehouse": WH, "on_hand": 1}]}), 422, "unknown-sku")
    assert_problem(http.post("/v1/inventory/reconcile", json={"counts": [one]}),
                   403, "forbidden")


def test_the_command_posts_counts_and_writes_the_report(server, ops_http, skus, tmp_path):
    sku = skus.take()[0]
    restock(ops_http, sku, WH, 7)
    counts = tmp_path / "counts.csv"
    counts.write_text(f"sku,warehouse,on_hand\n{sku},{WH},4\n")
    out = tmp_path / "reports"
    run = subprocess.run([sys.executable, "-m", "commands", "reconcile", "--counts",
                          str(counts), "--api", server, "--key", "test-ops-key", "--out",
                          str(out)], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["unexplained_shrinkage"] == 1 and summary["corrected"] == 1
    rows = list(csv.DictReader(open(next(out.glob("*.csv")))))
    assert rows[0]["sku"] == sku and rows[0]["cause"] == "unexplained_shrinkage"
    bad = subprocess.run([sys.executable, "-m", "commands", "reconcile", "--counts",
                          str(tmp_path / "missing.csv"), "--api", server],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 2 and "cannot read counts" in bad.stderr


def test_a_scheduled_round_reads_its_source_and_writes_a_report(svc, client, skus, tmp_path):
    from tests.support.cluster import restock as restock_direct

    sku = skus.take()[0]
    restock_direct(client, sku, WH, 6)
    source = tmp_path / "wms.json"
    source.write_text(json.dumps({"counts": [{"sku": sku, "warehouse": WH, "on_hand": 6}]}))
    report = svc.run(svc.services.reconciler.tick(str(source), tmp_path / "out"))
    assert report["summary"]["match"] == 1
    assert len(list((tmp_path / "out").glob("*.json"))) == 1
