"""The rehearsal audit catches a corrupted ledger or a commit clients never heard of."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadtest.audit import audit_rehearsal, outcome_counts, stock_cells
from loadtest.shape import build_stages, burst_window, levels, may_end, stage_at, stop_timeout_s

A, B = ("PHONE-0000", "WH-DEL"), ("EARB-0000", "WH-BLR")
OPS = ("LAMP-0100", "WH-DEL")


def row(on_hand, held=0, committed=0):
    return {"on_hand": on_hand, "held": held, "committed": committed}


BEFORE = {A: row(10), B: row(5), OPS: row(100)}
EVENTS = [
    {"e": "commit", "id": "res_1", "lines": [["PHONE-0000", "WH-DEL", 2]]},
    {"e": "commit", "id": "res_2", "lines": [["PHONE-0000", "WH-DEL", 1],
                                             ["EARB-0000", "WH-BLR", 1]]},
    {"e": "restock", "sku": "EARB-0000", "wh": "WH-BLR", "qty": 3},
    {"e": "sync", "sku": "LAMP-0100", "wh": "WH-DEL", "on_hand": 40, "version": 7},
    {"e": "sync", "sku": "LAMP-0100", "wh": "WH-DEL", "on_hand": 55, "version": 9},
    {"e": "walkaway", "id": "res_3", "key": "k", "expires_ms": 1_000, "lines": []},
]
AFTER = {A: row(10, held=1, committed=3), B: row(8, committed=1), OPS: row(55)}


def run(after=None, events=None, **kw):
    return audit_rehearsal(BEFORE, after or AFTER, EVENTS if events is None else events,
                           ["LAMP-0100"], now_ms=10_000, **kw)


def test_clean_books_pass():
    res = run(pending_expires_ms=[20_000], walkaway_states={"res_3": "expired"},
              ledger_audit={"ok": True, "oversold_units": 0, "shards": {}})
    assert res.ok, res.problems
    assert (res.oversold, res.lost_units, res.leaked_holds) == (0, 0, 0)
    assert res.confirmed_commit_units == res.ledger_committed_units == 4
    assert res.restocked_units == 3 and res.syncs_applied == 2


def test_oversold_cell_is_caught():
    after = copy.deepcopy(AFTER)
    after[A] = row(3, held=1, committed=3)  # on_hand < held + committed
    res = run(after)
    assert not res.ok and res.oversold == 1
    assert any("oversold" in p for p in res.problems)


def test_units_lost_from_on_hand_are_caught():
    after = copy.deepcopy(AFTER)
    after[B] = row(7, committed=1)  # a restocked unit vanished
    res = run(after)
    assert not res.ok and res.lost_units == 1 and res.on_hand_mismatch_units == 1


def test_commit_no_client_was_told_about_is_caught():
    after = copy.deepcopy(AFTER)
    after[A] = row(10, held=0, committed=4)
    res = run(after)
    assert not res.ok and res.commit_mismatch_units == 1


def test_confirmed_commit_missing_from_ledger_is_caught():
    events = EVENTS + [{"e": "commit", "id": "res_9", "lines": [["EARB-0000", "WH-BLR", 2]]}]
    res = run(events=events)
    assert not res.ok and res.commit_mismatch_units == 2


def test_sync_takes_the_newest_applied_version():
    after = copy.deepcopy(AFTER)
    after[OPS] = row(40)  # the older sync won: wrong
    assert run(after).on_hand_mismatch_units == 15


def test_hold_past_its_ttl_is_a_leak():
    res = run(pending_expires_ms=[5_000, 9_500, 30_000])  # 5 s late; 0.5 s is in grace
    assert not res.ok and res.leaked_holds == 1
    res = run(walkaway_states={"res_3": "pending"})
    assert not res.ok and res.leaked_holds == 1


def test_ledger_audit_failure_fails_the_rehearsal():
    res = run(ledger_audit={"ok": False, "oversold_units": 2,
                            "shards": {"shard-00": {"problems": ["held disagrees"]}}})
    assert not res.ok and res.oversold == 2
    assert any("held disagrees" in p for p in res.problems)


def test_touched_cell_missing_from_snapshot_is_reported():
    after = {k: v for k, v in AFTER.items() if k != B}
    assert not run(after).ok


def test_stock_cells_and_outcomes():
    cells = stock_cells({"X": {"WH-DEL": {"on_hand": 3, "held": 1, "committed": 0,
                                          "available": 2, "version": 0}}})
    assert cells == {("X", "WH-DEL"): row(3, 1, 0)}
    counts = outcome_counts([
        {"e": "status", "name": "reserve", "code": 423, "skus": ["X"]},
        {"e": "status", "name": "throttled read", "code": 429, "skus": None},
        {"e": "fail", "name": "commit", "code": 500},
        {"e": "fail", "name": "route", "code": 422},
    ])
    assert counts["kill_switch_423"] == 1 and counts["rate_limited_429"] == 1
    assert counts["server_errors"] == 1 and counts["by_sku"]["423"] == {"X": 1}


@pytest.mark.parametrize("multiple", [1, 2, 8])
def test_shape_visits_every_level_then_drains(multiple):
    stages = build_stages(60, multiple, 10)
    assert levels(8) == [0.2, 1.0, 5.0, 8.0]
    assert stages[-1].label == "drain" and stages[-1].users == 0
    assert stages[-1].end_s == 60
    assert max(s.users for s in stages) == round(multiple * 10)
    assert stage_at(stages, 0).users == 2 and stage_at(stages, 61) is None
    on, off = burst_window(stages)
    assert stage_at(stages, on).users == round(multiple * 10) and on < off
    assert all(a.end_s == b.start_s for a, b in zip(stages, stages[1:]))


@given(t=st.floats(0, 200), flush=st.floats(0, 10), users=st.integers(0, 100),
       timeout=st.floats(1, 60))
def test_a_run_ends_only_once_no_user_can_be_mid_request(t, flush, users, timeout):
    """The load ended at 50 s: the run never stops before the flush, never while a user
    is left (it may be in a request the audit would then miss) unless the stop
    timeout has passed, and always once both are behind it."""
    ends = may_end(t, 50.0, flush, users, timeout)
    if t < 50 + flush:
        assert not ends
    elif users and t < 50 + timeout:
        assert not ends
    else:
        assert ends


def test_stop_timeout_leaves_a_buyer_three_slots():
    assert stop_timeout_s(2.0) == 30.0 and stop_timeout_s(0.05) == 70.0


def test_cancelled_units_of_a_commit_count_against_it():
    events = EVENTS + [{"e": "cancel_lines", "id": "res_2", "lines": [["EARB-0000", "WH-BLR", 1]]}]
    assert run(events=events).commit_mismatch_units == 1  # the ledger still has it
    after = copy.deepcopy(AFTER)
    after[B]["committed"] = 0
    assert run(after=after, events=events).commit_mismatch_units == 0
