"""OpIndex: a numpy open-addressing hash map from op id (int64 ≥ 0) to result row.

Idempotency needs "have I seen these 4,096 op ids?" and "remember them" per batch.
A Python dict pays for a boxed int and a pointer chase per key; this table does
both steps as a few vectorised gathers and scatters (linear probing, load ≤ 1/2).

Removal (retention) leaves a tombstone: probes walk past it, inserts never reuse it,
and the table is rebuilt at the same size once tombstones take too many slots.
"""

from __future__ import annotations

import numpy as np

_EMPTY = -1
_TOMB = -2  # a removed key: never equal to a key (keys are ≥ 0), never empty
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_U64 = (1 << 64) - 1


class OpIndex:
    """Maps non-negative int64 keys to int64 values; -1 means absent."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        """``capacity`` is the number of keys expected; the table gets twice the slots."""
        bits = max(4, int(2 * capacity - 1).bit_length())
        self._alloc(bits)
        self.size = 0  # live keys

    def _alloc(self, bits: int) -> None:
        self._bits = bits
        self._used = 0  # live keys + tombstones: what probing sees as occupied
        self._mask = (1 << bits) - 1
        self._keys = np.full(1 << bits, _EMPTY, np.int64)
        self._vals = np.full(1 << bits, 0, np.int64)

    def __len__(self) -> int:
        return self.size

    def _home(self, keys: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            h = keys.view(np.uint64) * _GOLD
        return (h >> np.uint64(64 - self._bits)).astype(np.int64)

    def get(self, key: int) -> int:
        """Scalar lookup (no numpy temporaries): the value, or -1."""
        pos = ((key * 0x9E3779B97F4A7C15) & _U64) >> (64 - self._bits)
        keys = self._keys
        while True:
            slot = int(keys[pos])
            if slot == key:
                return int(self._vals[pos])
            if slot == _EMPTY:
                return -1
            pos = (pos + 1) & self._mask

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Values for every key (-1 where absent), vectorised."""
        pos = self._find(keys)
        return np.where(pos >= 0, self._vals[np.maximum(pos, 0)], -1)

    def insert_if_all_new(self, keys: np.ndarray, vals: np.ndarray) -> bool:
        """Insert distinct keys unless one is already present (then change nothing and
        return False). One probe pass: insertion starts where the lookup's probes ended."""
        if 2 * (self._used + len(keys)) > len(self._keys):
            self._rehash(self.size + len(keys))
        pos = self._home(keys)
        k, v, done_k, done_v, done_p = keys, vals, [], [], []
        while k.size:
            slot = self._keys[pos]
            if (slot == k).any():
                return False
            empty = slot == _EMPTY
            done_k.append(k[empty])
            done_v.append(v[empty])
            done_p.append(pos[empty])
            more = ~empty
            k, v, pos = k[more], v[more], (pos[more] + 1) & self._mask
        if len(done_k) == 1:
            self._place(done_k[0], done_v[0], done_p[0])
        else:
            self._place(np.concatenate(done_k), np.concatenate(done_v), np.concatenate(done_p))
        self.size += len(keys)
        self._used += len(keys)
        return True

    def insert(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Insert keys that are absent and distinct from each other (caller checks)."""
        if 2 * (self._used + len(keys)) > len(self._keys):
            self._rehash(self.size + len(keys))
        self._place(keys, vals)
        self.size += len(keys)
        self._used += len(keys)

    def set(self, key: int, val: int) -> None:
        """Insert one absent key (scalar probing, like :meth:`get`)."""
        if 2 * (self._used + 1) > len(self._keys):
            self._rehash(self.size + 1)
        pos = ((key * 0x9E3779B97F4A7C15) & _U64) >> (64 - self._bits)
        keys, mask = self._keys, self._mask
        while keys[pos] != _EMPTY:  # inserts never reuse a tombstone
            pos = (pos + 1) & mask
        keys[pos] = key
        self._vals[pos] = val
        self.size += 1
        self._used += 1

    def _place(self, k: np.ndarray, v: np.ndarray, pos: np.ndarray | None = None) -> None:
        """Write absent keys, probing from ``pos`` (default: their home slots)."""
        pos = self._home(k) if pos is None else pos
        while k.size:
            free = np.flatnonzero(self._keys[pos] == _EMPTY)
            self._keys[pos[free]] = k[free]  # several may aim at one slot: one lands
            won = np.zeros(k.size, bool)
            won[free] = self._keys[pos[free]] == k[free]
            self._vals[pos[won]] = v[won]
            lost = ~won
            k, v, pos = k[lost], v[lost], (pos[lost] + 1) & self._mask

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Slot of every key (-1 where absent), vectorised."""
        out = np.full(len(keys), -1, np.int64)
        todo = np.arange(len(keys))
        k = keys
        pos = self._home(keys)
        while todo.size:
            slot = self._keys[pos]
            hit = slot == k
            if hit.any():
                out[todo[hit]] = pos[hit]
            more = ~hit & (slot != _EMPTY)
            todo, k, pos = todo[more], k[more], (pos[more] + 1) & self._mask
        return out

    def remove(self, keys: np.ndarray, vals: np.ndarray | None = None) -> int:
        """Remove the given keys (those absent, or, with ``vals``, mapped to another
        value, are left alone); returns how many were removed."""
        keys = np.asarray(keys, np.int64)
        ok = keys >= 0
        if vals is not None:
            vals = np.asarray(vals, np.int64)[ok]
        keys = keys[ok]
        if not keys.size:
            return 0
        pos = self._find(keys)
        found = pos >= 0
        if vals is not None:
            found &= self._vals[np.where(found, pos, 0)] == vals
        pos = np.unique(pos[found])
        self._keys[pos] = _TOMB
        self.size -= len(pos)
        if 4 * (self._used - self.size) > len(self._keys):  # too many tombstones
            self._rehash(self.size)
        return len(pos)

    def _rehash(self, need: int) -> None:
        """Rebuild without tombstones; grow (never shrink) so that ``need`` keys fill
        at most 3/8 of the slots, leaving room before the next rebuild."""
        keys, vals = self.items()
        bits = max(self._bits, int(2 * need - 1).bit_length())
        if 8 * need > 3 * (1 << bits):
            bits += 1
        self._alloc(bits)
        self._place(keys, vals)
        self._used = len(keys)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """All (keys, values), in table order."""
        used = self._keys >= 0
        return self._keys[used].copy(), self._vals[used].copy()

    @classmethod
    def from_items(cls, keys: np.ndarray, vals: np.ndarray, capacity: int = 1 << 16
                   ) -> "OpIndex":
        index = cls(capacity=max(capacity, 2 * len(keys)))
        index.insert(np.asarray(keys, np.int64), np.asarray(vals, np.int64))
        return index
