"""Shadow mode: a generated order log beside a legacy flow's decisions, and hand-made
decisions that exercise every column of the report."""

from __future__ import annotations

import csv
import json
from datetime import date

import pytest

from allocator.catalog import demo_catalog
from allocator.errors import InvalidRequest
from commands.main import main as allocator_main
from routing import Order, Router, demo_network
from routing.availability import demo_stock
from tools.legacy import nearest_stocked
from tools.shadow import Decision, compare, parse_decisions, summarise

TODAY = date(2026, 12, 1)
NET, CAT = demo_network(), demo_catalog()
STOCK = demo_stock(CAT, NET, seed=3)
ROUTER = Router(NET, CAT)


def test_a_generated_log_with_its_report(tmp_path, capsys):
    assert allocator_main(["shadow", "--generate", "60", "--out", str(tmp_path), "--json",
                           "--today", TODAY.isoformat()]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["orders"] == 60 and summary["not_priced"] == 0
    assert summary["same_choice"] + summary["different_choice"] > 0
    # the legacy choices are priced by our model, where our plan is the optimum
    assert summary["orders_cheaper_with_legacy"] == 0
    rows = list(csv.DictReader(open(tmp_path / "shadow.csv")))
    assert len(rows) == 60 and all(float(r["cost_diff"]) >= 0 for r in rows if r["cost_diff"])
    assert "Orders decided differently" in (tmp_path / "index.html").read_text()


def order(sku: str, qty: int = 1, dest: str = "110001", oid: str = "O1") -> Order:
    return Order.from_dict({"id": oid, "destination": dest, "lines": [{"sku": sku, "qty": qty}]})


def stocked_sku() -> str:
    return next(s for s in CAT.sku_ids if STOCK.rows([s])[0].sum() >= 5)


def test_same_choice_and_a_dearer_legacy_choice():
    o = order(stocked_sku())
    ours = ROUTER.plan(o, STOCK, today=TODAY)
    same = Decision("O1", tuple((l.sku, s.warehouse, l.qty) for s in ours.shipments
                                for l in s.lines))
    row = compare(ROUTER, o, STOCK, same, TODAY)
    assert row["same_choice"] and row["cost_diff"] == 0 and row["eta_diff_days"] == 0
    legacy = nearest_stocked(o, STOCK, NET)
    row = compare(ROUTER, o, STOCK, Decision("O1", tuple(legacy)), TODAY)
    assert row["legacy"] == "filled" and row["cost_diff"] >= 0


def test_fill_differences_and_decisions_that_cannot_be_priced():
    sku = stocked_sku()
    empty = CAT.sku_ids[-1]
    stock = STOCK.copy()
    stock.matrix[stock.sku_ids.index(empty)] = 0  # the snapshot has none of it
    row = compare(ROUTER, order(sku), stock, Decision("O1", ()), TODAY)
    assert (row["ours"], row["legacy"]) == ("filled", "unfilled")
    row = compare(ROUTER, order(empty), stock, Decision("O1", ((empty, "WH-DEL", 1),)), TODAY)
    assert (row["ours"], row["legacy"]) == ("unfillable", "filled")
    assert row["legacy_cost"] > 0  # priced on the units the legacy flow says it had
    assert "not in the network" in compare(ROUTER, order(sku), STOCK,
                                           Decision("O1", ((sku, "WH-XYZ", 1),)), TODAY)["note"]
    assert "every unit" in compare(ROUTER, order(sku, 2), STOCK,
                                   Decision("O1", ((sku, "WH-DEL", 1),)), TODAY)["note"]
    rows = [compare(ROUTER, order(sku), stock, Decision("O1", ()), TODAY),
            compare(ROUTER, order(empty), stock, Decision("O1", ((empty, "WH-DEL", 1),)),
                    TODAY)]
    s = summarise(rows)
    assert s["ours_filled_legacy_not"] == 1 and s["legacy_filled_ours_not"] == 1


def test_bad_decisions_name_the_row():
    with pytest.raises(InvalidRequest, match=r"decisions\[1\]"):
        parse_decisions([{"order_id": "A", "lines": []}, {"lines": []}])
