"""A tiny append-only columnar table over numpy arrays (amortised O(1) append)."""

from __future__ import annotations

from typing import Mapping

import numpy as np


class Columns:
    """Named numpy columns of equal length that grow by doubling. Rows past ``size``
    are always zeros (compaction clears what it vacates), so :meth:`append_one` writes
    only the columns it is given."""

    def __init__(self, dtypes: Mapping[str, np.dtype | type], capacity: int = 1024) -> None:
        # np.full touches every page now, so appends later pay no first-touch faults.
        self._data = {name: np.full(capacity, 0, dtype) for name, dtype in dtypes.items()}
        self._cap = int(capacity)  # every column's length
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, name: str) -> np.ndarray:
        """The live prefix of a column (a view: writes go to the table)."""
        return self._data[name][: self.size]

    @property
    def names(self) -> list[str]:
        return list(self._data)

    @property
    def capacity(self) -> int:
        return self._cap

    def append(self, n: int, **values: np.ndarray | int) -> int:
        """Append ``n`` rows (arrays of length n or scalars; a column not given is 0).

        Returns the index of the first new row.
        """
        start = self.size
        end = start + n
        cap = self._cap
        if end > cap:
            new_cap = max(end, cap * 2)
            for name, arr in self._data.items():
                grown = np.zeros(new_cap, arr.dtype)
                grown[:start] = arr[:start]
                self._data[name] = grown
            self._cap = new_cap
        for name, arr in self._data.items():
            arr[start:end] = values.get(name, 0)  # a column not given: zeros
        self.size = end
        return start

    def append_one(self, **values: int) -> int:
        """Append one row of scalars (a column not given is 0); returns its index."""
        start = self.size
        data = self._data
        if start >= self._cap:
            self.append(1, **values)
            return start
        for name, value in values.items():
            data[name][start] = value  # (every other column is 0 there already)
        self.size = start + 1
        return start

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true, in order, in place (the capacity
        stays: appends after a compaction still never reallocate)."""
        m = int(np.count_nonzero(mask))
        for arr in self._data.values():
            arr[:m] = arr[: self.size][mask]
            arr[m: self.size] = 0  # past size: zeros (see the class)
        self.size = m

    def drop_prefix(self, k: int) -> None:
        """Drop the first ``k`` rows in place (the rest move down)."""
        k = min(max(0, int(k)), self.size)
        if k == 0:
            return
        m = self.size - k
        for arr in self._data.values():
            arr[:m] = arr[k: self.size].copy()
            arr[m: self.size] = 0  # past size: zeros (see the class)
        self.size = m

    def to_dict(self) -> dict[str, np.ndarray]:
        return {name: self[name].copy() for name in self._data}

    @classmethod
    def from_dict(cls, arrays: Mapping[str, np.ndarray], capacity: int = 1024,
                  dtypes: Mapping[str, np.dtype | type] | None = None) -> "Columns":
        """A table holding ``arrays``. With ``dtypes``, the table has exactly those
        columns: missing ones (an older snapshot) are filled with zeros, unknown ones
        are dropped."""
        n = len(next(iter(arrays.values()))) if arrays else 0
        if dtypes is None:
            dtypes = {k: v.dtype for k, v in arrays.items()}
        table = cls(dtypes, capacity=max(2 * n, capacity))
        if n:
            table.append(n, **{k: arrays.get(k, 0) for k in dtypes})
        return table
