"""Property tests: the ledger's invariants under any interleaving, and batch ≡ sequential."""

from __future__ import annotations

import numpy as np
from hypothesis import given, strategies as st
from hypothesis.stateful import (
    Bundle, RuleBasedStateMachine, consumes, initialize, invariant, multiple, precondition,
    rule,
)

from allocator.audit import audit
from allocator.ledger import Ledger
from allocator.ops import (
    HOLD_OPS, PARAM_FIELDS, PARAM_OF, Code, HoldState, OpBatch, OpKind, OpResult,
)

from tests.support.ledger import assert_same_ledger as assert_same_state

SKUS, WHS = ["A", "B", "C"], ["W1", "W2"]
N_CELLS = len(SKUS) * len(WHS)
NO_LINES = np.zeros(0, np.int64)
NOT_RECORDED = (Code.INVALID, Code.CONFLICT, Code.MOVED)  # nothing happened: no replay

op_ids = st.integers(min_value=0, max_value=40)  # a small pool, so replays happen
cells = st.integers(min_value=0, max_value=N_CELLS - 1)
qtys = st.integers(min_value=1, max_value=6)


class LedgerMachine(RuleBasedStateMachine):
    """Drives one ledger through every operation and clock advance, checking after each
    step: available ≥ 0, held/committed equal their holds, on_hand moves only by ship,
    restock/return and sync (accounted here), and a replay returns the first answer."""

    holds = Bundle("holds")

    @initialize()
    def setup(self) -> None:
        self.ledger = Ledger(SKUS, WHS, min_vector_run=1)
        self.now = 0
        self.expected_on_hand = np.zeros(N_CELLS, np.int64)
        self.first: dict[int, tuple[tuple, OpResult]] = {}

    def _do(self, kind: OpKind, op_id: int, hold_id: int, cs: list[int], qs: list[int],
            **params: int) -> OpResult:
        """``params``: ttl_ms, version, state (the op's parameter; absent: 0)."""
        payload = (int(kind), hold_id, *(params.get(f, 0) for f in PARAM_FIELDS), tuple(cs),
                   tuple(qs))
        before = self.ledger.on_hand.copy()
        res = self.ledger.apply_one(kind, op_id, hold_id, np.array(cs, np.int64),
                                    np.array(qs, np.int64), self.now, **params)
        if res.code == Code.INVALID:  # validated before idempotency: never recorded
            assert np.array_equal(before, self.ledger.on_hand)
            return res
        if op_id in self.first:
            first_payload, first_res = self.first[op_id]
            if payload == first_payload:
                assert res.replayed
                assert (res.code, res.value, res.detail) == (
                    first_res.code, first_res.value, first_res.detail)
            else:
                assert res.code == Code.CONFLICT
            assert np.array_equal(before, self.ledger.on_hand)
            return res
        assert not res.replayed
        if res.code not in NOT_RECORDED:
            self.first[op_id] = (payload, res)
        if res.code == Code.OK:
            if kind in (OpKind.RESTOCK, OpKind.RETURN, OpKind.TRANSFER_IN):
                self.expected_on_hand[cs[0]] += qs[0]
            elif kind == OpKind.TRANSFER_OUT:
                self.expected_on_hand[cs[0]] -= qs[0]
            elif kind == OpKind.SYNC:
                self.expected_on_hand[cs[0]] = res.value
            elif kind == OpKind.SHIP:
                view = self.ledger.hold_view(hold_id)
                for sku, wh, q in view.lines:
                    self.expected_on_hand[self.ledger.cell(sku, wh)] -= q
        return res

    @rule(target=holds, op_id=op_ids, lines=st.lists(st.tuples(cells, qtys), min_size=1,
                                                     max_size=3),
          ttl=st.integers(min_value=1, max_value=5000))
    def hold(self, op_id, lines, ttl):
        cs = [c for c, _ in lines]
        res = self._do(OpKind.HOLD, op_id, -1, cs, [q for _, q in lines], ttl_ms=ttl)
        if len(set(cs)) != len(cs):
            assert res.code in (Code.INVALID, Code.CONFLICT) or res.replayed
        return multiple(res.value) if res.code == Code.OK else multiple()

    @rule(hold_id=holds, op_id=op_ids,
          kind=st.sampled_from([OpKind.COMMIT, OpKind.RELEASE, OpKind.SHIP, OpKind.CANCEL]))
    def transition(self, hold_id, op_id, kind):
        before = HoldState(int(self.ledger.holds["state"][hold_id]))
        res = self._do(kind, op_id, hold_id, [], [])
        after = HoldState(int(self.ledger.holds["state"][hold_id]))
        if res.code == Code.OK and not res.replayed:
            assert (before, kind, after) in {
                (HoldState.PENDING, OpKind.COMMIT, HoldState.COMMITTED),
                (HoldState.PENDING, OpKind.RELEASE, HoldState.RELEASED),
                (HoldState.COMMITTED, OpKind.CANCEL, HoldState.RELEASED),
                (HoldState.COMMITTED, OpKind.SHIP, HoldState.SHIPPED)}

    @rule(op_id=op_ids, hold_id=st.integers(min_value=0, max_value=200))
    def commit_any_id(self, op_id, hold_id):
        self._do(OpKind.COMMIT, op_id, hold_id, [], [])

    @rule(op_id=op_ids, cell=cells, qty=st.integers(min_value=-1, max_value=20),
          kind=st.sampled_from([OpKind.RESTOCK, OpKind.RETURN, OpKind.TRANSFER_IN,
                                OpKind.TRANSFER_OUT]))
    def restock(self, op_id, cell, qty, kind):
        self._do(kind, op_id, -1, [cell], [qty])

    @rule(op_id=op_ids, cell=cells, count=st.integers(min_value=0, max_value=30),
          version=st.integers(min_value=0, max_value=8))
    def sync(self, op_id, cell, count, version):
        self._do(OpKind.SYNC, op_id, -1, [cell], [count], version=version)

    @rule(op_id=op_ids, kind=st.sampled_from(list(OpKind)),
          param=st.sampled_from(PARAM_FIELDS), value=st.sampled_from([1, 1000, -1, 1 << 32]))
    def stray_parameter(self, op_id, kind, param, value):
        """A parameter the op's kind does not read makes the op invalid (one meaning per
        column: a HOLD has no version, a SHIP no state, …), whatever else it carries."""
        if PARAM_OF.get(kind) == param:
            return
        good = {"ttl_ms": 1000, "version": (1 << 32) | 1, "state": int(HoldState.PENDING)}
        own = {PARAM_OF[kind]: good[PARAM_OF[kind]]} if kind in PARAM_OF else {}
        cs, qs = (([], []) if kind in HOLD_OPS else ([0, 1], [1, 1])
                  if kind == OpKind.REALLOCATE else ([0], [1]))  # else a valid shape
        res = self._do(kind, op_id, 0, cs, qs, **own, **{param: value})
        assert res.code == Code.INVALID

    @rule(sku=st.sampled_from(SKUS), accepting=st.booleans())
    def toggle_accepting(self, sku, accepting):
        self.ledger.set_accepting(sku, accepting)

    @rule(dt=st.integers(min_value=0, max_value=3000))
    def advance_clock_and_expire(self, dt):
        self.now += dt
        due = self.ledger.expire(self.now)
        states = self.ledger.holds["state"]
        assert (states[due] == HoldState.EXPIRED).all()
        pending = states == HoldState.PENDING
        assert (self.ledger.holds["expires"][pending] > self.now).all()

    @rule(data=st.data())
    def vectorised_batch(self, data):
        n = data.draw(st.integers(min_value=1, max_value=12))
        ids = data.draw(st.lists(op_ids, min_size=n, max_size=n))
        cs = data.draw(st.lists(cells, min_size=n, max_size=n))
        qs = data.draw(st.lists(qtys, min_size=n, max_size=n))
        batch = OpBatch.single_line_holds(np.array(ids), np.array(cs), np.array(qs), 1000,
                                          self.now)
        shadow = Ledger.from_snapshot(self.ledger.snapshot(), min_vector_run=1)
        got = self.ledger.apply(batch)
        for i in range(n):
            want = shadow.apply_one(OpKind.HOLD, ids[i], -1, np.array([cs[i]]),
                                    np.array([qs[i]]), self.now, ttl_ms=1000)
            assert got.row(i) == want
            if ids[i] not in self.first and want.code not in NOT_RECORDED:
                self.first[ids[i]] = ((int(OpKind.HOLD), -1, 1000, 0, 0, (cs[i],), (qs[i],)),
                                      want)

    # ------------------------------------------- a reservation's life, line by line
    def _live_line(self, hold_id, data):
        """A line of the hold (cell, live qty) or None; the hold's state."""
        view = self.ledger.hold_view(hold_id)
        live = [(self.ledger.cell(s, w), q) for s, w, q in view.lines if q > 0]
        return (data.draw(st.sampled_from(live)) if live else None), view

    @rule(hold_id=holds, op_id=op_ids, data=st.data(), step=st.integers(0, 2))
    def amend(self, hold_id, op_id, data, step):
        line, view = self._live_line(hold_id, data)
        lines = [] if line is None else [(line[0], data.draw(st.integers(1, line[1])))]
        version = (((view.version >> 32) + step) << 32) | data.draw(st.integers(1, 5))
        before = self.ledger.held.copy()
        res = self._do(OpKind.AMEND, op_id, hold_id, [c for c, _ in lines],
                       [q for _, q in lines], version=version)
        if res.code == Code.OK and not res.replayed:
            assert step == 1 and view.state == HoldState.PENDING
            assert self.ledger.hold_view(hold_id).version == version
            assert before.sum() - self.ledger.held.sum() == sum(q for _, q in lines)
        if res.code == Code.VERSION:
            assert step != 1 and res.value == view.version

    @rule(hold_id=holds, op_id=op_ids, data=st.data(),
          want=st.sampled_from([0, HoldState.PENDING, HoldState.COMMITTED]))
    def drop_lines(self, hold_id, op_id, data, want):
        line, view = self._live_line(hold_id, data)
        if line is None:
            return
        qty = data.draw(st.integers(1, line[1] + 1))  # one more than live: refused
        res = self._do(OpKind.DROP_LINES, op_id, hold_id, [line[0]], [qty], state=int(want))
        if res.code == Code.OK and not res.replayed:
            assert qty <= line[1] and view.state in (HoldState.PENDING, HoldState.COMMITTED)
            assert not want or view.state == want

    @rule(hold_id=holds, op_id=op_ids, data=st.data(), to_wh=st.integers(0, len(WHS) - 1))
    def reallocate(self, hold_id, op_id, data, to_wh):
        line, view = self._live_line(hold_id, data)
        if line is None:
            return
        to = line[0] - line[0] % len(WHS) + to_wh
        res = self._do(OpKind.REALLOCATE, op_id, hold_id, [line[0], to], [line[1]] * 2)
        if res.code == Code.OK and not res.replayed:
            assert view.state == HoldState.COMMITTED and to != line[0]
        if to == line[0]:
            assert res.code in (Code.INVALID, Code.CONFLICT) or res.replayed

    @rule(hold_id=holds, op_id=op_ids, stale=st.booleans())
    def commit_versioned(self, hold_id, op_id, stale):
        view = self.ledger.hold_view(hold_id)
        version = view.version + (1 << 32) if stale else view.version
        res = self._do(OpKind.COMMIT, op_id, hold_id, [], [], version=version)
        if res.code == Code.VERSION and not res.replayed:
            assert stale and view.state == HoldState.PENDING

    @invariant()
    def a_holds_units_are_live_released_or_cancelled(self):
        """Partial ops move units between a hold's live, released and cancelled counts
        (and reallocation between its warehouses), never out of the hold's total."""
        led = self.ledger
        totals = getattr(self, "totals", {})
        self.totals = totals
        for row in range(led.holds.size):
            idx = led.line_index_rows(np.array([row]))
            total = int((led.lines["qty"][idx] + led.lines["released"][idx]
                         + led.lines["cancelled"][idx]).sum())
            assert totals.setdefault(int(led.hold_ids(np.array([row]))[0]), total) == total

    @invariant()
    def available_never_negative(self):
        assert (self.ledger.available >= 0).all()

    @invariant()
    def held_and_committed_match_their_holds(self):
        report = audit(self.ledger)
        assert report.ok, report.problems

    @invariant()
    def units_are_conserved(self):
        assert np.array_equal(self.ledger.on_hand, self.expected_on_hand)


TestLedgerMachine = LedgerMachine.TestCase


# ---------------------------------------------------------------- batch ≡ sequential

NO_LIMITS = (0, 0, 0)
customers = st.sampled_from([0, 0, 0, 1, 2, -1])  # -1: invalid
owners = st.sampled_from([0, 0, 3, 4])
shares = st.sampled_from([0, 0, 0, 2500, 10_001])  # 10_001: invalid
caps_ = st.sampled_from([0, 0, 3, 5, -1])  # -1: invalid


@st.composite
def op_rows(draw):
    """One op as (kind, op_id, hold_id, params, cells, qtys, (customer, owner, share_bp),
    caps), biased to single-line holds; holds sometimes carry anti-scalping limits."""
    kind, op_id, hold_id, params, cs, qs = draw(plain_op_rows())
    if kind != OpKind.HOLD or draw(st.booleans()):
        return kind, op_id, hold_id, params, cs, qs, NO_LIMITS, [0] * len(cs)
    limits = (draw(customers), draw(owners), draw(shares))
    return kind, op_id, hold_id, params, cs, qs, limits, [draw(caps_) for _ in cs]


@st.composite
def plain_op_rows(draw):
    """One op as (kind, op_id, hold_id, params, cells, qtys), biased to single-line holds;
    ``params``: {ttl_ms, version, state}, now and then with one the kind does not read."""
    kind = draw(st.sampled_from([OpKind.HOLD] * 6 + [OpKind.COMMIT, OpKind.RELEASE,
                                                     OpKind.SHIP, OpKind.CANCEL,
                                                     OpKind.RESTOCK, OpKind.SYNC,
                                                     OpKind.TRANSFER_OUT]))
    op_id = draw(st.integers(min_value=-1, max_value=60))
    params = dict.fromkeys(PARAM_FIELDS, 0)
    stray = draw(st.sampled_from([None] * 12 + list(PARAM_FIELDS)))
    if stray is not None and stray != PARAM_OF.get(kind):
        params[stray] = 7  # invalid: the batch path must agree (and fall back)
    if kind == OpKind.HOLD:
        n = draw(st.sampled_from([1, 1, 1, 1, 2, 3]))
        cs = draw(st.lists(cells, min_size=n, max_size=n))
        qs = draw(st.lists(st.integers(min_value=0, max_value=6), min_size=n, max_size=n))
        params["ttl_ms"] = draw(st.sampled_from([1000, 5000, 0]))
        return kind, op_id, -1, params, cs, qs
    if kind in (OpKind.COMMIT, OpKind.RELEASE, OpKind.SHIP, OpKind.CANCEL):
        if kind in PARAM_OF:  # the reservation version it expects (0: never amended)
            params["version"] = draw(st.sampled_from([0, 0, 0, 1 << 32]))
        return kind, op_id, draw(st.integers(min_value=-1, max_value=30)), params, [], []
    if kind == OpKind.SYNC:
        params["version"] = draw(st.integers(0, 5))
        return kind, op_id, -1, params, [draw(cells)], [draw(st.integers(0, 20))]
    return kind, op_id, -1, params, [draw(cells)], [draw(st.integers(1, 10))]


def build_batch(rows, now):
    starts, counts, lc, lq, caps = [], [], [], [], []
    for _, _, _, _, cs, qs, _, cap in rows:
        starts.append(len(lc))
        counts.append(len(cs))
        lc += cs
        lq += qs
        caps += cap
    return OpBatch(
        kind=np.array([r[0] for r in rows], np.uint8),
        op_id=np.array([r[1] for r in rows], np.int64),
        hold_id=np.array([r[2] for r in rows], np.int64),
        **{f: np.array([r[3][f] for r in rows], np.int64) for f in PARAM_FIELDS},
        line_start=np.array(starts, np.int64), line_count=np.array(counts, np.int64),
        l_cell=np.array(lc, np.int64), l_qty=np.array(lq, np.int64), now_ms=now,
        customer=np.array([r[6][0] for r in rows], np.int64),
        owner=np.array([r[6][1] for r in rows], np.int64),
        share_bp=np.array([r[6][2] for r in rows], np.int64),
        l_cap=np.array(caps, np.int64))


@given(stock=st.lists(st.integers(0, 12), min_size=N_CELLS, max_size=N_CELLS),
       batches=st.lists(st.lists(op_rows(), min_size=1, max_size=40), min_size=1, max_size=4),
       gaps=st.lists(st.integers(0, 4000), min_size=4, max_size=4),
       closed=st.lists(st.sampled_from(SKUS), max_size=1))
def test_batch_apply_equals_one_at_a_time(stock, batches, gaps, closed):
    vec = Ledger(SKUS, WHS, min_vector_run=1)
    ref = Ledger(SKUS, WHS)
    for sku in closed:
        vec.set_accepting(sku, False)
        ref.set_accepting(sku, False)
    vec.on_hand[:] = stock
    ref.on_hand[:] = stock
    now = 0
    for rows, gap in zip(batches, gaps):
        got = vec.apply(build_batch(rows, now))
        for i, (kind, op_id, hold_id, params, cs, qs, (cust, own, share), caps) in enumerate(rows):
            want = ref.apply_one(kind, op_id, hold_id, np.array(cs, np.int64),
                                 np.array(qs, np.int64), now, **params, customer=cust,
                                 owner=own, share_bp=share, caps=np.array(caps, np.int64))
            assert got.row(i) == want, (i, rows[i])
        now += gap
        assert np.array_equal(vec.expire(now), ref.expire(now))
        assert_same_state(vec, ref)


@given(stock=st.lists(st.integers(0, 30), min_size=N_CELLS, max_size=N_CELLS),
       demand=st.lists(st.tuples(cells, qtys), min_size=1, max_size=300))
def test_large_vectorised_runs_match_sequential(stock, demand):
    """Fresh op ids only, so every run takes the vectorised path."""
    vec = Ledger(SKUS, WHS, min_vector_run=1)
    ref = Ledger(SKUS, WHS)
    vec.on_hand[:] = stock
    ref.on_hand[:] = stock
    cs = np.array([c for c, _ in demand])
    qs = np.array([q for _, q in demand])
    got = vec.apply(OpBatch.single_line_holds(np.arange(len(demand)), cs, qs, 1000, 0))
    for i in range(len(demand)):
        assert got.row(i) == ref.apply_one(OpKind.HOLD, i, -1, cs[i:i + 1], qs[i:i + 1], 0,
                                           ttl_ms=1000)
    assert_same_state(vec, ref)
    assert (vec.available >= 0).all()
