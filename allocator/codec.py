"""Compact msgpack encoding of batches and snapshots: columns travel as raw bytes."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from allocator.ops import OpBatch

_ARRAY = "__nd__"


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        return {_ARRAY: (arr.dtype.str, list(arr.shape), arr.tobytes())}
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _hook(obj: dict[str, Any]) -> Any:
    packed = obj.get(_ARRAY)
    if packed is not None and len(obj) == 1:
        dtype, shape, raw = packed
        return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
    return obj


def pack(obj: Any) -> bytes:
    """msgpack with numpy arrays stored as (dtype, shape, bytes)."""
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, object_hook=_hook, raw=False, strict_map_key=False)


def encode_batch(batch: OpBatch) -> bytes:
    """One batch as one msgpack record (the journal's unit of group commit)."""
    return pack({"now_ms": batch.now_ms, **batch.to_columns()})


def decode_batch(data: bytes) -> OpBatch:
    d = unpack(data)
    return OpBatch.from_columns(d, d["now_ms"])


def encode_snapshot(snapshot: dict[str, Any]) -> bytes:
    return pack(snapshot)


def decode_snapshot(data: bytes) -> dict[str, Any]:
    return unpack(data)
