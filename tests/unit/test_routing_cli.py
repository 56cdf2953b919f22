"""``allocator route``: exit 0 planned, 1 unfillable, 2 bad input
(one line on stderr, never a traceback); and ``allocator bench route --json``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from commands.main import main as allocator_main
from routing.network import demo_network_path
from tools.scenario import demo_network_dict

ORDER = {"id": "ORD-1001", "destination": "800001", "promise_days": 2,
         "lines": [{"sku": "PHONE-0000", "qty": 1}, {"sku": "KETTLE-0000", "qty": 2}]}
STOCK = {"stock": {"PHONE-0000": {"WH-CCU": 2, "WH-LKO": 9},
                   "KETTLE-0000": {"WH-CCU": 12, "WH-DEL": 40}}}
MAINS = {"allocator": allocator_main}


def write(tmp_path: Path, name: str, data) -> str:
    path = tmp_path / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


def run(main, argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("entry", sorted(MAINS))
def test_route_planned_prints_plan_json_and_exits_0(entry, tmp_path, capsys):
    argv = ["route", "--network", str(demo_network_path()),
            "--order", write(tmp_path, "order.json", ORDER),
            "--stock", write(tmp_path, "stock.json", STOCK), "--today", "2026-11-23"]
    code, out, err = run(MAINS[entry], argv, capsys)
    assert code == 0 and err == ""
    plan = json.loads(out)
    assert plan["status"] == "planned" and plan["solver"] == "fastpath"
    assert plan["cost"]["total"] == 427.78 and plan["eta_date"] == "2026-11-26"
    assert plan["runner_up"]["extra_cost"] == 74.14
    # CP-SAT on request, same plan
    code, out, _ = run(MAINS[entry], argv + ["--solver", "cpsat"], capsys)
    assert code == 0 and json.loads(out)["cost"] == plan["cost"]
    assert json.loads(out)["solver"] == "cpsat"


def test_route_defaults_to_the_bundled_network_and_demo_stock(tmp_path, capsys):
    order = write(tmp_path, "o.json", {"lines": [{"sku": "PHONE-0000", "qty": 1}],
                                       "destination": "560034"})
    code, out, _ = run(allocator_main, ["route", "--order", order], capsys)
    assert code == 0 and json.loads(out)["status"] == "planned"


def test_route_unfillable_prints_the_shortfall_and_exits_1(tmp_path, capsys):
    order = write(tmp_path, "o.json", {"lines": [{"sku": "PHONE-0000", "qty": 500}],
                                       "destination": "560034"})
    code, out, err = run(allocator_main, ["route", "--order", order], capsys)
    assert code == 1 and err == ""
    plan = json.loads(out)
    assert plan["status"] == "unfillable" and plan["shortfall"]["reason"] == "short_lines"
    assert plan["shortfall"]["backorder_option"]["backorder"][0]["sku"] == "PHONE-0000"


def _bad_network(tmp_path):
    raw = demo_network_dict()
    del raw["warehouses"][0]["lat"]
    return write(tmp_path, "net.json", raw)


BAD = {
    "network not JSON": (lambda t: ["--network", write(t, "n.json", "{oops")], "is not valid JSON"),
    "network missing field": (lambda t: ["--network", _bad_network(t)],
                              "missing required field 'lat'"),
    "network not UTF-8": (lambda t: ["--network", write(t, "n.json", b"\xff\xfe")],
                          "is not UTF-8 text"),
    "network file missing": (lambda t: ["--network", str(t / "nope.json")], "cannot read network"),
    "order file missing": (lambda t: [], "cannot read order file"),
    "order qty zero": (lambda t: ["--order", write(t, "o.json", {
        "lines": [{"sku": "PHONE-0000", "qty": 0}], "destination": "560034"})], "qty must be"),
    "empty order": (lambda t: ["--order", write(t, "o.json", {"lines": [],
                                                               "destination": "560034"})],
                    "an order needs at least one line"),
    "unknown sku": (lambda t: ["--order", write(t, "o.json", {
        "lines": [{"sku": "NOPE-1", "qty": 1}], "destination": "560034"})], "unknown SKU 'NOPE-1'"),
    "unknown pincode": (lambda t: ["--order", write(t, "o.json", {
        "lines": [{"sku": "PHONE-0000", "qty": 1}], "destination": "999999"})],
        "destination pincode '999999' is not served"),
    "stock unknown warehouse": (lambda t: ["--stock", write(t, "s.json", {
        "stock": {"PHONE-0000": {"WH-XYZ": 1}}})], "warehouse is not in network"),
}


@pytest.mark.parametrize("entry", sorted(MAINS))
@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_line_on_stderr(case, entry, tmp_path, capsys):
    extra, expected = BAD[case]
    args = extra(tmp_path)
    if "--order" not in args:
        order = ORDER if case != "order file missing" else None
        args += ["--order", write(tmp_path, "o.json", order) if order else str(tmp_path / "x")]
    code, out, err = run(MAINS[entry], ["route", *args], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err
    assert "Traceback" not in err


def test_installed_console_script_reports_a_bad_file_in_one_line(tmp_path):
    script = Path(sys.executable).with_name("allocator")
    if not script.exists():
        pytest.skip("console script not installed next to this interpreter")
    bad = write(tmp_path, "net.json", '{"zones": [}')
    order = write(tmp_path, "o.json", ORDER)
    proc = subprocess.run([str(script), "route", "--network", bad, "--order", order],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1
    assert "is not valid JSON" in proc.stderr


def test_bench_route_json_has_every_key(capsys):
    code, out, _ = run(allocator_main, ["bench", "route", "--json", "--orders", "25",
                                          "--big-orders", "1"], capsys)
    assert code == 0 and out.count("\n") == 1
    r = json.loads(out)
    for key in ("p50_ms", "p99_ms", "max_ms", "cpsat_p50_ms", "cpsat_p99_ms", "speedup_p99",
                "optimal_agreement", "cpsat_proved_optimal", "batch_filled", "greedy_filled",
                "batch_cost", "greedy_cost", "fcfs_planner_filled", "fcfs_planner_cost",
                "flash_sale_orders", "flash_sale_units", "batch_status", "batch_ms",
                "split_orders", "split_p99_ms", "split_extra_filled", "split_cost_saving",
                "split_orders_compared", "bulk_split_extra_filled", "bulk_split_cost_saving",
                "p99_cpu_ms", "big_p99_cpu_ms",
                "big_p99_ms", "big_max_gap", "wave_ms", "wave_baseline_ms", "wave_speedup",
                "wave_filled", "wave_cost", "wave_status"):
        assert key in r, key
    assert r["orders"] == 25 and r["optimal_agreement"] == 1.0
    assert r["batch_filled"] >= r["greedy_filled"]
    assert set(r["targets"]) == {"p99_ms<=2", "optimal_agreement==1",
                                 "batch_filled>=greedy_filled", "batch_cost<=0.95*greedy_cost",
                                 "big_p99_ms<=20", "big_max_gap<=0.01", "split_extra_filled>0",
                                 "split_cost_saving>=0.03", "wave_ms<=200",
                                 "wave_filled>=greedy_filled"}
    assert r["wave_filled"] >= r["greedy_filled"]
    assert r["wave_speedup"] == pytest.approx(r["wave_baseline_ms"] / r["wave_ms"], rel=0.05)
    assert r["split_orders"] > 0                 # agreement covers split orders too
    assert r["split_orders_compared"] == r["flash_sale_orders"]   # the flash-sale set
    assert 0 <= r["split_cost_saving"] and 0 <= r["bulk_split_cost_saving"]


def test_wave_prints_each_order_against_greedy(tmp_path, capsys):
    orders = write(tmp_path, "orders.json", {"orders": [
        dict(ORDER, id="A"), dict(ORDER, id="B"), dict(ORDER, id="C")]})
    stock = write(tmp_path, "stock.json", STOCK)
    code, out, err = run(allocator_main, ["wave", "--orders", orders, "--stock", stock], capsys)
    r = json.loads(out)
    # PHONE-0000: 11 units, KETTLE-0000: 2 a line, 52 units: all three fill
    assert code == 0 and not err and (r["filled"], r["orders"]) == (3, 3)
    assert [a["order"] for a in r["allocations"]] == ["A", "B", "C"]
    assert all(a["greedy"]["filled"] and a["why"] for a in r["allocations"])
    short = write(tmp_path, "short.json", {"stock": {"PHONE-0000": {"WH-CCU": 1},
                                                      "KETTLE-0000": {"WH-CCU": 12}}})
    code, out, _ = run(allocator_main, ["wave", "--orders", orders, "--stock", short], capsys)
    assert code == 1 and json.loads(out)["filled"] == 1


@pytest.mark.parametrize("body,needle", [({"orders": []}, "non-empty list"),
                                         ({"orders": [dict(ORDER, destination="999999")]},
                                          "999999")])
def test_wave_bad_input_exits_2(body, needle, tmp_path, capsys):
    code, out, err = run(allocator_main, ["wave", "--orders",
                                          write(tmp_path, "o.json", body)], capsys)
    assert code == 2 and not out and err.count("\n") == 1 and needle in err
