"""Compact msgpack encoding of batches and snapshots: columns travel as raw bytes."""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

from allocator.ops import OpBatch

_ARRAY = "__nd__"  # the older form of an array: {"__nd__": [dtype, shape, bytes]}
_EXT = 1  # msgpack ext type of an array: dtype string, NUL, shape, NUL, raw bytes


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        arr = np.ascontiguousarray(obj)
        shape = ",".join(map(str, arr.shape))
        return msgpack.ExtType(_EXT, f"{arr.dtype.str}\0{shape}\0".encode() + arr.tobytes())
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _ext(code: int, data: bytes) -> Any:
    if code != _EXT:
        return msgpack.ExtType(code, data)
    i = data.index(0)
    j = data.index(0, i + 1)
    shape = tuple(int(x) for x in data[i + 1:j].split(b",") if x)
    return np.frombuffer(data, np.dtype(data[:i].decode()), offset=j + 1).reshape(shape).copy()


def _hook(obj: dict[str, Any]) -> Any:
    packed = obj.get(_ARRAY)
    if packed is not None and len(obj) == 1:  # written before arrays became ext types
        dtype, shape, raw = packed
        return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
    return obj


def pack(obj: Any) -> bytes:
    """msgpack with numpy arrays as ext types (dtype, shape, raw bytes)."""
    return msgpack.packb(obj, default=_default, use_bin_type=True)


def unpack(data: bytes) -> Any:
    return msgpack.unpackb(data, object_hook=_hook, ext_hook=_ext, raw=False,
                           strict_map_key=False)


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
