"""Channel rules in the ledger: buffers kept for a channel, allocation caps, taken
atomically with the hold; a stateful model check against a plain reference; the
batch path agreeing with the one-op path; snapshots and replay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from allocator.audit import audit
from allocator.errors import ChannelLimit, ChannelReserved, InsufficientStock, InvalidRequest
from allocator.ledger import Ledger
from allocator.ledger_channels import ChannelRule
from allocator.ops import BatchBuilder, Code, HoldState, OpKind

TTL = 60_000
SKUS, WHS = ["A", "B"], ["W1", "W2"]
NO = np.zeros(0, np.int64)
SHOP, MARKET, APP = 1, 2, 3


@pytest.fixture
def led() -> Ledger:
    led = Ledger(SKUS, WHS)
    led.restock(1, "A", "W1", 60, 0)
    led.restock(2, "A", "W2", 40, 0)
    led.restock(3, "B", "W1", 10, 0)
    return led


def hold(led: Ledger, op: int, lines, channel: int = 0, now: int = 0, ttl: int = TTL):
    cells = np.array([led.cell(s, w) for s, w, _ in lines], np.int64)
    qtys = np.array([q for _, _, q in lines], np.int64)
    return led.apply_one(OpKind.HOLD, op, -1, cells, qtys, now, ttl_ms=ttl, channel=channel)


def step(led: Ledger, kind: OpKind, op: int, hold_id: int, now: int = 0):
    return led.apply_one(kind, op, hold_id, NO, NO, now)


def counts(led: Ledger) -> dict:
    tracked = led.channel_counts()
    assert tracked == led.derived_channel_counts()  # the tracked counts are the table's
    assert audit(led).ok, audit(led).problems
    return tracked


# ------------------------------------------------------------------------ buffers

def test_another_channel_cannot_take_a_buffer_but_its_channel_can(led):
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=30), "shop")
    assert hold(led, 10, [("A", "W1", 60)], MARKET).ok  # 100 on hand, 30 kept for shop
    res = hold(led, 11, [("A", "W2", 20)], MARKET)
    assert (res.code, res.value, res.detail) == (Code.CHANNEL_RESERVED, 10, 0)
    assert hold(led, 12, [("A", "W2", 10)], MARKET).ok  # exactly down to the buffer
    for op, ch in ((13, MARKET), (14, 0), (15, APP)):  # no channel is "another" too
        res = hold(led, op, [("A", "W2", 1)], ch)
        assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 0)
    assert hold(led, 16, [("A", "W2", 30)], SHOP).ok  # the shop takes its whole buffer
    assert led.stock("A")["W2"]["available"] == 0
    assert counts(led) == {(SHOP, 0): 30, (MARKET, 0): 70}


def test_a_buffer_shrinks_as_its_channel_sells_and_comes_back_when_units_return(led):
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=30), "shop")
    h = hold(led, 10, [("A", "W1", 20)], SHOP)
    assert h.ok
    # 80 available, shop still has 10 kept: the market may take 70
    assert hold(led, 11, [("A", "W1", 40), ("A", "W2", 31)], MARKET).code == \
        Code.CHANNEL_RESERVED
    assert hold(led, 12, [("A", "W1", 40), ("A", "W2", 30)], MARKET).ok
    assert step(led, OpKind.COMMIT, 13, h.value).ok  # committed units still count
    assert hold(led, 14, [("A", "W2", 1)], MARKET).code == Code.CHANNEL_RESERVED
    assert step(led, OpKind.CANCEL, 15, h.value).ok  # refunded: 20 back, 30 kept again
    res = hold(led, 16, [("A", "W2", 1)], MARKET)
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 0)
    assert counts(led) == {(MARKET, 0): 70}


def test_expiry_and_drop_lines_give_the_buffer_back(led):
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=30), "shop")
    h = hold(led, 10, [("A", "W1", 10), ("A", "W2", 20)], SHOP, ttl=1_000)
    assert h.ok and counts(led) == {(SHOP, 0): 30}
    assert led.line_op(OpKind.DROP_LINES, 11, h.value, [("A", "W2", 5)], 0) == h.value
    assert counts(led) == {(SHOP, 0): 25}
    assert hold(led, 12, [("A", "W2", 15)], MARKET).ok  # 60 left, 5 kept: 55 sellable
    res = hold(led, 13, [("A", "W1", 50), ("A", "W2", 6)], MARKET)
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 55)
    led.expire(5_000)
    assert counts(led) == {(MARKET, 0): 15}
    res = hold(led, 14, [("A", "W1", 50), ("A", "W2", 6)], MARKET, now=5_000)
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 55)  # 85 left, 30 kept


def test_a_share_buffer_follows_on_hand(led):
    led.set_channel_rule("A", SHOP, ChannelRule(buffer_bp=2_500))  # 25 % of 100
    res = hold(led, 10, [("A", "W1", 76)], MARKET)
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 75)
    led.restock(11, "A", "W2", 100, 0)  # 200 on hand: 50 kept
    res = hold(led, 12, [("A", "W1", 60), ("A", "W2", 91)], MARKET)
    assert (res.code, res.value, res.detail) == (Code.CHANNEL_RESERVED, 150, 0)


def test_without_buffers_in_the_way_a_short_line_is_plain_insufficient(led):
    led.set_channel_rule("A", SHOP, ChannelRule(cap=500))
    res = hold(led, 10, [("A", "W1", 61)], SHOP)
    assert (res.code, res.value) == (Code.INSUFFICIENT, 60)
    with pytest.raises(InsufficientStock):
        led.hold(11, [("A", "W1", 61)], 0, TTL, channel=MARKET)


def test_several_buffers_add_up_and_each_channel_keeps_its_own(led):
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=20))
    led.set_channel_rule("A", APP, ChannelRule(buffer=10))
    res = hold(led, 10, [("A", "W1", 71)], MARKET)
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 70)
    res = hold(led, 11, [("A", "W1", 60), ("A", "W2", 31)], SHOP)  # must leave the app 10
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 90)
    assert hold(led, 12, [("A", "W1", 60), ("A", "W2", 30)], SHOP).ok
    assert hold(led, 13, [("A", "W2", 10)], APP).ok


# --------------------------------------------------------------------------- caps

def test_a_cap_bounds_a_channels_live_units(led):
    led.set_channel_rule("A", MARKET, ChannelRule(cap=25))
    h = hold(led, 10, [("A", "W1", 20)], MARKET)
    assert h.ok and step(led, OpKind.COMMIT, 11, h.value).ok
    res = hold(led, 12, [("A", "W2", 6)], MARKET)
    assert (res.code, res.value, res.detail) == (Code.CHANNEL_CAP, 5, 0)
    with pytest.raises(ChannelLimit) as err:
        led.hold(13, [("B", "W1", 1), ("A", "W2", 6)], 0, TTL, channel=MARKET)
    assert err.value.details["allowed"] == 5 and err.value.details["line"] == 1
    assert hold(led, 14, [("A", "W2", 30)], SHOP).ok  # other channels: no cap
    assert step(led, OpKind.SHIP, 15, h.value).ok  # shipped units stop counting
    assert hold(led, 16, [("A", "W1", 25)], MARKET).ok


def test_a_zero_cap_stops_a_channel_and_a_share_cap_follows_on_hand(led):
    led.set_channel_rule("B", APP, ChannelRule(cap=0))
    assert hold(led, 10, [("B", "W1", 1)], APP).code == Code.CHANNEL_CAP
    led.set_channel_rule("A", APP, ChannelRule(cap_bp=1_000))  # 10 % of 100
    res = hold(led, 11, [("A", "W1", 11)], APP)
    assert (res.code, res.value) == (Code.CHANNEL_CAP, 10)


def test_a_buffer_above_the_cap_keeps_only_the_cap(led):
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=50, cap=20))
    res = hold(led, 10, [("A", "W1", 60), ("A", "W2", 21)], MARKET)
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 80)


# ------------------------------------------------------------------ rules, state

def test_rules_are_validated_and_removed_by_an_empty_rule(led):
    for bad in (ChannelRule(buffer=-1), ChannelRule(buffer=1, buffer_bp=5),
                ChannelRule(cap=1, cap_bp=1), ChannelRule(buffer_bp=10_001)):
        with pytest.raises(InvalidRequest):
            led.set_channel_rule("A", SHOP, bad)
    with pytest.raises(InvalidRequest):
        led.set_channel_rule("A", 0, ChannelRule(buffer=1))
    assert not led.ruled.any()
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=100), "shop")
    assert hold(led, 10, [("A", "W1", 1)], MARKET).code == Code.CHANNEL_RESERVED
    led.set_channel_rule("A", SHOP, ChannelRule())
    assert not led.ruled.any() and led.channel_rules("A") == {}
    assert hold(led, 11, [("A", "W1", 1)], MARKET).ok


def test_counts_start_from_the_holds_when_the_first_rule_is_set(led):
    h = hold(led, 10, [("A", "W1", 20)], SHOP)
    assert hold(led, 11, [("A", "W2", 5)], MARKET).ok
    assert led.channel_counts() == {}  # no rule yet: nothing counted
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=30))
    assert counts(led) == {(SHOP, 0): 20, (MARKET, 0): 5}
    res = hold(led, 12, [("A", "W1", 40), ("A", "W2", 30)], MARKET)  # 75 left, 10 kept
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 65)
    assert step(led, OpKind.RELEASE, 13, h.value).ok
    assert counts(led) == {(MARKET, 0): 5}


def test_channel_view_says_what_a_channel_can_sell(led):
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=30), "shop")
    led.set_channel_rule("A", MARKET, ChannelRule(cap=50), "market")
    assert hold(led, 10, [("A", "W1", 55)], APP).ok  # 45 left: 5 in W1, 40 in W2
    shop, market = led.channel_view("A", SHOP), led.channel_view("A", MARKET)
    assert shop["sellable"] == 45 and shop["warehouses"] == {"W1": 5, "W2": 40}
    assert market["sellable"] == 15 and market["warehouses"] == {"W1": 5, "W2": 15}
    assert market["rule"]["cap"] == 50 and led.channel_view("B", MARKET)["sellable"] == 10
    assert led.channel_names == {SHOP: "shop", MARKET: "market"}


def test_snapshot_keeps_rules_and_rebuilds_counts(led):
    led.set_channel_rule("A", SHOP, ChannelRule(buffer=30), "shop")
    assert hold(led, 10, [("A", "W1", 10)], SHOP).ok
    again = Ledger.from_snapshot(led.snapshot())
    assert again.channel_rules("A") == {SHOP: ChannelRule(buffer=30)}
    assert again.channel_counts() == {(SHOP, 0): 10} and again.channel_names[SHOP] == "shop"
    res = hold(again, 11, [("A", "W2", 40), ("A", "W1", 31)], MARKET)
    assert (res.code, res.value) == (Code.CHANNEL_RESERVED, 70)


def test_the_channel_is_part_of_the_payload(led):
    assert hold(led, 10, [("A", "W1", 1)], SHOP).ok
    assert hold(led, 10, [("A", "W1", 1)], SHOP).replayed
    assert hold(led, 10, [("A", "W1", 1)], MARKET).code == Code.CONFLICT
    assert hold(led, 10, [("A", "W1", 1)]).code == Code.CONFLICT
    assert hold(led, 11, [("A", "W1", 1)], -1).code == Code.INVALID


def test_the_friendly_hold_raises_channel_reserved(led):
    led.set_channel_rule("B", SHOP, ChannelRule(buffer=10))
    with pytest.raises(ChannelReserved) as err:
        led.hold(10, [("B", "W1", 1)], 0, TTL, channel=MARKET)
    assert err.value.details["allowed"] == 0 and err.value.details["sku"] == "B"


# --------------------------------------------------------- batch = one at a time

ops_strategy = st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1), st.integers(0, 1),
                                  st.integers(1, 6), st.sampled_from([0, 0, SHOP, MARKET])),
                        min_size=1, max_size=60)


@settings(deadline=None, max_examples=300)
@given(ops=ops_strategy, ruled=st.sampled_from(["none", "buffer", "both", "share"]))
def test_a_batch_gives_what_one_op_at_a_time_gives(ops, ruled):
    """Runs of single-line holds with channels: vectorised on SKUs without rules, in
    scalars on SKUs with rules; results (hold ids included) and state equal apply_one's."""
    def fresh() -> Ledger:
        led = Ledger(SKUS, WHS, min_vector_run=2)
        led.receive_stock(np.array([20, 15, 12, 9], np.int64))
        if ruled != "none":
            led.set_channel_rule("A", SHOP, ChannelRule(buffer=12))
        if ruled == "both":
            led.set_channel_rule("A", MARKET, ChannelRule(cap=7))
            led.set_channel_rule("B", MARKET, ChannelRule(buffer=5, cap=6))
        if ruled == "share":
            led.set_channel_rule("B", SHOP, ChannelRule(buffer_bp=3_000, cap_bp=6_000))
        return led

    b = BatchBuilder()
    for i, (_, sku, wh, qty, ch) in enumerate(ops):
        b.hold(100 + i, [(sku * 2 + wh, qty)], TTL, channel=ch)
    batch = b.build(0)
    one, many = fresh(), fresh()
    want = [one.apply_one(OpKind.HOLD, 100 + i, -1, *batch.lines(i), 0, ttl_ms=TTL,
                          channel=int(batch.channel[i])) for i in range(len(batch))]
    got = many.apply(batch)
    assert [r.code for r in want] == got.code.tolist()
    assert [r.value for r in want] == got.value.tolist()
    assert [r.detail for r in want] == got.detail.tolist()
    assert np.array_equal(one.held, many.held)
    assert np.array_equal(one.holds["op_id"], many.holds["op_id"])
    assert np.array_equal(one.holds["channel"], many.holds["channel"])
    assert one.channel_counts() == many.channel_counts() == many.derived_channel_counts()
    again = many.apply(batch)  # a replay: first answers, nothing changes
    assert again.replayed.all() and np.array_equal(again.code, got.code)


# ------------------------------------------------------------- stateful model

class ChannelMachine(RuleBasedStateMachine):
    """Holds from 3 channels and none, commits, releases, ships, drops, expiries and
    rule changes on one SKU over two warehouses, checked against a plain model: a hold
    is refused exactly when the reference rules say so, a buffer is never taken by
    another channel, nothing is oversold, and counts equal the holds table."""

    @initialize()
    def setup(self) -> None:
        self.led = Ledger(["S"], ["W1", "W2"])
        self.led.receive_stock(np.array([30, 20], np.int64))
        self.op = 0
        self.now = 0
        self.live: list[int] = []

    def _next(self) -> int:
        self.op += 1
        return self.op

    def _used(self) -> dict[int, int]:
        out: dict[int, int] = {}
        state, channels = self.led.holds["state"], self.led.holds["channel"]
        for row in range(self.led.holds.size):
            if state[row] in (HoldState.PENDING, HoldState.COMMITTED) and channels[row]:
                _, qtys = self.led._hold_lines(row)
                out[int(channels[row])] = out.get(int(channels[row]), 0) + int(qtys.sum())
        return out

    def _reference(self, channel: int, qty: int) -> tuple[int, int]:
        """(units kept for other channels, room under this channel's cap or -1)."""
        on_hand = int(self.led.on_hand.sum())
        used = self._used()
        kept, room = 0, -1
        for ch, r in self.led.channel_rules("S").items():
            cap = r.cap if r.cap >= 0 else (r.cap_bp * on_hand // 10_000 if r.cap_bp >= 0
                                            else -1)
            buf = r.buffer or r.buffer_bp * on_hand // 10_000
            buf = buf if cap < 0 else min(buf, cap)
            if ch == channel:
                room = -1 if cap < 0 else max(0, cap - used.get(ch, 0))
            else:
                kept += max(0, buf - used.get(ch, 0))
        return kept, room

    @rule(channel=st.sampled_from([SHOP, MARKET, APP]), buffer=st.integers(0, 25),
          cap=st.integers(-1, 40), share=st.booleans())
    def set_rule(self, channel, buffer, cap, share):
        r = ChannelRule(buffer_bp=buffer * 200) if share else ChannelRule(buffer=buffer)
        self.led.set_channel_rule("S", channel, r._replace(cap=cap))

    @rule(channel=st.sampled_from([0, SHOP, MARKET, APP]), q1=st.integers(0, 12),
          q2=st.integers(0, 12))
    def take(self, channel, q1, q2):
        lines = [(c, q) for c, q in ((0, q1), (1, q2)) if q]
        if not lines:
            return
        cells = np.array([c for c, _ in lines], np.int64)
        qtys = np.array([q for _, q in lines], np.int64)
        kept, room = self._reference(channel, int(qtys.sum()))
        avail = self.led.available.copy()
        res = self.led.apply_one(OpKind.HOLD, self._next(), -1, cells, qtys, self.now,
                                 ttl_ms=5_000, channel=channel)
        add = int(qtys.sum())
        if 0 <= room < add:
            assert (res.code, res.value) == (Code.CHANNEL_CAP, room)
        elif kept and add > max(0, int(avail.sum()) - kept):
            assert (res.code, res.value) == (Code.CHANNEL_RESERVED,
                                             max(0, int(avail.sum()) - kept))
        elif (qtys > avail[cells]).any():
            assert res.code == Code.INSUFFICIENT
        else:
            assert res.ok, res
            assert int(self.led.available.sum()) >= kept  # others' buffers untouched
            self.live.append(res.value)

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 100), kind=st.sampled_from([OpKind.COMMIT, OpKind.RELEASE,
                                                         OpKind.SHIP, OpKind.CANCEL]))
    def transition(self, i, kind):
        step(self.led, kind, self._next(), self.live[i % len(self.live)], self.now)

    @precondition(lambda self: self.live)
    @rule(i=st.integers(0, 100))
    def drop_one_unit(self, i):
        hid = self.live[i % len(self.live)]
        view = self.led.hold_view(hid)
        sku, wh, qty = view.lines[0]
        if qty and view.state in (HoldState.PENDING, HoldState.COMMITTED):
            self.led.line_op(OpKind.DROP_LINES, self._next(), hid, [(sku, wh, 1)], self.now)

    @rule(ms=st.integers(0, 6_000))
    def tick(self, ms):
        self.now += ms
        self.led.expire(self.now)

    @rule()
    def snapshot_round_trip(self):
        self.led = Ledger.from_snapshot(self.led.snapshot())

    @invariant()
    def consistent(self):
        if not hasattr(self, "led"):
            return
        report = audit(self.led)
        assert report.ok, report.problems
        assert self.led.channel_counts() == self.led.derived_channel_counts()


ChannelMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40,
                                            deadline=None)
TestChannelMachine = ChannelMachine.TestCase
