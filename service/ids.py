"""Ids: reservation ids, bulk-batch tokens and shard op ids.

Reservation ids are keyed hashes (BLAKE2b with the cluster secret) of an unambiguous
encoding of where the reservation came from — (owner, "one", idempotency key) for a
single reserve, (owner, "bulk", batch key) for a batch's token — so they are
unguessable, stable when a client retries, and can never collide across kinds,
owners or keys (msgpack arrays, not string concatenation).

Each starts with its request's slot tag (:func:`allocator.config.request_tag`, 4 hex
digits, public) followed by the keyed hash: ``res_<tag><28 hex>``, a token
``<tag><20 hex>``. So a request's first answer and the records it writes land in one
Redis Cluster slot, and a record is found from its id alone.
"""

from __future__ import annotations

import hashlib
from typing import Any

import msgpack
import numpy as np

from allocator.config import request_tag

_MASK63 = (1 << 63) - 1


class Ids:
    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def _mac(self, *parts: Any, size: int = 16) -> bytes:
        data = msgpack.packb(list(parts), use_bin_type=True)
        return hashlib.blake2b(data, key=self.secret, digest_size=size).digest()

    def reservation_id(self, owner: str, key: str) -> str:
        """The id of the reservation made by a single reserve with this key."""
        return "res_" + request_tag(owner, key) + self._mac(owner, "one", key, size=14).hex()

    def exchange_id(self, owner: str, key: str) -> str:
        """The id of the replacement reservation an exchange with this key makes."""
        return ("res_" + request_tag(owner, key)
                + self._mac(owner, "exchange", key, size=14).hex())

    def batch_order_id(self, owner: str, key: str, index: int) -> str:
        """The id of order ``index`` of a batch (when it is not a bulk row)."""
        return ("res_" + request_tag(owner, key)
                + self._mac(owner, "batch", key, index, size=14).hex())

    def bulk_token(self, owner: str, key: str) -> str:
        """The token of a batch (its reservations are ``rb_<token>_<index>``)."""
        return request_tag(owner, key) + self._mac(owner, "bulk", key, size=10).hex()


def channel_id(name: str) -> int:
    """The ledger's id of a sales channel name (positive: 0 means none there)."""
    return op_id("channel", name) or 1


def op_id(*parts: Any) -> int:
    """A shard op id (63-bit) for an unambiguous tuple of parts."""
    data = msgpack.packb(list(parts), use_bin_type=True)
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big") >> 1


def bulk_op_ids(token: str, n: int, attempt: int = 0) -> np.ndarray:
    """Op ids of a batch's n holds: a keyed mix of (token, attempt, index), vectorised."""
    base = np.uint64(op_id("bulk", token, attempt))
    idx = np.arange(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = base + (idx + np.uint64(1)) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(1)).astype(np.int64)
