"""Retention: old idempotency records forgotten and finished holds compacted away,
keeping hold ids stable (a sparse prefix of old live holds, then a dense run)."""

from __future__ import annotations

import numpy as np

from allocator.ledger_state import FINISHED


class Retention:
    """Mixin of :class:`~allocator.ledger.Ledger`: :meth:`forget_before`."""

    def forget_before(self, at_ms: int) -> dict[str, int]:
        """Retention: forget the idempotency records of ops applied before ``at_ms``
        (a later op with the same id is new), and compact away finished holds
        (released, expired, shipped) created before ``at_ms`` with their lines (an op
        on one answers UNKNOWN_HOLD). Hold ids stay stable; live holds are untouched.

        Records are forgotten in the order they were made, up to the first one at or
        after ``at_ms`` (with a monotone clock: exactly those before it). Tables are
        compacted once what they can drop is :attr:`compact_fraction` of their rows,
        so a sweep every minute does not copy a day of rows every minute. Deterministic:
        the same call on the same state gives the same state (journal replay).

        Returns how many op records were forgotten and rows dropped per table."""
        at_ms = int(at_ms)
        out = {"ops": 0, "results": 0, "holds": 0, "lines": 0}
        r = self.results
        dead = self._results_dead
        young = r["at"][dead:] >= at_ms
        k = dead + (int(np.argmax(young)) if young.any() else len(young))
        if k > dead:
            base = self._result_base
            out["ops"] = self._seen.remove(
                r["op"][dead:k], np.arange(base + dead, base + k, dtype=np.int64))
            self._results_dead = k
        if self._results_dead and self._results_dead >= self.compact_fraction * r.size:
            out["results"] = self._results_dead
            r.drop_prefix(self._results_dead)
            self._result_base += self._results_dead
            self._results_dead = 0

        done = np.isin(self.holds["state"], FINISHED) & (self.holds["created"] < at_ms)
        n_done = int(np.count_nonzero(done))
        if n_done and n_done >= self.compact_fraction * self.holds.size:
            out["holds"] = n_done
            out["lines"] = self._compact_holds(~done)
        return out

    def _compact_holds(self, keep: np.ndarray) -> int:
        """Keep only the rows of :attr:`holds` where ``keep`` (and their lines); ids are
        unchanged. Returns how many lines were dropped."""
        holds, lines = self.holds, self.lines
        next_id = self.next_hold_id
        kept = np.flatnonzero(keep)
        ids = self.hold_ids(kept)
        line_keep = np.zeros(lines.size, bool)
        line_keep[self.line_index_rows(kept)] = True
        new_pos = np.cumsum(line_keep) - 1
        starts = new_pos[holds["line_start"][kept]]
        dropped = lines.size - int(np.count_nonzero(line_keep))
        lines.keep(line_keep)
        floor = int(np.count_nonzero(keep[: self._pending_floor]))
        holds.keep(keep)
        holds["line_start"][:] = starts
        self._pending_floor = floor
        self._set_id_layout(ids, next_id)
        return dropped

    def _set_id_layout(self, ids: np.ndarray, next_id: int) -> None:
        """Split the rows' ids (ascending) into a sparse prefix and a dense run that
        ends at ``next_id - 1`` (empty if the last id is not ``next_id - 1``)."""
        gaps = np.flatnonzero(np.diff(np.append(ids, next_id)) != 1)
        n_sparse = int(gaps[-1]) + 1 if gaps.size else 0
        self._sparse_ids = np.array(ids[:n_sparse], np.int64)
        self._n_sparse = n_sparse
        self._id0 = int(next_id) - (len(ids) - n_sparse)

    # -------------------------------------------------------------- snapshot
