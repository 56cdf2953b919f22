"""Amend, drop lines and reallocate on one ledger: the units, the states, the refusals."""

from __future__ import annotations

import numpy as np
import pytest

from allocator.audit import audit
from allocator.errors import IllegalTransition, InsufficientStock, ReservationChanged
from allocator.ledger import Ledger
from allocator.ops import HoldState, OpKind

V1 = (1 << 32) | 7
V2 = (2 << 32) | 9


@pytest.fixture
def led() -> Ledger:
    led = Ledger(["A", "B"], ["W1", "W2"])
    for i, (s, w, q) in enumerate([("A", "W1", 10), ("A", "W2", 3), ("B", "W1", 5)]):
        led.restock(100 + i, s, w, q, 0)
    return led


def test_amend_releases_units_and_sets_the_version(led: Ledger) -> None:
    h = led.hold(1, [("A", "W1", 4), ("B", "W1", 2)], 0, 1000)
    led.line_op(OpKind.AMEND, 2, h, [("A", "W1", 3)], 1, version=V1)
    view = led.hold_view(h)
    assert view.version == V1 and view.state == HoldState.PENDING
    assert view.lines == [("A", "W1", 1), ("B", "W1", 2)] and view.dropped[0] == (3, 0)
    assert led.stock("A")["W1"]["held"] == 1
    with pytest.raises(ReservationChanged):  # a second amendment from the same version
        led.line_op(OpKind.AMEND, 3, h, [], 1, version=(1 << 32) | 8)
    with pytest.raises(ReservationChanged):  # a commit that does not know the amendment
        led.commit(4, h, 2)
    led.commit(5, h, 2, version=V1)
    with pytest.raises(IllegalTransition):  # amending a committed hold
        led.line_op(OpKind.AMEND, 6, h, [], 3, version=V2)
    assert audit(led).ok


def test_drop_lines_releases_pending_and_cancels_committed(led: Ledger) -> None:
    h = led.hold(1, [("A", "W1", 4), ("B", "W1", 2)], 0, 1000)
    led.line_op(OpKind.DROP_LINES, 2, h, [("B", "W1", 1)], 1, state=HoldState.PENDING)
    led.commit(3, h, 2)
    with pytest.raises(IllegalTransition):
        led.line_op(OpKind.DROP_LINES, 4, h, [("A", "W1", 1)], 3, state=HoldState.PENDING)
    led.line_op(OpKind.DROP_LINES, 5, h, [("A", "W1", 4)], 3, state=HoldState.COMMITTED)
    view = led.hold_view(h)
    assert view.lines == [("A", "W1", 0), ("B", "W1", 1)]
    assert view.dropped == [(0, 4), (1, 0)]
    assert led.stock("A")["W1"]["available"] == 10 and led.stock("B")["W1"]["committed"] == 1
    with pytest.raises(ReservationChanged):  # more than is left on the line
        led.line_op(OpKind.DROP_LINES, 6, h, [("B", "W1", 2)], 4)
    assert audit(led).ok


def test_reallocate_moves_a_committed_line_atomically(led: Ledger) -> None:
    h = led.hold(1, [("A", "W1", 3)], 0, 1000)
    with pytest.raises(IllegalTransition):  # pending: nothing to reallocate yet
        led.line_op(OpKind.REALLOCATE, 2, h, [("A", "W1", 3), ("A", "W2", 3)], 1)
    led.commit(3, h, 1)
    led.line_op(OpKind.REALLOCATE, 4, h, [("A", "W1", 3), ("A", "W2", 3)], 2)
    assert led.hold_view(h).lines == [("A", "W2", 3)]
    assert led.stock("A")["W2"]["committed"] == 3 and led.stock("A")["W1"]["committed"] == 0
    with pytest.raises(InsufficientStock):  # back to W1 is fine, but not 3 more to W2
        h2 = led.hold(5, [("A", "W1", 3)], 2, 1000)
        led.commit(6, h2, 2)
        led.line_op(OpKind.REALLOCATE, 7, h2, [("A", "W1", 3), ("A", "W2", 3)], 3)
    led.ship(8, h, 3)
    with pytest.raises(IllegalTransition):  # shipped: too late to move
        led.line_op(OpKind.REALLOCATE, 9, h, [("A", "W2", 3), ("A", "W1", 3)], 4)
    assert audit(led).ok and led.stock("A")["W2"]["on_hand"] == 0


def test_line_ops_survive_a_snapshot_and_replay_their_first_answer(led: Ledger) -> None:
    h = led.hold(1, [("A", "W1", 4)], 0, 1000)
    led.line_op(OpKind.AMEND, 2, h, [("A", "W1", 1)], 1, version=V1)
    copy = Ledger.from_snapshot(led.snapshot())
    assert copy.hold_view(h) == led.hold_view(h)
    res = copy.apply_one(OpKind.AMEND, 2, h, np.array([copy.cell("A", "W1")]), np.array([1]),
                         5, version=V1)
    assert res.ok and res.replayed and copy.stock("A")["W1"]["held"] == 3
