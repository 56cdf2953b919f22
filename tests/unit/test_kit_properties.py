"""Bundles and exchanges against a reference model, under any interleaving.

A state machine drives a real :class:`Ledger` the way the service does — a bundle
line expanded by :func:`allocator.bundles.expand` and held as one multi-line HOLD
(all-or-nothing), kits cancelled whole (:func:`allocator.bundles.cancel_wants` →
DROP_LINES), commit / release / ship of the whole hold, and exchanges (the shipped
units claimed, then the replacement held, the claim undone if it cannot be) — beside a
plain-Python model of every cell and hold. After each step: the ledger equals the
model, available ≥ 0, units are conserved (on hand moves only by shipping; a returned
unit goes to inspection, not back on sale), a kit's components always hold
``live kits × units per kit`` each, returns never exceed what shipped, and a bundle's
availability (:func:`allocator.bundles.kits_available`) is exactly the most kits a hold
can take at that warehouse.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle as Pool, RuleBasedStateMachine, initialize, invariant, multiple, precondition,
    rule,
)

from allocator.audit import audit
from allocator.bundles import Bundle, cancel_wants, expand, kit_views, kits_available
from allocator.ledger import Ledger
from allocator.ops import Code, HoldState, OpKind

SKUS, WHS = ["A", "B", "C", "D"], ["W1", "W2"]
DONE = {OpKind.COMMIT: HoldState.COMMITTED, OpKind.RELEASE: HoldState.RELEASED,
        OpKind.SHIP: HoldState.SHIPPED}
FROM = {OpKind.COMMIT: HoldState.PENDING, OpKind.RELEASE: HoldState.PENDING,
        OpKind.SHIP: HoldState.COMMITTED}
TTL = 3_600_000  # never reached: the clock stays at 0


class KitMachine(RuleBasedStateMachine):
    holds = Pool("holds")

    @initialize(stock=st.lists(st.integers(0, 8), min_size=8, max_size=8),
                comps=st.lists(st.tuples(st.sampled_from(SKUS), st.integers(1, 3)),
                               min_size=1, max_size=3, unique_by=lambda c: c[0]))
    def setup(self, stock, comps):
        self.led = Ledger(SKUS, WHS, min_vector_run=1)
        self.bundles = {"KIT": Bundle("KIT", tuple(comps)),
                        "PAIR": Bundle("PAIR", (("A", 1), ("D", 2)))}
        self.on_hand = {}
        self.held = {}
        self.committed = {}
        self.model = {}  # hold id -> {"state", "lines": {(sku, wh): live}, "kits": [Kit]}
        self.returned = {}  # (hold id, sku, wh) -> units returned by exchanges
        self.exchanges = []  # (hold id, sku, wh, qty, replacement hold id)
        self.ops = 0
        for i, (sku, wh) in enumerate((s, w) for s in SKUS for w in WHS):
            self.on_hand[(sku, wh)] = self.held[(sku, wh)] = self.committed[(sku, wh)] = 0
            if stock[i]:
                self._do(OpKind.RESTOCK, -1, [(sku, wh, stock[i])])
                self.on_hand[(sku, wh)] = stock[i]

    def _do(self, kind, hold_id, lines, **params):
        """``params``: the op's parameter (ttl_ms, version or state)."""
        self.ops += 1
        cells = np.array([self.led.cell(s, w) for s, w, _ in lines], np.int64)
        qtys = np.array([q for _, _, q in lines], np.int64)
        return self.led.apply_one(kind, self.ops, hold_id, cells, qtys, 0, **params)

    def _avail(self, sku, wh):
        k = (sku, wh)
        return self.on_hand[k] - self.held[k] - self.committed[k]

    def _hold(self, lines, kits):
        """One all-or-nothing HOLD; the model says whether it must fit."""
        fits = all(self._avail(s, w) >= q for s, w, q in lines)
        r = self._do(OpKind.HOLD, -1, lines, ttl_ms=TTL)
        assert r.ok == fits, (r, lines)
        if not r.ok:
            assert r.code == Code.INSUFFICIENT
            return None
        for s, w, q in lines:
            self.held[(s, w)] += q
        self.model[r.value] = {"state": HoldState.PENDING, "kits": kits,
                               "lines": {(s, w): q for s, w, q in lines}}
        return r.value

    @rule(target=holds, name=st.sampled_from(["KIT", "PAIR"]), qty=st.integers(1, 4),
          whs=st.lists(st.sampled_from(WHS), min_size=3, max_size=3))
    def reserve_kit(self, name, qty, whs):
        """A bundle line, its components at the warehouses the router chose."""
        lines, kits = expand([(name, None, qty)], self.bundles)
        placed = [(s, whs[i], q) for i, (s, _, q) in enumerate(lines)]
        hid = self._hold(placed, kits)
        return multiple() if hid is None else multiple(hid)

    @rule(name=st.sampled_from(["KIT", "PAIR"]), wh=st.sampled_from(WHS))
    def availability_is_what_a_hold_can_take(self, name, wh):
        bundle = self.bundles[name]
        rows = {s: self.led.available[[self.led.cell(s, w) for w in WHS]] for s in SKUS}
        kits = int(kits_available(bundle.components, rows)[WHS.index(wh)])
        for n, fits in ((kits, True), (kits + 1, False)):
            if n == 0:
                continue
            probe = Ledger.from_snapshot(self.led.snapshot(), min_vector_run=1)
            cells = np.array([probe.cell(s, wh) for s, _ in bundle.components], np.int64)
            qtys = np.array([n * per for _, per in bundle.components], np.int64)
            r = probe.apply_one(OpKind.HOLD, 10**9, -1, cells, qtys, 0, ttl_ms=TTL)
            assert r.ok == fits, (name, wh, n, r)

    @rule(hold_id=holds, kind=st.sampled_from([OpKind.COMMIT, OpKind.RELEASE, OpKind.SHIP]))
    def transition(self, hold_id, kind):
        m = self.model[hold_id]
        r = self._do(kind, hold_id, [])
        assert r.ok == (m["state"] == FROM[kind]), (kind, m["state"], r)
        if not r.ok:
            return
        for (s, w), q in m["lines"].items():
            if kind in (OpKind.COMMIT, OpKind.RELEASE):
                self.held[(s, w)] -= q
            if kind == OpKind.COMMIT:
                self.committed[(s, w)] += q
            if kind == OpKind.SHIP:
                self.committed[(s, w)] -= q
                self.on_hand[(s, w)] -= q
        m["state"] = DONE[kind]

    @rule(hold_id=holds, data=st.data())
    def cancel_kits(self, hold_id, data):
        """Whole kits off a pending or committed kit hold; a component alone refused."""
        m = self.model[hold_id]
        (kit,) = m["kits"]
        states = [{"sku": s, "warehouse": w, "qty": q, "state": "x"}
                  for (s, w), q in m["lines"].items()]
        _, alone = cancel_wants(m["kits"], [(kit.components[0][0], None, 1)], states)
        assert alone == kit.components[0][0]
        live = kit_views(m["kits"], states, "x")[0]["qty"]
        if live == 0 or m["state"] not in (HoldState.PENDING, HoldState.COMMITTED):
            return
        n = data.draw(st.integers(1, live))
        wants, alone = cancel_wants(m["kits"], [(kit.bundle, None, n)], states)
        assert alone is None and len(wants) == len(kit.components)
        cut = []
        for sku, _, units in wants:
            for (s, w), q in m["lines"].items():
                take = min(q, units) if s == sku else 0
                if take:
                    cut.append((s, w, take))
                    units -= take
            assert units == 0
        r = self._do(OpKind.DROP_LINES, hold_id, cut, state=int(m["state"]))
        assert r.ok, r
        column = self.held if m["state"] == HoldState.PENDING else self.committed
        for s, w, q in cut:
            column[(s, w)] -= q
            m["lines"][(s, w)] -= q

    @precondition(lambda self: any(m["state"] == HoldState.SHIPPED
                                   for m in self.model.values()))
    @rule(data=st.data(), qty=st.integers(1, 3), repl=st.sampled_from(SKUS),
          wh=st.sampled_from(WHS), repl_qty=st.integers(1, 4))
    def exchange(self, data, qty, repl, wh, repl_qty):
        """Claim shipped units (refused past what shipped), then hold the replacement;
        if it cannot be held, the claim is undone and nothing is recorded."""
        shipped = sorted((h, s, w, q) for h, m in self.model.items()
                         if m["state"] == HoldState.SHIPPED
                         for (s, w), q in m["lines"].items() if q)
        if not shipped:
            return
        hid, sku, w0, units = data.draw(st.sampled_from(shipped))
        key = (hid, sku, w0)
        before = self.returned.get(key, 0)
        if before + qty > units:
            return  # already returned: the service answers 409, nothing changes
        self.returned[key] = before + qty
        on_hand = dict(self.on_hand)
        new = self._hold([(repl, wh, repl_qty)], [])
        if new is None:
            self.returned[key] = before
        else:
            self.exchanges.append((hid, sku, w0, qty, new))
        assert self.on_hand == on_hand  # the returned units are not back on sale

    @invariant()
    def ledger_equals_the_model(self):
        for (s, w), q in self.on_hand.items():
            c = self.led.cell(s, w)
            assert (int(self.led.on_hand[c]), int(self.led.held[c]),
                    int(self.led.committed[c])) == (q, self.held[(s, w)],
                                                    self.committed[(s, w)]), (s, w)
        for hid, m in self.model.items():
            view = self.led.hold_view(hid)
            assert view.state == m["state"]
            assert {(s, w): q for s, w, q in view.lines} == m["lines"]

    @invariant()
    def available_never_negative_and_audit_clean(self):
        assert (self.led.available >= 0).all()
        report = audit(self.led)
        assert report.ok, report.problems

    @invariant()
    def kits_hold_their_components_together(self):
        for m in self.model.values():
            for kit in m["kits"]:
                units = {s: sum(q for (x, _), q in m["lines"].items() if x == s)
                         for s, _ in kit.components}
                live = min(units[s] // per for s, per in kit.components)
                assert all(units[s] == live * per for s, per in kit.components)

    @invariant()
    def returns_never_exceed_what_shipped(self):
        for (hid, sku, wh), n in self.returned.items():
            assert n <= self.model[hid]["lines"][(sku, wh)]
        for hid, sku, wh, qty, new in self.exchanges:
            assert self.model[hid]["state"] == HoldState.SHIPPED and new in self.model


TestKitMachine = KitMachine.TestCase
