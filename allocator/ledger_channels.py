"""Channel rules per SKU: buffers and allocation caps, checked on the hold.

A retailer sells one pool of stock on several channels (a marketplace, its own store,
a brand's app). Ops set rules per (SKU, channel), each in units or as a share of the
SKU's on-hand units (basis points, summed over the warehouses of this shard):

* **buffer** — units kept for that channel: every *other* hold (another channel's, or
  one without a channel) must leave ``buffer − the channel's live units`` available
  (never less than 0). As the channel sells, what is kept for it shrinks; when its
  units are released, expire or ship, the buffer is whole again.
* **cap** — the most units of the SKU the channel may have live (held + committed) at
  once. A buffer above the cap keeps only up to the cap.

A hold is refused ``CHANNEL_CAP`` (its channel would pass its cap) or
``CHANNEL_RESERVED`` (it would eat into what other channels' buffers keep), checked
with the stock, atomically with the hold. Units are counted per (channel, SKU row)
for the SKUs that have rules only (``_channel_units``, always equal to what the holds
table implies); a SKU without rules costs the hot path nothing.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from allocator.errors import InvalidRequest
from allocator.ledger_state import MAX_SHARE_BP
from allocator.ops import Code, HoldState, OpResult

MAX_RULE_UNITS = 1_000_000_000


class ChannelRule(NamedTuple):
    """One (SKU, channel) rule: a buffer in units or basis points of on-hand (0: none),
    a cap in units or basis points (-1: none)."""

    buffer: int = 0
    buffer_bp: int = 0
    cap: int = -1
    cap_bp: int = -1

    def cap_units(self, on_hand: int) -> int:
        """The cap in units for this on-hand (-1: no cap)."""
        if self.cap >= 0:
            return self.cap
        return self.cap_bp * on_hand // MAX_SHARE_BP if self.cap_bp >= 0 else -1

    def buffer_units(self, on_hand: int) -> int:
        """Units kept for the channel (never more than its cap)."""
        units = self.buffer or self.buffer_bp * on_hand // MAX_SHARE_BP
        cap = self.cap_units(on_hand)
        return units if cap < 0 else min(units, cap)

    @property
    def empty(self) -> bool:
        return not (self.buffer or self.buffer_bp) and self.cap < 0 and self.cap_bp < 0

    def invalid_reason(self) -> str | None:
        if not 0 <= self.buffer <= MAX_RULE_UNITS or not -1 <= self.cap <= MAX_RULE_UNITS:
            return f"buffer and cap units are between 0 and {MAX_RULE_UNITS}"
        if not 0 <= self.buffer_bp <= MAX_SHARE_BP or not -1 <= self.cap_bp <= MAX_SHARE_BP:
            return "shares are between 0 and 1"
        if self.buffer and self.buffer_bp:
            return "a buffer is in units or a share, not both"
        if self.cap >= 0 and self.cap_bp >= 0:
            return "a cap is in units or a share, not both"
        return None


class ChannelRules:
    """Mixin of :class:`~allocator.ledger.Ledger`: channel rules and their counts."""

    def _init_channels(self, n_skus: int) -> None:
        self.ruled = np.zeros(n_skus, bool)  # per SKU row: has channel rules
        self._n_ruled = 0
        self._channel_rules: dict[int, dict[int, ChannelRule]] = {}  # row -> channel -> rule
        self._channel_units: dict[tuple[int, int], int] = {}  # (channel, row) -> live units
        self.channel_names: dict[int, str] = {}  # for reading rules back

    # ------------------------------------------------------------------ rules
    def set_channel_rule(self, sku_id: str, channel: int, rule: ChannelRule,
                         name: str = "") -> None:
        """Set (or with an empty rule, remove) the rule of ``channel`` on a SKU. Counts of
        the SKU's live channel units start from the holds table when its first rule
        is set. Raises :class:`InvalidRequest` (changing nothing) for a bad rule."""
        row = self.cell(sku_id, self.warehouse_ids[0]) // self.n_warehouses
        rule = ChannelRule(*(int(x) for x in rule))
        reason = "channel ids are positive" if channel <= 0 else rule.invalid_reason()
        if reason is not None:
            raise InvalidRequest(reason, sku=sku_id)
        rules = self._channel_rules.get(row, {})
        if rule.empty:
            rules.pop(channel, None)
        else:
            rules[channel] = rule
            if name:
                self.channel_names[channel] = name
        if rules and not self.ruled[row]:
            self._channel_rules[row] = rules
            self.ruled[row] = True
            self._n_ruled += 1
            self._channel_units.update(self.derived_channel_counts(np.array([row])))
        elif not rules and self.ruled[row]:
            del self._channel_rules[row]
            self.ruled[row] = False
            self._n_ruled -= 1
            for key in [k for k in self._channel_units if k[1] == row]:
                del self._channel_units[key]

    def channel_rules(self, sku_id: str) -> dict[int, ChannelRule]:
        """The rules of a SKU by channel id (a copy)."""
        row = self.cell(sku_id, self.warehouse_ids[0]) // self.n_warehouses
        return dict(self._channel_rules.get(row, {}))

    def channel_rule_rows(self) -> list[list[Any]]:
        """Every rule as ``[sku, channel, name, buffer, buffer_bp, cap, cap_bp]`` (the
        snapshot form; :meth:`load_channel_rules` reads it back)."""
        return [[self.sku_ids[row], ch, self.channel_names.get(ch, ""), *rule]
                for row, rules in sorted(self._channel_rules.items())
                for ch, rule in sorted(rules.items())]

    def load_channel_rules(self, rows: list[list[Any]]) -> None:
        for sku, ch, name, *rule in rows:
            self.set_channel_rule(sku, int(ch), ChannelRule(*rule), name)

    # -------------------------------------------------------------- the check
    def _check_channels(self, cells: np.ndarray, qtys: np.ndarray, channel: int
                        ) -> OpResult | None:
        """CHANNEL_CAP, then CHANNEL_RESERVED, for the first line (in order) of a SKU
        with rules that would break one. A line's SKU total of this op is what it adds."""
        nwh = self.n_warehouses
        rows = (cells // nwh).tolist()
        adds: dict[int, int] = {}
        for r, q in zip(rows, qtys.tolist()):
            if self.ruled[r]:
                adds[r] = adds.get(r, 0) + q
        for i, r in enumerate(rows):
            add = adds.pop(r, 0)  # the first line of each ruled SKU checks its total
            if not add:
                continue
            free, room, kept = self._channel_may_take(r, channel)
            if 0 <= room < add:
                return OpResult(Code.CHANNEL_CAP, room, i)
            if add > free and kept:  # (without buffers in the way: plain INSUFFICIENT)
                return OpResult(Code.CHANNEL_RESERVED, free, i)
        return None

    def _channel_may_take(self, row: int, channel: int) -> tuple[int, int, int]:
        """(units of SKU ``row`` a hold on ``channel`` may take before it eats into
        other channels' buffers — at most what is available; units its cap still
        allows, or -1 without a cap; units other channels' buffers keep)."""
        nwh = self.n_warehouses
        s = slice(row * nwh, (row + 1) * nwh)
        on_hand = int(self.on_hand[s].sum())
        avail = on_hand - int(self.held[s].sum()) - int(self.committed[s].sum())
        kept, room = self._kept_and_room(row, channel, on_hand)
        return max(0, avail - kept), room, kept

    def _kept_and_room(self, row: int, channel: int, on_hand: int) -> tuple[int, int]:
        """(units other channels' buffers keep of SKU ``row``; room under ``channel``'s
        cap, -1 without one)."""
        units = self._channel_units
        kept = 0
        room = -1
        for ch, rule in self._channel_rules[row].items():
            if ch == channel:
                cap = rule.cap_units(on_hand)
                if cap >= 0:
                    room = max(0, cap - units.get((ch, row), 0))
            else:
                kept += max(0, rule.buffer_units(on_hand) - units.get((ch, row), 0))
        return kept, room

    def _hold_ruled_run(self, cells: np.ndarray, qtys: np.ndarray, channels: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Single-line holds (no customer, no share) of SKUs with rules, in arrival
        order, in scalars — what :meth:`_do_hold` answers for each, without its per-op
        costs. Returns (taken, refusal code, value); ``held`` and the counts updated."""
        nwh = self.n_warehouses
        m = len(cells)
        ok = np.zeros(m, bool)
        code = np.full(m, Code.INSUFFICIENT, np.uint8)
        value = np.zeros(m, np.int64)
        rows: dict[int, list[int]] = {}  # SKU row -> [on_hand, available]
        cell_left: dict[int, int] = {}
        units = self._channel_units
        for i, (c, q, ch) in enumerate(zip(cells.tolist(), qtys.tolist(), channels.tolist())):
            r = c // nwh
            st = rows.get(r)
            if st is None:
                s = slice(r * nwh, (r + 1) * nwh)
                on_hand = int(self.on_hand[s].sum())
                st = rows[r] = [on_hand, on_hand - int(self.held[s].sum())
                                - int(self.committed[s].sum())]
            kept, room = self._kept_and_room(r, ch, st[0])
            free = max(0, st[1] - kept)
            if 0 <= room < q:
                code[i], value[i] = Code.CHANNEL_CAP, room
                continue
            if q > free and kept:
                code[i], value[i] = Code.CHANNEL_RESERVED, free
                continue
            left = cell_left.get(c)
            if left is None:
                left = int(self.on_hand[c] - self.held[c] - self.committed[c])
            if q > left:
                value[i] = cell_left[c] = left
                continue
            cell_left[c] = left - q
            st[1] -= q
            ok[i] = True
            if ch:
                units[(ch, r)] = units.get((ch, r), 0) + q
        taken = np.flatnonzero(ok)
        np.add.at(self.held, cells[taken], qtys[taken])
        return ok, code, value

    def channel_view(self, sku_id: str, channel: int) -> dict[str, Any]:
        """What ``channel`` (0: no channel) can still sell of a SKU here: ``sellable`` in
        total and per warehouse, its live units, its rule, what others' buffers keep."""
        row = self.cell(sku_id, self.warehouse_ids[0]) // self.n_warehouses
        nwh = self.n_warehouses
        s = slice(row * nwh, (row + 1) * nwh)
        avail = self.on_hand[s] - self.held[s] - self.committed[s]
        if self.ruled[row]:
            free, room, _ = self._channel_may_take(row, channel)
            total = free if room < 0 else min(free, room)
        else:
            total = int(avail.sum())
        rule = self._channel_rules.get(row, {}).get(channel)
        return {"sellable": total,
                "warehouses": dict(zip(self.warehouse_ids,
                                       np.minimum(avail, total).tolist())),
                "units": self._channel_units.get((channel, row), 0),
                "rule": None if rule is None else rule._asdict()}

    # ----------------------------------------------------------------- counts
    def _count_channel(self, channel: int, cells: np.ndarray, qtys: np.ndarray,
                       sign: int) -> None:
        """Add (sign 1) or remove (sign -1) a hold's units on SKUs with rules."""
        nwh = self.n_warehouses
        table = self._channel_units
        for c, q in zip(cells.tolist(), qtys.tolist()):
            r = c // nwh
            if not self.ruled[r]:
                continue
            key = (channel, r)
            left = table.get(key, 0) + sign * q
            if left:
                table[key] = left
            else:
                table.pop(key, None)

    def _uncount_channel_rows(self, rows: np.ndarray) -> None:
        """Holds at these rows of :attr:`holds` stop being live: uncount their units."""
        if not self._channel_units:
            return
        channels = self.holds["channel"][rows]
        for j in np.flatnonzero(channels != 0).tolist():
            cells, qtys = self._hold_lines(int(rows[j]))
            self._count_channel(int(channels[j]), cells, qtys, -1)

    def channel_counts(self) -> dict[tuple[int, int], int]:
        """A copy of the tracked counts: (channel, SKU row) -> live units, SKUs with
        rules only."""
        return dict(self._channel_units)

    def derived_channel_counts(self, rows: np.ndarray | None = None
                               ) -> dict[tuple[int, int], int]:
        """The same counts from scratch from the holds table (for SKU ``rows``, or
        every SKU with rules)."""
        state = self.holds["state"]
        channels = self.holds["channel"]
        live = np.flatnonzero(((state == HoldState.PENDING) | (state == HoldState.COMMITTED))
                              & (channels != 0))
        if not live.size:
            return {}
        idx = self.line_index_rows(live)
        who = np.repeat(channels[live], self.holds["line_count"][live])
        sku_row = self.lines["cell"][idx] // self.n_warehouses
        keep = self.ruled[sku_row] if rows is None else np.isin(sku_row, rows)
        out: dict[tuple[int, int], int] = {}
        for ch, r, q in zip(who[keep].tolist(), sku_row[keep].tolist(),
                            self.lines["qty"][idx][keep].tolist()):
            out[(ch, r)] = out.get((ch, r), 0) + q
        return {k: v for k, v in out.items() if v}
