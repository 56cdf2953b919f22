"""Operations, result codes and the columnar batch the ledger applies.

A batch is a handful of parallel numpy arrays (one row per op) plus a flat line
table (``l_cell``, ``l_qty``) addressed by ``line_start``/``line_count``, so that
thousands of holds travel and apply without one Python object per line.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Iterable, Sequence

import numpy as np

Line = tuple[str, str, int]  # a placed order line: sku, warehouse, qty


class OpKind(IntEnum):
    HOLD = 1
    COMMIT = 2
    RELEASE = 3
    SHIP = 4
    RESTOCK = 5
    RETURN = 6
    SYNC = 7
    CANCEL = 8  # committed → released: payment refunded before shipping
    TRANSFER_OUT = 9  # units leave this shard (a hot SKU's stock moving to its own actor)
    TRANSFER_IN = 10  # units arrive from another shard
    # A reservation's life after the hold (allocator/ledger_lines.py):
    AMEND = 11  # pending hold: new version, release some units of its lines
    DROP_LINES = 12  # release (pending) or cancel (committed) some units of lines
    REALLOCATE = 13  # a committed line moves warehouse: lines (from, qty), (to, qty)


HOLD_OPS = frozenset({OpKind.COMMIT, OpKind.RELEASE, OpKind.SHIP, OpKind.CANCEL})
LINE_HOLD_OPS = frozenset({OpKind.AMEND, OpKind.DROP_LINES, OpKind.REALLOCATE})
CELL_OPS = frozenset({OpKind.RESTOCK, OpKind.RETURN, OpKind.SYNC, OpKind.TRANSFER_OUT,
                      OpKind.TRANSFER_IN})

# An op's parameter: the one column of PARAM_FIELDS its kind reads (others: none).
# ``ttl_ms``: a HOLD's time to live; ``version``: the version of what the op acts on —
# the reservation version a COMMIT or RELEASE expects, the new one an AMEND sets, the
# warehouse count's version of a SYNC; ``state``: the HoldState a DROP_LINES requires
# (0: pending or committed).
PARAM_OF: dict[int, str] = {
    OpKind.HOLD: "ttl_ms", OpKind.COMMIT: "version", OpKind.RELEASE: "version",
    OpKind.AMEND: "version", OpKind.SYNC: "version", OpKind.DROP_LINES: "state"}


class Code(IntEnum):
    """Result of one op. A replay carries the first answer's code, with ``replayed`` set."""

    OK = 0
    INSUFFICIENT = 1  # value = units available on the short line, detail = its index
    UNKNOWN_HOLD = 2
    EXPIRED = 3
    INVALID = 4  # rejected before any state change; not recorded for idempotency
    CONFLICT = 5  # op id reused with a different payload; not recorded
    ILLEGAL = 6  # illegal state transition; detail = the hold's current state
    STALE_VERSION = 7  # sync version not newer; value = the applied version
    MOVED = 8  # a line's SKU no longer takes holds on this shard; detail = line index
    # Anti-scalping limits of a HOLD (recorded for idempotency, like INSUFFICIENT):
    CUSTOMER_LIMIT = 9  # value = units this customer may still take of the line's SKU,
    #                     detail = the line's index
    SHARE_LIMIT = 10  # value = units this owner may still hold of the line's SKU,
    #                   detail = the line's index
    VERSION = 11  # a pending hold's version is not the one the op expected (it was
    #               amended meanwhile); value = the hold's current version
    # Channel rules of a SKU (allocator/ledger_channels.py; recorded like INSUFFICIENT):
    CHANNEL_CAP = 12  # the hold's channel would pass its allocation cap of the line's
    #                   SKU; value = units it may still take, detail = the line's index
    CHANNEL_RESERVED = 13  # the hold would eat into units other channels' buffers keep;
    #                        value = units of the line's SKU it may take, detail = index


class HoldState(IntEnum):
    PENDING = 1
    COMMITTED = 2
    RELEASED = 3
    EXPIRED = 4
    SHIPPED = 5


def op_key(client_id: str) -> int:
    """Map a client's operation id (any string) to the 63-bit int the ledger keys on."""
    digest = hashlib.blake2b(client_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


OP_FIELDS = ("kind", "op_id", "hold_id", "line_start", "line_count")
# Parameters (see PARAM_OF; 0 where unused). A column travels on the wire and in the
# journal only when some op of the batch sets it.
PARAM_FIELDS = ("ttl_ms", "version", "state")
LINE_FIELDS = ("l_cell", "l_qty")
# Anti-scalping limits (0 everywhere: none). Optional on the wire and in the journal.
LIMIT_OP_FIELDS = ("customer", "owner", "share_bp")
LIMIT_LINE_FIELDS = ("l_cap",)
# The sales channel of a HOLD (0: none). Optional on the wire and in the journal.
CHANNEL_FIELDS = ("channel",)
FIELDS = (OP_FIELDS + PARAM_FIELDS + LINE_FIELDS + LIMIT_OP_FIELDS + LIMIT_LINE_FIELDS
          + CHANNEL_FIELDS)
# Whether a column has a nonzero: ndarray.any() detours through Python (several µs on
# a short column), count_nonzero does not. The batch hot path asks it of every column.
_nonzero = np.count_nonzero
LEGACY_ARG = "arg"  # the one parameter column of batches written before PARAM_FIELDS


def stray_param(kind: int, ttl_ms: int, version: int, state: int) -> str | None:
    """The name of a parameter set on an op whose kind does not read it, if any."""
    own = PARAM_OF.get(kind)
    if ttl_ms and own != "ttl_ms":
        return "ttl_ms"
    if version and own != "version":
        return "version"
    return "state" if state and own != "state" else None


def params_from_arg(kind: np.ndarray, arg: np.ndarray) -> dict[str, np.ndarray]:
    """The parameter columns of a batch in the layout before them (one ``arg`` column,
    as older journal records carry it), by kind: see :data:`PARAM_OF`. A kind without a
    parameter ignored ``arg``; every writer sent 0 there, and it is dropped."""
    kind = np.asarray(kind)
    arg = np.asarray(arg, np.int64)
    return {name: np.where(np.isin(kind, [k for k, n in PARAM_OF.items() if n == name]),
                           arg, 0) for name in PARAM_FIELDS}


@dataclass
class OpBatch:
    """Columnar ops, applied in row (arrival) order at one clock reading ``now_ms``.

    Each op's parameter has a column of its own (0 where unused; see :data:`PARAM_OF`):
    ``ttl_ms`` of a HOLD, ``version`` of a COMMIT, RELEASE, AMEND or SYNC, ``state``
    of a DROP_LINES. For SYNC, the line's qty is the absolute on-hand count; for
    RESTOCK/RETURN it is the units added.

    Limits of a HOLD (all optional, 0 = none): ``customer`` (the buyer, a non-negative
    id) may hold and commit at most ``l_cap`` units of each line's SKU; ``owner`` (the
    API key) may hold at most ``share_bp`` basis points of a SKU's on-hand units at once.

    ``channel`` (a non-negative id, 0 = none) names the sales channel a HOLD sells on:
    the SKU's channel rules (buffers, caps) apply to it (see
    :mod:`allocator.ledger_channels`).
    """

    kind: np.ndarray  # uint8
    op_id: np.ndarray  # int64
    hold_id: np.ndarray  # int64 (-1 when unused)
    line_start: np.ndarray  # int64
    line_count: np.ndarray  # int64
    l_cell: np.ndarray  # int64, flat cell index = sku_row * n_warehouses + wh_col
    l_qty: np.ndarray  # int64
    now_ms: int
    ttl_ms: np.ndarray | None = None  # int64 per op
    version: np.ndarray | None = None  # int64 per op
    state: np.ndarray | None = None  # int64 per op
    customer: np.ndarray | None = None  # int64 per op
    owner: np.ndarray | None = None  # int64 per op
    share_bp: np.ndarray | None = None  # int64 per op
    l_cap: np.ndarray | None = None  # int64 per line
    channel: np.ndarray | None = None  # int64 per op

    def __post_init__(self) -> None:
        n, m = len(self.kind), len(self.l_cell)
        for name in PARAM_FIELDS + LIMIT_OP_FIELDS + CHANNEL_FIELDS:
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(n, np.int64))
        if self.l_cap is None:
            self.l_cap = np.zeros(m, np.int64)

    def __len__(self) -> int:
        return int(self.kind.shape[0])

    @property
    def limited(self) -> bool:
        """Whether any op carries an anti-scalping limit."""
        return bool(_nonzero(self.customer) or _nonzero(self.share_bp))

    def to_columns(self) -> dict[str, np.ndarray]:
        """The wire and journal form: one array per field (a parameter column only when
        some op sets it, limit columns only when some op carries a limit)."""
        cols = {f: getattr(self, f) for f in OP_FIELDS + LINE_FIELDS}
        cols.update({f: getattr(self, f) for f in PARAM_FIELDS
                     if _nonzero(getattr(self, f))})
        if self.limited or _nonzero(self.owner) or _nonzero(self.l_cap):
            # (a cap alone changes the op's fingerprint: it must reach the journal too)
            cols.update({f: getattr(self, f) for f in LIMIT_OP_FIELDS + LIMIT_LINE_FIELDS})
        if _nonzero(self.channel):
            cols["channel"] = self.channel
        return cols

    @classmethod
    def from_columns(cls, cols: dict[str, Any], now_ms: int) -> "OpBatch":
        """Inverse of :meth:`to_columns` (a missing parameter, limit or channel column
        means zeros: none). Columns in the older layout, one ``arg`` for every
        parameter, are mapped to the parameter columns by kind (:func:`params_from_arg`)."""
        if LEGACY_ARG in cols:
            params = params_from_arg(cols["kind"], cols[LEGACY_ARG])
        else:
            params = {f: cols.get(f) for f in PARAM_FIELDS}
        return cls(now_ms=int(now_ms), **{f: cols[f] for f in OP_FIELDS + LINE_FIELDS},
                   **params, **{f: cols.get(f) for f in LIMIT_OP_FIELDS + LIMIT_LINE_FIELDS
                                + CHANNEL_FIELDS})

    @classmethod
    def single_line_holds(cls, op_ids: np.ndarray, cells: np.ndarray, qtys: np.ndarray,
                          ttl_ms: int, now_ms: int) -> "OpBatch":
        """The hot path's batch: one HOLD of one line per row."""
        n = len(op_ids)
        return cls(
            kind=np.full(n, OpKind.HOLD, np.uint8),
            op_id=np.asarray(op_ids, np.int64),
            hold_id=np.full(n, -1, np.int64),
            ttl_ms=np.full(n, ttl_ms, np.int64),
            line_start=np.arange(n, dtype=np.int64),
            line_count=np.ones(n, np.int64),
            l_cell=np.asarray(cells, np.int64),
            l_qty=np.asarray(qtys, np.int64),
            now_ms=int(now_ms),
        )

    def lines(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Cells and quantities of row ``i``."""
        s = int(self.line_start[i])
        e = s + int(self.line_count[i])
        return self.l_cell[s:e], self.l_qty[s:e]


class BatchBuilder:
    """Collects ops one by one (the convenient way) and builds an :class:`OpBatch`."""

    def __init__(self) -> None:
        self._rows: list[tuple[int, ...]] = []
        self._cells: list[int] = []
        self._qtys: list[int] = []
        self._caps: list[int] = []

    def __len__(self) -> int:
        return len(self._rows)

    def _add(self, kind: OpKind, op_id: int, hold_id: int, lines: Iterable[tuple[int, int]],
             *, ttl_ms: int = 0, version: int = 0, state: int = 0, customer: int = 0,
             owner: int = 0, share_bp: int = 0, caps: Sequence[int] | None = None,
             channel: int = 0) -> "BatchBuilder":
        start = len(self._cells)
        for cell, qty in lines:
            self._cells.append(int(cell))
            self._qtys.append(int(qty))
        n = len(self._cells) - start
        self._caps.extend([0] * n if caps is None else [int(c) for c in caps])
        if len(self._caps) != len(self._cells):
            raise ValueError("one cap per line")
        self._rows.append((int(kind), int(op_id), int(hold_id), int(ttl_ms), int(version),
                           int(state), start, n, int(customer), int(owner), int(share_bp),
                           int(channel)))
        return self

    def hold(self, op_id: int, lines: Iterable[tuple[int, int]], ttl_ms: int, *,
             customer: int = 0, owner: int = 0, share_bp: int = 0,
             caps: Sequence[int] | None = None, channel: int = 0) -> "BatchBuilder":
        """A hold of ``lines`` (cell, qty); optional limits and channel (see
        :class:`OpBatch`)."""
        return self._add(OpKind.HOLD, op_id, -1, lines, ttl_ms=ttl_ms, customer=customer,
                         owner=owner, share_bp=share_bp, caps=caps, channel=channel)

    def commit(self, op_id: int, hold_id: int, version: int = 0) -> "BatchBuilder":
        return self._add(OpKind.COMMIT, op_id, hold_id, (), version=version)

    def release(self, op_id: int, hold_id: int, version: int = 0) -> "BatchBuilder":
        return self._add(OpKind.RELEASE, op_id, hold_id, (), version=version)

    def ship(self, op_id: int, hold_id: int) -> "BatchBuilder":
        return self._add(OpKind.SHIP, op_id, hold_id, ())

    def cancel(self, op_id: int, hold_id: int) -> "BatchBuilder":
        return self._add(OpKind.CANCEL, op_id, hold_id, ())

    def transfer(self, op_id: int, cell: int, qty: int, *, out: bool) -> "BatchBuilder":
        kind = OpKind.TRANSFER_OUT if out else OpKind.TRANSFER_IN
        return self._add(kind, op_id, -1, [(cell, qty)])

    def restock(self, op_id: int, cell: int, qty: int) -> "BatchBuilder":
        return self._add(OpKind.RESTOCK, op_id, -1, [(cell, qty)])

    def sync(self, op_id: int, cell: int, on_hand: int, version: int) -> "BatchBuilder":
        return self._add(OpKind.SYNC, op_id, -1, [(cell, on_hand)], version=version)

    def add(self, kind: OpKind, op_id: int, hold_id: int = -1,
            lines: Iterable[tuple[int, int]] = (), *, ttl_ms: int = 0, version: int = 0,
            state: int = 0) -> "BatchBuilder":
        """Any op by kind (e.g. RETURN, AMEND), with the parameter its kind reads."""
        return self._add(kind, op_id, hold_id, lines, ttl_ms=ttl_ms, version=version,
                         state=state)

    def build(self, now_ms: int) -> OpBatch:
        rows = np.array(self._rows, dtype=np.int64).reshape(-1, 12)
        col = [rows[:, j].copy() for j in range(12)]
        return OpBatch(
            kind=col[0].astype(np.uint8), op_id=col[1], hold_id=col[2], ttl_ms=col[3],
            version=col[4], state=col[5], line_start=col[6], line_count=col[7],
            l_cell=np.array(self._cells, np.int64), l_qty=np.array(self._qtys, np.int64),
            now_ms=int(now_ms), customer=col[8], owner=col[9], share_bp=col[10],
            l_cap=np.array(self._caps, np.int64), channel=col[11],
        )


@dataclass
class BatchResult:
    """One answer per op, columnar. See :class:`Code` for what value/detail mean."""

    code: np.ndarray  # uint8
    value: np.ndarray  # int64
    detail: np.ndarray  # int64
    replayed: np.ndarray  # bool

    @classmethod
    def empty(cls, n: int) -> "BatchResult":
        return cls(np.zeros(n, np.uint8), np.zeros(n, np.int64),
                   np.full(n, -1, np.int64), np.zeros(n, bool))

    def __len__(self) -> int:
        return int(self.code.shape[0])

    def row(self, i: int) -> "OpResult":
        return OpResult(Code(int(self.code[i])), int(self.value[i]), int(self.detail[i]),
                        bool(self.replayed[i]))


@dataclass(frozen=True)
class OpResult:
    """The answer to one op."""

    code: Code
    value: int = 0
    detail: int = -1
    replayed: bool = False

    @property
    def ok(self) -> bool:
        return self.code == Code.OK
