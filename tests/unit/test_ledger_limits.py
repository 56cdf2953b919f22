"""Anti-scalping limits in the ledger: per-customer caps and per-owner shares, taken
atomically with the hold (one rule per test), a stateful model check, and replay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from allocator.audit import audit
from allocator.errors import (
    IdempotencyConflict, InsufficientStock, InvalidRequest, PurchaseLimit, ShareLimit,
    SkuMoved,
)
from allocator.ledger import Ledger
from allocator.ops import BatchBuilder, Code, HoldState, OpBatch, OpKind

TTL = 60_000
SKUS, WHS = ["A", "B"], ["W1", "W2"]
NO = np.zeros(0, np.int64)


@pytest.fixture
def led() -> Ledger:
    led = Ledger(SKUS, WHS)
    led.restock(1, "A", "W1", 60, 0)
    led.restock(2, "A", "W2", 40, 0)
    led.restock(3, "B", "W1", 10, 0)
    return led


def hold(led: Ledger, op: int, lines, *, now: int = 0, ttl: int = TTL, **limits):
    """apply_one of a HOLD given (sku, wh, qty) lines; returns the OpResult."""
    cells = np.array([led.cell(s, w) for s, w, _ in lines], np.int64)
    qtys = np.array([q for _, _, q in lines], np.int64)
    if "caps" in limits:
        limits["caps"] = np.array(limits["caps"], np.int64)
    return led.apply_one(OpKind.HOLD, op, -1, cells, qtys, now, ttl_ms=ttl, **limits)


def step(led: Ledger, kind: OpKind, op: int, hold_id: int, now: int = 0):
    return led.apply_one(kind, op, hold_id, NO, NO, now)


def counts(led: Ledger):
    c, o = led.limit_counts()
    assert (c, o) == led.derived_limit_counts()  # the tracked counts are the table's
    return c, o


# ------------------------------------------------------------------ customer cap

def test_cap_reached_refuses_with_what_is_left(led):
    assert hold(led, 10, [("A", "W1", 3)], customer=7, caps=[5]).ok
    res = hold(led, 11, [("A", "W1", 3)], customer=7, caps=[5])
    assert (res.code, res.value, res.detail) == (Code.CUSTOMER_LIMIT, 2, 0)
    assert led.stock("A")["W1"]["held"] == 3  # the refusal changed nothing
    assert hold(led, 12, [("A", "W1", 2)], customer=7, caps=[5]).ok  # exactly the cap
    res = hold(led, 13, [("A", "W1", 1)], customer=7, caps=[5])
    assert (res.code, res.value) == (Code.CUSTOMER_LIMIT, 0)
    assert counts(led)[0] == {(7, 0): 5}


def test_cap_is_per_sku_summed_over_warehouses_and_per_customer(led):
    assert hold(led, 10, [("A", "W1", 2)], customer=7, caps=[4]).ok
    res = hold(led, 11, [("B", "W1", 1), ("A", "W2", 3)], customer=7, caps=[4, 4])
    assert (res.code, res.value, res.detail) == (Code.CUSTOMER_LIMIT, 2, 1)
    assert hold(led, 12, [("A", "W2", 4)], customer=8, caps=[4]).ok  # another customer
    assert hold(led, 13, [("B", "W1", 4)], customer=7, caps=[4]).ok  # another SKU


def test_lines_of_one_order_on_the_same_sku_add_up(led):
    res = hold(led, 10, [("A", "W1", 3), ("A", "W2", 3)], customer=7, caps=[4, 4])
    assert (res.code, res.value, res.detail) == (Code.CUSTOMER_LIMIT, 4, 0)
    assert hold(led, 11, [("A", "W1", 2), ("A", "W2", 2)], customer=7, caps=[4, 4]).ok


def test_lines_without_a_cap_still_count_for_later_capped_lines(led):
    assert hold(led, 10, [("A", "W1", 6)], customer=7).ok  # no cap, but counted
    assert counts(led)[0] == {(7, 0): 6}
    res = hold(led, 11, [("A", "W2", 1)], customer=7, caps=[6])
    assert (res.code, res.value) == (Code.CUSTOMER_LIMIT, 0)


def test_no_customer_means_no_cap(led):
    for op in range(10, 14):
        assert hold(led, op, [("A", "W1", 3)], caps=[3]).ok
    assert counts(led) == ({}, {})


@pytest.mark.parametrize("finish", ["release", "expire_sweep", "expire_on_touch", "ship",
                                    "cancel"])
def test_finished_holds_free_the_cap(led, finish):
    hid = hold(led, 10, [("A", "W1", 4)], customer=7, caps=[4]).value
    assert hold(led, 11, [("A", "W1", 1)], customer=7, caps=[4]).code == Code.CUSTOMER_LIMIT
    now = 0
    if finish == "release":
        assert step(led, OpKind.RELEASE, 20, hid).ok
    elif finish == "expire_sweep":
        now = TTL
        assert list(led.expire(now)) == [hid]
    elif finish == "expire_on_touch":
        now = TTL
        assert step(led, OpKind.COMMIT, 20, hid, now).code == Code.EXPIRED
    else:
        assert step(led, OpKind.COMMIT, 20, hid).ok
        assert step(led, OpKind.SHIP if finish == "ship" else OpKind.CANCEL, 21, hid).ok
    assert counts(led)[0] == {}
    assert hold(led, 12, [("A", "W1", 4)], now=now, customer=7, caps=[4]).ok


def test_commit_keeps_counting_for_the_customer(led):
    hid = hold(led, 10, [("A", "W1", 4)], customer=7, caps=[5]).value
    assert step(led, OpKind.COMMIT, 11, hid).ok
    assert counts(led)[0] == {(7, 0): 4}
    res = hold(led, 12, [("A", "W2", 2)], customer=7, caps=[5])
    assert (res.code, res.value) == (Code.CUSTOMER_LIMIT, 1)


# --------------------------------------------------------------------- owner share

def test_share_is_a_fraction_of_on_hand_over_the_skus_warehouses(led):
    # A has 100 on hand (60 + 40): 10 % is 10 units, across both warehouses
    assert hold(led, 10, [("A", "W1", 6)], owner=5, share_bp=1000).ok
    res = hold(led, 11, [("A", "W2", 5)], owner=5, share_bp=1000)
    assert (res.code, res.value, res.detail) == (Code.SHARE_LIMIT, 4, 0)
    assert hold(led, 12, [("A", "W2", 4)], owner=5, share_bp=1000).ok
    assert hold(led, 13, [("A", "W2", 5)], owner=6, share_bp=1000).ok  # another owner
    assert counts(led)[1] == {(5, 0): 10, (6, 0): 5}


def test_share_rounds_down(led):
    res = hold(led, 10, [("B", "W1", 1)], owner=5, share_bp=999)  # 9.99 % of 10 units
    assert (res.code, res.value) == (Code.SHARE_LIMIT, 0)


def test_share_counts_on_hand_not_available(led):
    other = hold(led, 10, [("A", "W1", 50)]).value
    assert step(led, OpKind.COMMIT, 11, other).ok  # 50 committed: available 50, on hand 100
    assert hold(led, 12, [("A", "W1", 10)], owner=5, share_bp=1000).ok  # 10 % of 100
    assert step(led, OpKind.SHIP, 13, other).ok  # now on hand 50: allowance 5
    res = hold(led, 14, [("A", "W2", 1)], owner=5, share_bp=1000)
    assert (res.code, res.value) == (Code.SHARE_LIMIT, 0)


def test_a_restock_raises_the_allowance(led):
    assert hold(led, 10, [("A", "W1", 10)], owner=5, share_bp=1000).ok
    assert hold(led, 11, [("A", "W1", 1)], owner=5, share_bp=1000).code == Code.SHARE_LIMIT
    led.restock(12, "A", "W2", 20, 0)  # 120 on hand: 12 allowed
    assert hold(led, 13, [("A", "W1", 2)], owner=5, share_bp=1000).ok
    assert hold(led, 14, [("A", "W1", 1)], owner=5, share_bp=1000).code == Code.SHARE_LIMIT


@pytest.mark.parametrize("finish", ["commit", "release", "expire"])
def test_commit_release_and_expiry_free_the_share(led, finish):
    hid = hold(led, 10, [("A", "W1", 10)], owner=5, share_bp=1000).value
    now = 0
    if finish == "expire":
        now = TTL
        led.expire(now)
    else:
        assert step(led, OpKind[finish.upper()], 11, hid).ok
    assert counts(led)[1] == {}
    assert hold(led, 12, [("A", "W1", 10)], now=now, owner=5, share_bp=1000).ok


def test_an_owner_without_a_share_is_not_counted(led):
    assert hold(led, 10, [("A", "W1", 50)], owner=5).ok
    assert counts(led) == ({}, {})
    assert hold(led, 11, [("A", "W1", 10)], owner=5, share_bp=1000).ok


# ------------------------------------------------------------ order, validity, idempotency

def test_checks_run_in_order_invalid_moved_customer_share_insufficient(led):
    want_all = dict(customer=7, caps=[1], owner=5, share_bp=1)  # every check fails
    big = [("A", "W1", 200)]
    assert hold(led, 10, big, customer=-1, caps=[1]).code == Code.INVALID
    led.set_accepting("A", False)
    assert hold(led, 11, big, **want_all).code == Code.MOVED
    led.set_accepting("A", True)
    assert hold(led, 12, big, **want_all).code == Code.CUSTOMER_LIMIT
    assert hold(led, 13, big, owner=5, share_bp=1).code == Code.SHARE_LIMIT
    assert hold(led, 14, big).code == Code.INSUFFICIENT


@pytest.mark.parametrize("limits", [
    dict(customer=-1), dict(owner=-3, share_bp=100), dict(share_bp=-1),
    dict(share_bp=10_001), dict(customer=7, caps=[-1]), dict(customer=7, caps=[1, 2]),
])
def test_bad_limits_are_invalid_and_not_recorded(led, limits):
    before = led.results.size
    assert hold(led, 10, [("A", "W1", 1)], **limits).code == Code.INVALID
    assert led.results.size == before
    assert hold(led, 10, [("A", "W1", 1)]).ok  # the id is still free


def test_friendly_hold_raises_limit_errors_with_details(led):
    led.hold(10, [("A", "W1", 3)], 0, TTL, customer=7, caps=[4])
    with pytest.raises(PurchaseLimit) as err:
        led.hold(11, [("B", "W1", 1), ("A", "W2", 2)], 0, TTL, customer=7, caps=[0, 4])
    assert err.value.code == "purchase_limit"
    assert err.value.details == {"sku": "A", "warehouse": "W2", "requested": 2,
                                 "allowed": 1, "line": 1, "limit": "customer"}
    with pytest.raises(ShareLimit) as err:
        led.hold(12, [("A", "W2", 11)], 0, TTL, owner=5, share_bp=1000)
    assert err.value.code == "share_limit"
    assert err.value.details == {"sku": "A", "warehouse": "W2", "requested": 11,
                                 "allowed": 10, "line": 0, "limit": "api_key_share"}
    with pytest.raises(InvalidRequest, match="share_bp"):
        led.hold(13, [("A", "W2", 1)], 0, TTL, owner=5, share_bp=20_000)
    with pytest.raises(SkuMoved):
        led.set_accepting("B", False)
        led.hold(14, [("B", "W1", 1)], 0, TTL, customer=7, caps=[1])
    with pytest.raises(InsufficientStock):
        led.hold(15, [("A", "W2", 41)], 0, TTL, customer=9, caps=[50])


def test_a_limit_refusal_replays_as_the_first_answer(led):
    hid = hold(led, 10, [("A", "W1", 4)], customer=7, caps=[4]).value
    first = hold(led, 11, [("A", "W1", 2)], customer=7, caps=[4])
    assert first.code == Code.CUSTOMER_LIMIT
    assert step(led, OpKind.RELEASE, 12, hid).ok  # the cap is free again...
    again = hold(led, 11, [("A", "W1", 2)], customer=7, caps=[4])
    assert again.replayed and (again.code, again.value) == (first.code, first.value)
    assert counts(led)[0] == {}  # ...and the replay took nothing


@pytest.mark.parametrize("other", [dict(customer=8, caps=[4]), dict(customer=7, caps=[5]),
                                   dict(customer=7, caps=[4], owner=3),
                                   dict(customer=7, caps=[4], owner=3, share_bp=10),
                                   dict()])
def test_same_op_id_with_other_limits_is_a_conflict(led, other):
    assert hold(led, 10, [("A", "W1", 1)], customer=7, caps=[4]).ok
    assert hold(led, 10, [("A", "W1", 1)], **other).code == Code.CONFLICT
    assert hold(led, 10, [("A", "W1", 1)], customer=7, caps=[4]).replayed
    with pytest.raises(IdempotencyConflict):
        led.hold(10, [("A", "W1", 1)], 0, TTL, customer=8, caps=[4])


def test_an_op_without_limits_keeps_its_fingerprint(led):
    """Zeros mean "no limit": the same op with explicit zeros is a replay, not a conflict."""
    assert hold(led, 10, [("A", "W1", 1)]).ok
    assert hold(led, 10, [("A", "W1", 1)], customer=0, owner=0, share_bp=0, caps=[0]).replayed


def test_limits_on_other_kinds_are_ignored(led):
    hid = hold(led, 10, [("A", "W1", 1)], customer=7, caps=[1]).value
    res = led.apply_one(OpKind.COMMIT, 11, hid, NO, NO, 0, customer=99, owner=-1)
    assert res.ok and counts(led)[0] == {(7, 0): 1}


# ------------------------------------------------------------------- batches, replay

def limited_batch(led: Ledger, now: int) -> OpBatch:
    a1, a2, b1 = led.cell("A", "W1"), led.cell("A", "W2"), led.cell("B", "W1")
    b = BatchBuilder()
    b.hold(100, [(a1, 2)], TTL, customer=1, caps=[3])
    b.hold(101, [(a1, 2)], TTL, customer=1, caps=[3])  # over the cap
    b.hold(102, [(a2, 2)], TTL, customer=2, caps=[3], owner=9, share_bp=500)
    b.hold(103, [(a2, 4)], TTL, customer=3, owner=9, share_bp=500)  # 5 % of 100 = 5
    b.hold(104, [(b1, 1)], TTL, owner=9)  # owner without a share: vectorisable
    b.commit(105, 0)
    b.hold(106, [(a1, 1), (b1, 2)], 1000, customer=1, caps=[3, 2])
    return b.build(now)


def test_batch_with_limits_equals_one_at_a_time(led):
    ref = Ledger.from_snapshot(led.snapshot())
    batch = limited_batch(led, 0)
    got = led.apply(batch)
    for i in range(len(batch)):
        cells, qtys = batch.lines(i)
        s = int(batch.line_start[i])
        want = ref.apply_one(int(batch.kind[i]), int(batch.op_id[i]), int(batch.hold_id[i]),
                             cells, qtys, 0, ttl_ms=int(batch.ttl_ms[i]),
                             version=int(batch.version[i]), state=int(batch.state[i]),
                             customer=int(batch.customer[i]), owner=int(batch.owner[i]),
                             share_bp=int(batch.share_bp[i]),
                             caps=batch.l_cap[s:s + len(cells)])
        assert got.row(i) == want, i
    assert [Code(c) for c in got.code] == [Code.OK, Code.CUSTOMER_LIMIT, Code.OK,
                                           Code.SHARE_LIMIT, Code.OK, Code.OK, Code.OK]
    assert counts(led) == counts(ref) == ({(1, 0): 3, (2, 0): 2, (1, 1): 2}, {(9, 0): 2})


def test_vectorised_runs_with_limits_match_one_at_a_time():
    """A long run of single-line holds, some limited: the batch path (vectorised or not)
    answers exactly as apply_one row by row."""
    rng = np.random.default_rng(3)
    n = 400
    vec, ref = Ledger(SKUS, WHS, min_vector_run=1), Ledger(SKUS, WHS)
    for led in (vec, ref):
        led.on_hand[:] = [300, 100, 50, 20]
    cells = rng.integers(0, 4, n)
    qtys = rng.integers(1, 4, n)
    customer = np.where(rng.random(n) < 0.5, rng.integers(1, 6, n), 0)
    owner = np.where(rng.random(n) < 0.5, rng.integers(1, 4, n), 0)
    share = np.where(rng.random(n) < 0.3, 500, 0)
    caps = np.where(rng.random(n) < 0.7, 5, 0)
    batch = OpBatch.single_line_holds(np.arange(n), cells, qtys, TTL, 0)
    batch.customer, batch.owner, batch.share_bp, batch.l_cap = customer, owner, share, caps
    got = vec.apply(batch)
    for i in range(n):
        want = ref.apply_one(OpKind.HOLD, i, -1, cells[i:i + 1], qtys[i:i + 1], 0, ttl_ms=TTL,
                             customer=int(customer[i]), owner=int(owner[i]),
                             share_bp=int(share[i]), caps=caps[i:i + 1])
        assert got.row(i) == want, i
    codes = set(got.code.tolist())
    assert {Code.OK, Code.CUSTOMER_LIMIT, Code.SHARE_LIMIT} <= codes
    assert counts(vec) == counts(ref)
    assert audit(vec).ok


def test_owner_or_cap_alone_stays_on_the_vectorised_path(monkeypatch):
    """An owner without a share (every API request has one) must not cost the fast path,
    and still enters the fingerprint."""
    led = Ledger(SKUS, WHS, min_vector_run=1)
    led.on_hand[:] = 100
    calls = []
    monkeypatch.setattr(led, "apply_one", lambda *a, **k: calls.append(a))
    batch = OpBatch.single_line_holds(np.arange(10), np.zeros(10, np.int64),
                                      np.ones(10, np.int64), TTL, 0)
    batch.owner = np.full(10, 4, np.int64)
    batch.l_cap = np.full(10, 2, np.int64)
    assert (led.apply(batch).code == Code.OK).all()
    assert calls == []
    monkeypatch.undo()
    assert led.apply_one(OpKind.HOLD, 3, -1, np.array([0]), np.array([1]), 0, ttl_ms=TTL,
                         owner=4, caps=np.array([2])).replayed
    assert led.apply_one(OpKind.HOLD, 4, -1, np.array([0]), np.array([1]), 0, ttl_ms=TTL,
                         owner=5, caps=np.array([2])).code == Code.CONFLICT
    assert led.apply_one(OpKind.HOLD, 5, -1, np.array([0]), np.array([1]), 0,
                         ttl_ms=TTL).code == Code.CONFLICT


def test_journal_form_keeps_a_lone_cap():
    b = BatchBuilder().hold(1, [(0, 1)], TTL, caps=[3]).build(0)
    again = OpBatch.from_columns(b.to_columns(), 0)
    assert list(again.l_cap) == [3]


def test_snapshot_and_journal_replay_rebuild_the_counts(led):
    journal = [limited_batch(led, 0)]
    b = BatchBuilder()
    b.release(200, 2).hold(201, [(led.cell("A", "W2"), 3)], TTL, owner=9, share_bp=500,
                           customer=4, caps=[3])
    journal.append(b.build(10))
    start = Ledger.from_snapshot(led.snapshot())
    for batch in journal:
        led.apply(batch)
    led.expire(1500)  # hold 6 (ttl 1000) expires
    snap = led.snapshot()
    assert "customer" in snap["holds"] and "owner" in snap["holds"]
    again = Ledger.from_snapshot(snap)
    assert counts(again) == counts(led) != ({}, {})
    replayed = start
    for batch in journal:
        replayed.apply(OpBatch.from_columns(batch.to_columns(), batch.now_ms))
    replayed.expire(1500)
    assert counts(replayed) == counts(led)
    assert audit(again).ok and audit(replayed).ok


def test_an_older_snapshot_without_limit_columns_loads(led):
    hold(led, 10, [("A", "W1", 2)])
    snap = led.snapshot()
    for col in ("customer", "owner"):
        del snap["holds"][col]
    del snap["results"]["op"]
    for key in ("hold_sparse_ids", "hold_id0", "result_base", "results_dead"):
        del snap[key]
    again = Ledger.from_snapshot(snap)
    assert audit(again).ok
    assert list(again.holds["customer"]) == [0]
    assert hold(again, 10, [("A", "W1", 2)]).replayed
    assert hold(again, 11, [("A", "W1", 2)], customer=3, caps=[2]).ok
    assert again.forget_before(1)["ops"] == 5  # the op column was rebuilt from the index


def test_audit_catches_a_count_that_drifted_from_the_holds(led):
    hold(led, 10, [("A", "W1", 2)], customer=3, caps=[5], owner=2, share_bp=5000)
    assert audit(led).ok
    led._customer_units[(3, 0)] += 1
    assert any("customer unit counts" in p for p in audit(led).problems)
    led._customer_units[(3, 0)] -= 1
    del led._owner_units[(2, 0)]
    assert any("owner unit counts" in p for p in audit(led).problems)


# -------------------------------------------------------------- model-based check

class Model:
    """A plain-Python model of holds and limits (the rules of the spec, nothing else)."""

    def __init__(self, on_hand: list[int]) -> None:
        self.on_hand = list(on_hand)
        self.holds: list[dict] = []

    def units(self, key: str, who: int, row: int, states: tuple) -> int:
        return sum(q for h in self.holds if h[key] == who and h["state"] in states
                   for c, q in h["lines"] if c // len(WHS) == row)

    def avail(self, cell: int) -> int:
        used = sum(q for h in self.holds if h["state"] in ("pending", "committed")
                   for c, q in h["lines"] if c == cell)
        return self.on_hand[cell] - used

    def hold(self, lines, customer, owner, share_bp, caps, now, ttl):
        adds: dict[int, int] = {}
        for c, q in lines:
            adds[c // len(WHS)] = adds.get(c // len(WHS), 0) + q
        if customer:
            for i, ((c, _), cap) in enumerate(zip(lines, caps)):
                have = self.units("customer", customer, c // len(WHS), ("pending", "committed"))
                if cap and have + adds[c // len(WHS)] > cap:
                    return Code.CUSTOMER_LIMIT, max(0, cap - have), i
        tracked_owner = owner if share_bp else 0
        if tracked_owner:
            for i, (c, _) in enumerate(lines):
                row = c // len(WHS)
                allowed = share_bp * sum(self.on_hand[row * len(WHS):(row + 1) * len(WHS)]) // 10_000
                have = self.units("owner", owner, row, ("pending",))
                if have + adds[row] > allowed:
                    return Code.SHARE_LIMIT, max(0, allowed - have), i
        for i, (c, q) in enumerate(lines):
            if q > self.avail(c):
                return Code.INSUFFICIENT, self.avail(c), i
        self.holds.append({"state": "pending", "lines": lines, "customer": customer,
                           "owner": tracked_owner, "expires": now + ttl})
        return Code.OK, len(self.holds) - 1, -1

    def expire(self, now):
        for h in self.holds:
            if h["state"] == "pending" and h["expires"] <= now:
                h["state"] = "expired"


class LimitsMachine(RuleBasedStateMachine):
    """Random holds with limits, transitions, restocks, expiry and snapshot round trips:
    every answer and every count must be what the model says."""

    @initialize(stock=st.lists(st.integers(0, 40), min_size=4, max_size=4))
    def setup(self, stock):
        self.led = Ledger(SKUS, WHS)
        self.led.on_hand[:] = stock
        self.model = Model(stock)
        self.now = 0
        self.op = 0

    def next_op(self) -> int:
        self.op += 1
        return self.op

    @rule(lines=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 6)), min_size=1,
                         max_size=3, unique_by=lambda x: x[0]),
          customer=st.sampled_from([0, 1, 2]), owner=st.sampled_from([0, 1, 2]),
          share_bp=st.sampled_from([0, 0, 1500, 5000]), data=st.data())
    def hold(self, lines, customer, owner, share_bp, data):
        caps = data.draw(st.lists(st.sampled_from([0, 2, 5, 9]), min_size=len(lines),
                                  max_size=len(lines)))
        ttl = data.draw(st.sampled_from([500, 3000]))
        res = self.led.apply_one(OpKind.HOLD, self.next_op(), -1,
                                 np.array([c for c, _ in lines]), np.array([q for _, q in lines]),
                                 self.now, ttl_ms=ttl, customer=customer, owner=owner, share_bp=share_bp,
                                 caps=np.array(caps))
        want = self.model.hold(lines, customer, owner, share_bp, caps, self.now, ttl)
        assert (res.code, res.value, res.detail) == want

    @rule(data=st.data(), kind=st.sampled_from([OpKind.COMMIT, OpKind.RELEASE, OpKind.SHIP,
                                                OpKind.CANCEL]))
    def transition(self, data, kind):
        if not self.model.holds:
            return
        hid = data.draw(st.integers(0, len(self.model.holds) - 1))
        res = self.led.apply_one(kind, self.next_op(), hid, NO, NO, self.now)
        h = self.model.holds[hid]
        if h["state"] == "pending" and self.now >= h["expires"]:
            h["state"] = "expired"
        moves = {("pending", OpKind.COMMIT): "committed", ("pending", OpKind.RELEASE): "released",
                 ("committed", OpKind.CANCEL): "released", ("committed", OpKind.SHIP): "shipped"}
        new = moves.get((h["state"], kind))
        if h["state"] == "expired":
            assert res.code == Code.EXPIRED
        elif new is None:
            assert res.code == Code.ILLEGAL
        else:
            assert res.ok
            if new == "shipped":
                for c, q in h["lines"]:
                    self.model.on_hand[c] -= q
            h["state"] = new

    @rule(cell=st.integers(0, 3), qty=st.integers(1, 30))
    def restock(self, cell, qty):
        assert self.led.apply_one(OpKind.RESTOCK, self.next_op(), -1, np.array([cell]),
                                  np.array([qty]), self.now).ok
        self.model.on_hand[cell] += qty

    @rule(dt=st.integers(0, 2000))
    def tick(self, dt):
        self.now += dt
        self.led.expire(self.now)
        self.model.expire(self.now)

    @rule()
    def restart_from_snapshot(self):
        self.led = Ledger.from_snapshot(self.led.snapshot())

    @invariant()
    def counts_match_the_model(self):
        if not hasattr(self, "model"):
            return
        c, o = counts(self.led)
        want_c: dict = {}
        want_o: dict = {}
        for h in self.model.holds:
            for cell, q in h["lines"]:
                row = cell // len(WHS)
                if h["customer"] and h["state"] in ("pending", "committed"):
                    want_c[(h["customer"], row)] = want_c.get((h["customer"], row), 0) + q
                if h["owner"] and h["state"] == "pending":
                    want_o[(h["owner"], row)] = want_o.get((h["owner"], row), 0) + q
        assert (c, o) == (want_c, want_o)
        assert list(self.led.on_hand) == self.model.on_hand
        assert audit(self.led).ok

    @invariant()
    def states_match_the_model(self):
        if not hasattr(self, "model"):
            return
        states = [HoldState(int(s)).name.lower() for s in self.led.holds["state"]]
        assert states == [h["state"] for h in self.model.holds]


TestLimitsMachine = LimitsMachine.TestCase


@given(cap=st.integers(1, 8), qtys=st.lists(st.integers(1, 4), min_size=1, max_size=12))
def test_a_customer_never_holds_more_than_the_cap(cap, qtys):
    led = Ledger(["A"], ["W1", "W2"])
    led.on_hand[:] = 100
    for i, q in enumerate(qtys):
        led.apply_one(OpKind.HOLD, i, -1, np.array([i % 2]), np.array([q]), 0, ttl_ms=TTL,
                      customer=1, caps=np.array([cap]))
        assert led.limit_counts()[0].get((1, 0), 0) <= cap
    assert int(led.held.sum()) <= cap
