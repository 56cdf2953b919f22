"""Anti-scalping counts: units per (customer, SKU) and per (owner, SKU), checked on a
hold and always equal to what the holds table implies."""

from __future__ import annotations

import numpy as np

from allocator.ledger_state import MAX_SHARE_BP
from allocator.ops import Code, HoldState, OpResult


class LimitCounts:
    """Mixin of :class:`~allocator.ledger.Ledger`: the limit counts."""

    def _check_limits(self, cells: np.ndarray, qtys: np.ndarray, customer: int, owner: int,
                      share_bp: int, caps: np.ndarray) -> OpResult | None:
        """CUSTOMER_LIMIT, then SHARE_LIMIT, for the first line (in order) that would
        exceed it. Units are counted per SKU row (summed over warehouses): a line's
        SKU row total of this op is what it adds."""
        rows = (cells // self.n_warehouses).tolist()
        adds: dict[int, int] = {}
        for r, q in zip(rows, qtys.tolist()):
            adds[r] = adds.get(r, 0) + q
        if customer:
            for i, (r, cap) in enumerate(zip(rows, caps.tolist())):
                if cap > 0:
                    have = self._customer_units.get((customer, r), 0)
                    if have + adds[r] > cap:
                        return OpResult(Code.CUSTOMER_LIMIT, max(0, cap - have), i)
        if owner:
            nwh = self.n_warehouses
            for i, r in enumerate(rows):
                allowed = share_bp * int(self.on_hand[r * nwh:(r + 1) * nwh].sum()) // MAX_SHARE_BP
                have = self._owner_units.get((owner, r), 0)
                if have + adds[r] > allowed:
                    return OpResult(Code.SHARE_LIMIT, max(0, allowed - have), i)
        return None

    def _count(self, table: dict[tuple[int, int], int], who: int, cells: np.ndarray,
               qtys: np.ndarray, sign: int) -> None:
        """Add (sign 1) or remove (sign -1) a hold's units from a limit count table."""
        nwh = self.n_warehouses
        for c, q in zip(cells.tolist(), qtys.tolist()):
            key = (who, c // nwh)
            left = table.get(key, 0) + sign * q
            if left:
                table[key] = left
            else:
                table.pop(key, None)

    def limit_counts(self) -> tuple[dict[tuple[int, int], int], dict[tuple[int, int], int]]:
        """Copies of the tracked counts: (customer, SKU row) -> units pending or
        committed, and (owner, SKU row) -> units pending under a share cap."""
        return dict(self._customer_units), dict(self._owner_units)

    def derived_limit_counts(self) -> tuple[dict[tuple[int, int], int],
                                            dict[tuple[int, int], int]]:
        """The same counts, computed from scratch from the holds table."""
        state = self.holds["state"]
        live = (state == HoldState.PENDING) | (state == HoldState.COMMITTED)
        customers = self.holds["customer"]
        owners = self.holds["owner"]
        return (self._units_by(np.flatnonzero(live & (customers != 0)), customers),
                self._units_by(np.flatnonzero((state == HoldState.PENDING) & (owners != 0)),
                               owners))

    def _units_by(self, rows: np.ndarray, who: np.ndarray) -> dict[tuple[int, int], int]:
        if not rows.size:
            return {}
        idx = self.line_index_rows(rows)
        keys = np.stack([np.repeat(who[rows], self.holds["line_count"][rows]),
                         self.lines["cell"][idx] // self.n_warehouses], axis=1)
        uniq, inv = np.unique(keys, axis=0, return_inverse=True)
        units = np.zeros(len(uniq), np.int64)
        np.add.at(units, inv.reshape(-1), self.lines["qty"][idx])
        return {(int(w), int(r)): int(u) for (w, r), u in zip(uniq.tolist(), units.tolist())
                if u}

    # ------------------------------------------------------------ batch apply
