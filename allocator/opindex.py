"""OpIndex: a numpy open-addressing hash map from op id (int64 ≥ 0) to result row.

Idempotency needs "have I seen these 4,096 op ids?" and "remember them" per batch.
A Python dict pays for a boxed int and a pointer chase per key; this table does
both steps as a few vectorised gathers and scatters (linear probing, load ≤ 1/2).
"""

from __future__ import annotations

import numpy as np

_EMPTY = -1
_GOLD = np.uint64(0x9E3779B97F4A7C15)
_U64 = (1 << 64) - 1


class OpIndex:
    """Maps non-negative int64 keys to int64 values; -1 means absent."""

    def __init__(self, capacity: int = 1 << 16) -> None:
        """``capacity`` is the number of keys expected; the table gets twice the slots."""
        bits = max(4, int(2 * capacity - 1).bit_length())
        self._alloc(bits)
        self.size = 0

    def _alloc(self, bits: int) -> None:
        self._bits = bits
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
        out = np.full(len(keys), -1, np.int64)
        todo = np.arange(len(keys))
        k = keys
        pos = self._home(keys)
        while todo.size:
            slot = self._keys[pos]
            hit = slot == k
            if hit.any():
                out[todo[hit]] = self._vals[pos[hit]]
            more = ~hit & (slot != _EMPTY)
            todo, k, pos = todo[more], k[more], (pos[more] + 1) & self._mask
        return out

    def insert_if_all_new(self, keys: np.ndarray, vals: np.ndarray) -> bool:
        """Insert distinct keys unless one is already present (then change nothing and
        return False). One probe pass: insertion starts where the lookup's probes ended."""
        if 2 * (self.size + len(keys)) > len(self._keys):
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
        return True

    def insert(self, keys: np.ndarray, vals: np.ndarray) -> None:
        """Insert keys that are absent and distinct from each other (caller checks)."""
        if 2 * (self.size + len(keys)) > len(self._keys):
            self._rehash(self.size + len(keys))
        self._place(keys, vals)
        self.size += len(keys)

    def set(self, key: int, val: int) -> None:
        """Insert one absent key."""
        self.insert(np.array([key], np.int64), np.array([val], np.int64))

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

    def _rehash(self, need: int) -> None:
        keys, vals = self.items()
        bits = max(self._bits + 1, int(2 * need - 1).bit_length())
        self._alloc(bits)
        self._place(keys, vals)

    def items(self) -> tuple[np.ndarray, np.ndarray]:
        """All (keys, values), in table order."""
        used = self._keys != _EMPTY
        return self._keys[used].copy(), self._vals[used].copy()

    @classmethod
    def from_items(cls, keys: np.ndarray, vals: np.ndarray, capacity: int = 1 << 16
                   ) -> "OpIndex":
        index = cls(capacity=max(capacity, 2 * len(keys)))
        index.insert(np.asarray(keys, np.int64), np.asarray(vals, np.int64))
        return index
