"""Compact msgpack encoding of batches and snapshots: columns travel as raw bytes."""

from __future__ import annotations

import threading
from typing import Any

import msgpack
import numpy as np

from allocator.ops import OpBatch

_ARRAY = "__nd__"  # the older form of an array: {"__nd__": [dtype, shape, bytes]}
_EXT = 1  # msgpack ext type of an array: dtype string, NUL, shape, NUL, raw bytes
_HEADERS: dict[tuple[str, tuple[int, ...]], bytes] = {}  # (dtype, shape) -> ext header
_SHAPES: dict[bytes, tuple[np.dtype, tuple[int, ...]]] = {}  # ext header -> dtype, shape
_CACHE_MAX = 4096  # distinct headers kept (batch lengths vary; a full cache starts over)
_new_ext = tuple.__new__  # ExtType without its Python-level argument checks


def _header(key: tuple[str, tuple[int, ...]]) -> bytes:
    """An array's ext header: dtype string, NUL, comma-separated shape, NUL."""
    if len(_HEADERS) >= _CACHE_MAX:
        _HEADERS.clear()
    dtype, shape = key
    head = _HEADERS[key] = f"{dtype}\0{','.join(map(str, shape))}\0".encode()
    return head


def _default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        # tobytes() is C order whatever the layout; a 0-d array goes as shape (1,), as
        # np.ascontiguousarray made it before
        key = (obj.dtype.str, obj.shape or (1,))
        head = _HEADERS.get(key) or _header(key)
        return _new_ext(msgpack.ExtType, (_EXT, head + obj.tobytes()))
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot encode {type(obj).__name__}")


def _ext(code: int, data: bytes) -> Any:
    if code != _EXT:
        return msgpack.ExtType(code, data)
    j = data.index(0, data.index(0) + 1) + 1
    head = data[:j]
    known = _SHAPES.get(head)
    if known is None:
        i = data.index(0)
        shape = tuple(int(x) for x in data[i + 1:j - 1].split(b",") if x)
        if len(_SHAPES) >= _CACHE_MAX:
            _SHAPES.clear()
        known = _SHAPES[head] = (np.dtype(data[:i].decode()), shape)
    dtype, shape = known
    arr = np.frombuffer(data, dtype, offset=j)
    return (arr if arr.shape == shape else arr.reshape(shape)).copy()


def _hook(obj: dict[str, Any]) -> Any:
    packed = obj.get(_ARRAY)
    if packed is not None and len(obj) == 1:  # written before arrays became ext types
        dtype, shape, raw = packed
        return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
    return obj


_local = threading.local()  # a Packer per thread: building one per call costs µs
_KEEP_PACKER_UNDER = 1 << 20  # a Packer that packed more is dropped (frees its buffer)


def pack(obj: Any) -> bytes:
    """msgpack with numpy arrays as ext types (dtype, shape, raw bytes)."""
    packer = getattr(_local, "packer", None)
    if packer is None:
        packer = _local.packer = msgpack.Packer(default=_default, use_bin_type=True)
    data = packer.pack(obj)  # (autoreset: a failed pack leaves nothing behind either)
    if len(data) > _KEEP_PACKER_UNDER:
        _local.packer = None  # a snapshot: do not keep its buffer for the thread's life
    return data


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
