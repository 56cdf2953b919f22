"""Every ledger operation and every error, one behaviour per test."""

import numpy as np
import pytest

from allocator.errors import (
    HoldExpired, IdempotencyConflict, IllegalTransition, InsufficientStock, InvalidRequest,
    SkuMoved, StaleVersion, UnknownHold, UnknownSku, UnknownWarehouse,
)
from allocator.ledger import Ledger
from allocator.ops import BatchBuilder, Code, HoldState, OpBatch

TTL = 60_000


@pytest.fixture
def ledger() -> Ledger:
    led = Ledger(["A", "B", "C"], ["W1", "W2"])
    led.restock(1, "A", "W1", 10, 0)
    led.restock(2, "A", "W2", 5, 0)
    led.restock(3, "B", "W1", 3, 0)
    return led


def test_new_ledger_is_empty_and_compact():
    led = Ledger(["A"], ["W1", "W2"])
    assert led.stock("A")["W1"] == {"on_hand": 0, "held": 0, "committed": 0,
                                    "available": 0, "version": 0}
    assert led.bytes_per_cell() == 32


def test_hold_takes_units_from_available(ledger):
    hid = ledger.hold(10, [("A", "W1", 4), ("B", "W1", 1)], now_ms=0, ttl_ms=TTL)
    assert ledger.stock("A")["W1"]["held"] == 4
    assert ledger.stock("A")["W1"]["available"] == 6
    view = ledger.hold_view(hid)
    assert view.state == HoldState.PENDING
    assert view.lines == [("A", "W1", 4), ("B", "W1", 1)]
    assert (view.created_ms, view.expires_ms) == (0, TTL)


def test_hold_is_all_or_nothing(ledger):
    with pytest.raises(InsufficientStock) as err:
        ledger.hold(10, [("A", "W1", 4), ("B", "W1", 4)], now_ms=0, ttl_ms=TTL)
    assert err.value.details["available"] == 3
    assert err.value.details["line"] == 1
    assert ledger.held.sum() == 0


@pytest.mark.parametrize("lines, error", [
    ([], InvalidRequest),
    ([("A", "W1", 0)], InvalidRequest),
    ([("A", "W1", -2)], InvalidRequest),
    ([("A", "W1", 1), ("A", "W1", 1)], InvalidRequest),
    ([("A", "W1", 10_001)], InvalidRequest),
    ([("A", "W1", 1)] + [(s, "W2", 1) for s in "BC"] * 20, InvalidRequest),
    ([("Z", "W1", 1)], UnknownSku),
    ([("A", "W9", 1)], UnknownWarehouse),
])
def test_bad_holds_are_rejected_before_any_change(ledger, lines, error):
    before = ledger.snapshot()
    with pytest.raises(error):
        ledger.hold(10, lines, now_ms=0, ttl_ms=TTL)
    assert np.array_equal(before["stock"]["held"], ledger.held)
    assert ledger.holds.size == 0 and ledger.results.size == before["results"]["code"].size


@pytest.mark.parametrize("ttl", [0, -1, 24 * 3600 * 1000 + 1])
def test_absurd_ttl_is_invalid(ledger, ttl):
    with pytest.raises(InvalidRequest, match="TTL"):
        ledger.hold(10, [("A", "W1", 1)], now_ms=0, ttl_ms=ttl)


def test_negative_op_id_is_invalid(ledger):
    with pytest.raises(InvalidRequest, match="non-negative"):
        ledger.hold(-5, [("A", "W1", 1)], now_ms=0, ttl_ms=TTL)


def test_commit_moves_held_to_committed(ledger):
    hid = ledger.hold(10, [("A", "W1", 4)], 0, TTL)
    ledger.commit(11, hid, 1000)
    a = ledger.stock("A")["W1"]
    assert (a["held"], a["committed"], a["available"]) == (0, 4, 6)
    assert ledger.hold_view(hid).state == HoldState.COMMITTED


def test_release_returns_units(ledger):
    hid = ledger.hold(10, [("A", "W1", 4)], 0, TTL)
    ledger.release(11, hid, 1000)
    assert ledger.stock("A")["W1"]["available"] == 10
    assert ledger.hold_view(hid).state == HoldState.RELEASED


def test_ship_removes_units_from_on_hand(ledger):
    hid = ledger.hold(10, [("A", "W1", 4)], 0, TTL)
    ledger.commit(11, hid, 0)
    ledger.ship(12, hid, 0)
    a = ledger.stock("A")["W1"]
    assert (a["on_hand"], a["committed"], a["available"]) == (6, 0, 6)
    assert ledger.hold_view(hid).state == HoldState.SHIPPED


def test_expire_releases_due_holds_only(ledger):
    h1 = ledger.hold(10, [("A", "W1", 2)], 0, 1000)
    h2 = ledger.hold(11, [("A", "W1", 3)], 0, 5000)
    assert list(ledger.expire(999)) == []
    assert list(ledger.expire(1000)) == [h1]
    assert ledger.hold_view(h1).state == HoldState.EXPIRED
    assert ledger.stock("A")["W1"]["held"] == 3
    assert list(ledger.expire(10_000)) == [h2]
    assert ledger.held.sum() == 0


def test_commit_after_expiry_time_is_expired_even_before_a_sweep(ledger):
    hid = ledger.hold(10, [("A", "W1", 2)], 0, 1000)
    with pytest.raises(HoldExpired):
        ledger.commit(11, hid, 1000)
    assert ledger.hold_view(hid).state == HoldState.EXPIRED
    assert ledger.held.sum() == 0


@pytest.mark.parametrize("first, then", [
    ("release", "commit"), ("commit", "commit"), ("commit", "release"),
    ("release", "release"), ("release", "ship"),
])
def test_illegal_transitions_are_clear_errors(ledger, first, then):
    hid = ledger.hold(10, [("A", "W1", 1)], 0, TTL)
    getattr(ledger, first)(11, hid, 0)
    with pytest.raises(IllegalTransition, match=f"cannot {then}"):
        getattr(ledger, then)(12, hid, 0)


def test_ship_of_pending_hold_is_illegal(ledger):
    hid = ledger.hold(10, [("A", "W1", 1)], 0, TTL)
    with pytest.raises(IllegalTransition) as err:
        ledger.ship(11, hid, 0)
    assert err.value.details["state"] == "pending"


def test_operations_on_expired_hold_say_expired(ledger):
    hid = ledger.hold(10, [("A", "W1", 1)], 0, 100)
    ledger.expire(100)
    for i, op in enumerate(("commit", "release", "ship")):
        with pytest.raises(HoldExpired):
            getattr(ledger, op)(20 + i, hid, 200)


def test_unknown_hold(ledger):
    with pytest.raises(UnknownHold):
        ledger.commit(11, 999, 0)
    with pytest.raises(UnknownHold):
        ledger.hold_view(999)


def test_restock_and_return_add_units(ledger):
    assert ledger.restock(20, "C", "W2", 7, 0) == 7
    assert ledger.restock(21, "C", "W2", 2, 0, is_return=True) == 9
    with pytest.raises(InvalidRequest):
        ledger.restock(22, "C", "W2", 0, 0)


def test_sync_sets_absolute_on_hand_with_versions(ledger):
    assert ledger.sync(20, "A", "W1", 25, version=5, now_ms=0) == 25
    assert ledger.stock("A")["W1"]["version"] == 5
    with pytest.raises(StaleVersion) as err:
        ledger.sync(21, "A", "W1", 30, version=5, now_ms=0)
    assert err.value.details["current_version"] == 5
    assert ledger.stock("A")["W1"]["on_hand"] == 25


def test_sync_below_held_and_committed_is_drift_not_negative_stock(ledger):
    h1 = ledger.hold(10, [("A", "W1", 4)], 0, TTL)
    h2 = ledger.hold(11, [("A", "W1", 3)], 0, TTL)
    ledger.commit(12, h2, 0)
    assert ledger.sync(20, "A", "W1", 2, version=1, now_ms=50) == 7
    a = ledger.stock("A")["W1"]
    assert a["available"] == 0 and a["on_hand"] == 7
    assert ledger.drift.size == 1
    assert int(ledger.drift["missing"][0]) == 5
    assert ledger.cell_ids(int(ledger.drift["cell"][0])) == ("A", "W1")
    assert ledger.hold_view(h1).state == HoldState.PENDING


@pytest.mark.parametrize("on_hand, version", [(-1, 3), (5, 0)])
def test_bad_sync_is_invalid(ledger, on_hand, version):
    with pytest.raises(InvalidRequest):
        ledger.sync(20, "A", "W1", on_hand, version=version, now_ms=0)


def test_replay_returns_the_first_answer(ledger):
    hid = ledger.hold(10, [("A", "W1", 4)], 0, TTL)
    assert ledger.hold(10, [("A", "W1", 4)], 5, TTL) == hid
    assert ledger.stock("A")["W1"]["held"] == 4
    ledger.commit(11, hid, 0)
    assert ledger.commit(11, hid, 0) == hid  # replayed, not an illegal second commit


def test_replay_of_a_refusal_is_the_same_refusal(ledger):
    with pytest.raises(InsufficientStock):
        ledger.hold(10, [("B", "W1", 9)], 0, TTL)
    ledger.restock(11, "B", "W1", 100, 0)
    with pytest.raises(InsufficientStock):
        ledger.hold(10, [("B", "W1", 9)], 0, TTL)


def test_same_op_id_with_another_payload_is_a_conflict(ledger):
    ledger.hold(10, [("A", "W1", 4)], 0, TTL)
    with pytest.raises(IdempotencyConflict):
        ledger.hold(10, [("A", "W1", 5)], 0, TTL)
    with pytest.raises(IdempotencyConflict):
        ledger.restock(10, "A", "W1", 4, 0)


def test_forget_before_drops_old_idempotency_records(ledger):
    ledger.hold(10, [("A", "W1", 1)], 0, TTL)
    ledger.hold(11, [("A", "W1", 1)], 5000, TTL)
    assert ledger.forget_before(1000)["ops"] == 4  # three restocks at t=0 and op 10
    assert ledger.hold(10, [("A", "W1", 1)], 6000, TTL) == 2  # a new hold now


def test_batch_results_carry_codes_and_values(ledger):
    b = BatchBuilder()
    b.hold(10, [(ledger.cell("B", "W1"), 2)], TTL)
    b.hold(11, [(ledger.cell("B", "W1"), 2)], TTL)
    b.commit(12, 0)
    b.commit(13, 77)
    b.hold(14, [], TTL)
    b.hold(10, [(ledger.cell("B", "W1"), 2)], TTL)
    res = ledger.apply(b.build(now_ms=0))
    assert [Code(c) for c in res.code] == [Code.OK, Code.INSUFFICIENT, Code.OK,
                                           Code.UNKNOWN_HOLD, Code.INVALID, Code.OK]
    assert res.value[1] == 1 and res.detail[1] == 0  # one unit was available
    assert list(res.replayed) == [False] * 5 + [True]


def test_vectorised_run_is_fcfs_and_lets_smaller_orders_through():
    led = Ledger(["A"], ["W1"], min_vector_run=1)
    led.restock(1, "A", "W1", 5, 0)
    qtys = np.array([2, 2, 3, 1, 1, 1])
    batch = OpBatch.single_line_holds(np.arange(10, 16), np.zeros(6, np.int64), qtys, TTL, 0)
    res = led.apply(batch)
    assert [Code(c) for c in res.code] == [Code.OK, Code.OK, Code.INSUFFICIENT, Code.OK,
                                           Code.INSUFFICIENT, Code.INSUFFICIENT]
    assert list(res.value[[2, 4, 5]]) == [1, 0, 0]
    assert led.stock("A")["W1"]["held"] == 5


def test_malformed_batch_raises_and_changes_nothing(ledger):
    batch = OpBatch.single_line_holds(np.arange(10, 14), np.zeros(4, np.int64),
                                      np.ones(4, np.int64), TTL, 0)
    batch.line_start[3] = 99
    with pytest.raises(InvalidRequest, match="line ranges"):
        ledger.apply(batch)
    assert ledger.held.sum() == 0


def test_cancel_returns_committed_units(ledger):
    hid = ledger.hold(10, [("A", "W1", 4)], 0, TTL)
    ledger.commit(11, hid, 0)
    ledger.cancel(12, hid, 0)
    a = ledger.stock("A")["W1"]
    assert (a["committed"], a["available"]) == (0, 10)
    assert ledger.hold_view(hid).state == HoldState.RELEASED
    with pytest.raises(IllegalTransition):
        ledger.cancel(13, hid, 0)


def test_transfer_out_moves_only_available_units(ledger):
    ledger.hold(10, [("A", "W1", 4)], 0, TTL)
    with pytest.raises(InsufficientStock):
        ledger.transfer(11, "A", "W1", 7, 0, out=True)
    assert ledger.transfer(12, "A", "W1", 6, 0, out=True) == 4
    assert ledger.stock("A")["W1"]["available"] == 0
    assert ledger.transfer(13, "A", "W2", 3, 0, out=False) == 8


def test_a_moved_sku_takes_no_new_holds_but_old_ones_finish(ledger):
    hid = ledger.hold(10, [("A", "W1", 2)], 0, TTL)
    ledger.set_accepting("A", False)
    with pytest.raises(SkuMoved):
        ledger.hold(11, [("B", "W1", 1), ("A", "W1", 1)], 0, TTL)
    assert ledger.holds.size == 1
    ledger.commit(12, hid, 0)
    ledger.set_accepting("A", True)
    assert ledger.hold(11, [("B", "W1", 1), ("A", "W1", 1)], 0, TTL) == 1  # not recorded
