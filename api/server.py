"""The API's HTTP protocol: uvicorn's httptools protocol, with the checkout routes
answered without ASGI.

An ASGI request costs uvicorn a scope, a task running the app, ``receive`` and two
``send`` messages, each crossing the app's middleware — about a third of the API's CPU
on a reserve. For a request :class:`~api.hotpath.HotPath` serves, this protocol waits
for the body itself, calls :meth:`~api.hotpath.HotPath.answer`, and writes the
response in one ``transport.write``. Everything else (other routes, keep-alive,
pipelining, flow control, timeouts, shutdown) is uvicorn's own.

``allocator serve`` and the local stack select it (``uvicorn --http
api.server:CheckoutProtocol``); under any other server the same routes are served
through :class:`~api.hotpath.HotPath` as ASGI middleware, with the same answers. The
checkout routes skip uvicorn's ``--proxy-headers`` rewriting: none of them reads the
client address or scheme.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.responses import Response
from uvicorn.protocols.http.httptools_impl import (STATUS_LINE, HttpToolsProtocol,
                                                   RequestResponseCycle)

from api.hotpath import Hit, HotPath

log = logging.getLogger("allocator.api")
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class CheckoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; requests a :class:`HotPath` serves skip ASGI."""

    _hot_of: tuple[Any, HotPath | None] = (None, None)  # (app, its HotPath), per connection

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if self._hot_of[0] is not app:  # found once per connection, not per request
            self._hot_of = (app, hot_path_of(app))
        hot = self._hot_of[1]
        hit = hot.match(cycle.scope["method"], cycle.scope["path"]) if hot else None
        if hit is None:
            super()._start_asgi_task(cycle, app)
            return
        task = self.loop.create_task(serve(hot, hit, cycle))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)


def hot_path_of(app: Any) -> HotPath | None:
    """The HotPath of the app under uvicorn's wrappers (proxy headers, logging)."""
    for _ in range(4):
        hot = getattr(app, "hot", None)
        if isinstance(hot, HotPath):
            return hot
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


async def serve(hot: HotPath, hit: Hit, cycle: RequestResponseCycle) -> None:
    """Read the body, answer, write: the whole request outside ASGI."""
    t0 = time.perf_counter()
    scope = cycle.scope
    try:
        body = await read_body(cycle, hot.max_body_bytes)
        if body is None:  # the client went away
            return
        response = (hot.too_large(scope["path"]) if body is TOO_LARGE
                    else await hot.answer(scope, hit, body))
        await write(cycle, response, head=scope["method"] == "HEAD")
        hot.observe(scope["method"], hit[0].path, response.status_code,
                    time.perf_counter() - t0)
    except Exception:  # noqa: BLE001 - a bug here must not leave the connection hanging
        log.exception("unhandled error on %s %s", scope["method"], scope["path"])
        cycle.transport.close()
    finally:
        cycle.on_response = lambda: None


TOO_LARGE = b"\0too large"  # a sentinel no body is (identity compared)


async def read_body(cycle: RequestResponseCycle, limit: int) -> bytes | None:
    """The whole body; TOO_LARGE past ``limit`` bytes (declared or received), None
    when the client disconnects first."""
    declared = next((v for k, v in cycle.scope["headers"] if k == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        cycle.keep_alive = False  # the unread body would be taken for the next request
        return TOO_LARGE
    if cycle.waiting_for_100_continue and not cycle.transport.is_closing():
        cycle.transport.write(CONTINUE)
        cycle.waiting_for_100_continue = False
    while cycle.more_body and not cycle.disconnected:
        if len(cycle.body) > limit:
            cycle.keep_alive = False
            return TOO_LARGE
        cycle.flow.resume_reading()
        await cycle.message_event.wait()
        cycle.message_event.clear()
    if cycle.disconnected:
        return None
    if len(cycle.body) > limit:
        cycle.keep_alive = False
        return TOO_LARGE
    body = bytes(cycle.body)
    cycle.body = bytearray()
    return body


async def write(cycle: RequestResponseCycle, response: Response, head: bool = False) -> None:
    """Status line, uvicorn's default headers (server, date), the response's own and
    its body, in one write; then what uvicorn does when a response completes."""
    if cycle.flow.write_paused and not cycle.disconnected:
        await cycle.flow.drain()
    if cycle.disconnected:
        return
    parts = [STATUS_LINE[response.status_code]]
    for name, value in (*cycle.default_headers, *response.raw_headers):
        parts += (name, b": ", value, b"\r\n")
    if not cycle.keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head:
        parts.append(response.body)
    cycle.transport.write(b"".join(parts))
    cycle.response_started = cycle.response_complete = True
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()
