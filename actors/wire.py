"""The shards' data plane: length-prefixed msgpack frames over TCP (and, for clients on
the same machine, a unix socket: a round trip costs both ends about a quarter less
CPU than over loopback TCP).

A Ray actor call costs its caller ~0.6–0.8 ms of CPU on a 2-core machine, however
little it carries; a frame on an open socket costs ~50 µs. So each shard actor also
listens on a socket of its own (Ray still places, names, restarts and monitors it,
and carries every control call), and the API's client sends its op batches there.

Frame: 4-byte little-endian length, then one msgpack map (numpy arrays as raw bytes,
see :mod:`allocator.codec`). Requests carry ``id`` and ``op``:

* ``hello`` — ``token``: the cluster's wire token (an HMAC of the cluster secret);
  anything else before a good hello closes the connection;
* ``apply`` — ``epoch`` and ``cols`` (an :class:`~allocator.ops.OpBatch` in column
  form; columns in the layout before parameter columns, one ``arg``, are read by kind):
  the answer is :meth:`ShardCore.apply`'s, sent after the batch is journaled;
* ``avail`` — the available units of every cell (clients' routing views).

An answer echoes ``id``; a request the shard cannot serve answers ``error`` (the
error code) and ``message``. Answers come back in request order.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import socket
import struct
import sys
import threading
from typing import Any, Callable

from allocator.codec import pack, unpack
from allocator.errors import AllocatorError

log = logging.getLogger("allocator.wire")
HEADER = struct.Struct("<I")
MAX_FRAME = 256 << 20


def wire_token(secret: bytes) -> bytes:
    """What a client presents in its hello: derived from the cluster secret."""
    return hmac.new(secret, b"allocator-wire-v1", hashlib.sha256).digest()


def frame(obj: dict[str, Any]) -> bytes:
    body = pack(obj)
    return HEADER.pack(len(body)) + body


class WireServer:
    """Serves frames for one shard: an accept thread per listening socket (TCP on
    ``host``, and on Linux an abstract unix socket, ``unix_path``) and a thread per
    connection.

    ``handlers`` maps an ``op`` to a function of the request returning the answer;
    an :class:`AllocatorError` becomes an ``error`` answer.
    """

    def __init__(self, handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]],
                 token: bytes, host: str = "127.0.0.1", name: str = "shard") -> None:
        self.handlers = handlers
        self.token = token
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(128)
        self.address = (host, self.sock.getsockname()[1])
        self.unix_path: str | None = None
        self._sockets = [self.sock]
        if sys.platform.startswith("linux"):  # abstract: no file to clean up
            path = f"\0allocator-wire-{os.getpid()}-{name}-{secrets.token_hex(4)}"
            usock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            usock.bind(path)
            usock.listen(128)
            self.unix_path = path
            self._sockets.append(usock)
        self._closed = False
        for sock in self._sockets:
            threading.Thread(target=self._accept, args=(sock,), name=f"{name}-wire",
                             daemon=True).start()

    def close(self) -> None:
        self._closed = True
        for sock in self._sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self, sock: socket.socket) -> None:
        while not self._closed:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            if conn.family != socket.AF_UNIX:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), name=f"{self.name}-conn",
                             daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            reader = conn.makefile("rb", buffering=1 << 16)
            hello = _read(reader)
            if hello is None or hello.get("op") != "hello" or not hmac.compare_digest(
                    bytes(hello.get("token", b"")), self.token):
                return
            conn.sendall(frame({"id": hello.get("id", 0), "ok": True}))
            while True:
                req = _read(reader)
                if req is None:
                    return
                conn.sendall(frame(self._answer(req)))
        except (OSError, ValueError) as exc:
            log.debug("%s: connection closed: %s", self.name, exc)
        finally:
            conn.close()

    def _answer(self, req: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get(req.get("op", ""))
        try:
            if handler is None:
                raise AllocatorError(f"unknown wire op {req.get('op')!r}")
            out = handler(req)
        except AllocatorError as exc:
            out = {"error": exc.code, "message": exc.message}
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the connection
            log.exception("%s: wire op %s failed", self.name, req.get("op"))
            out = {"error": "internal", "message": f"{type(exc).__name__}: {exc}"}
        out["id"] = req.get("id", 0)
        return out


def _read(reader: Any) -> dict[str, Any] | None:
    head = reader.read(HEADER.size)
    if len(head) < HEADER.size:
        return None
    (n,) = HEADER.unpack(head)
    if n > MAX_FRAME:
        raise ValueError(f"frame of {n} bytes")
    body = reader.read(n)
    if len(body) < n:
        return None
    return unpack(body)
