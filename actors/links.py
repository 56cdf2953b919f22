"""The client's connections: one socket per shard on its data plane (:mod:`actors.wire`),
opened with the wire token, answers read in order, lost connections re-opened and what
was in flight resent (same op ids)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import ray

from actors.pending import Frame, Link, Unavailable
from actors.wire import HEADER, frame
from allocator.aio import spawn
from allocator.codec import unpack
from allocator.errors import AllocatorError


class Connections:
    """Mixin of :class:`~actors.client.ShardClient`: links, sockets, answers in."""

    def _link(self, name: str) -> Link:
        link = self._links.get(name)
        if link is None:
            link = self._links[name] = Link(name)
        return link

    def _write(self, link: Link, req: dict[str, Any], fr: Frame) -> None:
        req["id"] = next(self._ids)
        link.inflight.append(fr)
        self.stats["frames"] += 1
        self.stats["ops"] += len(fr.ops) + (len(fr.chunk.pos) if fr.chunk else 0)
        assert link.writer is not None
        link.writer.write(frame(req))

    def _ensure_connected(self, link: Link) -> None:
        if link.connecting is None or link.connecting.done():
            link.connecting = spawn(self._connect(link))

    async def _connect(self, link: Link) -> None:
        while not self._closed:
            try:
                host, port, unix_path = await self.actor(link.name).endpoint.remote()
                reader, writer = await open_wire(host, port, unix_path)
                writer.write(frame({"op": "hello", "id": 0, "token": self.token}))
                hello = await read_frame(reader)
                if hello is None or not hello.get("ok"):
                    raise ConnectionError(f"shard {link.name} refused the wire token")
            except (OSError, ConnectionError, ray.exceptions.RayError, ValueError) as exc:
                self._actors.pop(link.name, None)
                link.failures += 1
                if link.failures > self.max_attempts:
                    self._fail_link(link, Unavailable(f"shard {link.name} is unreachable: {exc}"))
                    link.failures = 0
                    return
                await asyncio.sleep(min(0.5, 0.02 * 2 ** link.failures))
                continue
            link.reader, link.writer = reader, writer
            link.failures = 0
            self.stats["reconnects"] += 1
            spawn(self._read_answers(link, reader))
            for req, fut in link.reads_waiting:
                self._write(link, req, Frame([], None, fut))
            link.reads_waiting = []
            self._kick(link)
            return

    def _fail_link(self, link: Link, exc: AllocatorError | None) -> None:
        """Answer every op waiting on this link with ``exc`` (None: cancel them)."""
        waiting = list(link.inflight)
        link.inflight.clear()
        ops = link.queue + [op for fr in waiting for op in fr.ops]
        link.queue = []
        chunks = list(link.chunks) + [fr.chunk for fr in waiting if fr.chunk is not None]
        link.chunks.clear()
        reads = [fr.future for fr in waiting if fr.future is not None]
        reads += [fut for _, fut in link.reads_waiting]
        link.reads_waiting = []
        for fut in [op.future for op in ops] + [c.bulk.future for c in chunks] + reads:
            if fut.done():
                continue
            if exc is None:
                fut.cancel()
            else:
                fut.set_exception(exc)
        self.queued = sum(len(lk.queue) + sum(len(c.pos) for c in lk.chunks)
                          for lk in self._links.values())

    async def _read_answers(self, link: Link, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                answer = await read_frame(reader)
                if answer is None:
                    break
                fr = link.inflight.popleft()
                self._answered(link, fr, answer)
                if link.queue or link.chunks:
                    self._kick(link)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        if link.reader is reader:  # lost: resend what was in flight once reconnected
            link.reader = link.writer = None
            lost = list(link.inflight)
            link.inflight.clear()
            self._actors.pop(link.name, None)
            for fr in lost:
                self._retry(link, fr, backoff=True)
            if not self._closed:
                self._ensure_connected(link)


async def open_wire(host: str, port: int, unix_path: str | None
                    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to a shard's data plane: its unix socket when the shard runs on
    this machine (cheaper), else — or if that fails — TCP."""
    if unix_path and host in local_addresses():
        try:
            return await asyncio.open_unix_connection(unix_path, limit=1 << 22)
        except OSError:
            pass  # another network namespace (a container): TCP reaches it
    return await asyncio.open_connection(host, port, limit=1 << 22)


@functools.lru_cache(maxsize=1)
def local_addresses() -> frozenset[str]:
    """This machine's addresses as Ray sees them (the node IP) and loopback."""
    return frozenset({"127.0.0.1", "localhost", ray.util.get_node_ip_address()})


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    try:
        head = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError:
        return None
    (n,) = HEADER.unpack(head)
    return unpack(await reader.readexactly(n))
