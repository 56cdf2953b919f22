"""The demo's summary and the CLI's entry points (in-process)."""

import json

from commands.main import main
from tools.demo import run_demo


def test_demo_sells_out_hot_skus_without_overselling():
    s = run_demo(buyers=4000, seed=3)
    assert s.audit_ok and s.oversold_units == 0
    assert s.orders == s.buyers == 4000
    assert s.holds_accepted + s.holds_refused == s.orders
    assert s.commits > s.releases > 0 and s.expiries > 0 and s.shipped > 0
    # every accepted hold ends committed, released or expired (the clock runs past TTL)
    assert s.commits + s.releases + s.expiries == s.holds_accepted
    assert s.hot_units_sold <= s.hot_units_initial + s.units_restocked
    assert "oversold units" in s.render()


def test_cli_demo_json(capsys):
    assert main(["demo", "--buyers", "500", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["oversold_units"] == 0 and out["buyers"] == 500


def test_cli_bench_core_prints_one_json_with_its_baseline(capsys):
    assert main(["bench", "core", "--json", "--lines", "20000"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("lines_per_s", "baseline_lines_per_s", "ratio", "bytes_per_cell"):
        assert out[key] > 0
    assert out["results_match"] is True and out["bytes_per_cell"] <= 32
