"""The checkout endpoints served without FastAPI's per-request machinery.

FastAPI's router, dependency solver and exception middleware cost tens of µs a
request — a sizeable share of a reserve on this path. The checkout handlers take only
the request (and path parameters) and build their own responses, so :class:`HotPath`
matches their routes itself and calls the very same functions; FastAPI still knows
the routes (OpenAPI, docs) and serves everything else. Errors become problem+json
exactly as the app's handlers would make them.

Two ways in: as ASGI middleware (any ASGI server), or — cheaper still — straight from
the HTTP protocol (:mod:`api.server`), which skips ASGI's messages altogether and
calls :meth:`HotPath.answer` with the whole body.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allocator.errors import AllocatorError
from api.problems import invalid_response, problem_response

log = logging.getLogger("allocator.api")

#: A matched route: the APIRoute, its endpoint and the converted path parameters.
Hit = tuple[APIRoute, Callable[..., Any], dict[str, Any]]


class HotPath:
    """Serves ``routes`` (APIRoutes whose endpoint takes the request and path
    parameters and returns a Response) without FastAPI's per-request machinery, each
    wrapped in ``wrap`` (the app's own body limit and metrics); anything else goes to
    ``fallback`` (FastAPI). ``max_body_bytes`` and ``observe`` (route, method, status,
    seconds) serve the protocol-level entry, which has no middleware around it."""

    def __init__(self, routes: list[APIRoute], fastapi: FastAPI, fallback: ASGIApp,
                 wrap: Callable[[ASGIApp], ASGIApp] = lambda app: app,
                 max_body_bytes: int = 1 << 20,
                 observe: Callable[[str, str, int, float], None] = lambda *a: None) -> None:
        self.fastapi = fastapi
        self.fallback = fallback
        self.max_body_bytes = max_body_bytes
        self.observe = observe
        self.routes = [(r, frozenset(r.methods or ()), r.path_regex, r.param_convertors,
                        r.endpoint) for r in routes]
        self.serve = wrap(self._serve)

    def match(self, method: str, path: str) -> Hit | None:
        """The checkout route serving ``method path``, or None."""
        for route, methods, regex, convertors, endpoint in self.routes:
            if method in methods:
                m = regex.match(path)
                if m is not None:
                    return route, endpoint, {k: convertors[k].convert(v)
                                             for k, v in m.groupdict().items()}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = self.match(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if hit is None:
            await self.fallback(scope, receive, send)
            return
        scope["app"] = self.fastapi
        scope["route"], scope["hotpath"] = hit[0], hit
        await self.serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(scope["hotpath"], Request(scope, receive))
        await response(scope, receive, send)

    async def answer(self, scope: Scope, hit: Hit, body: bytes) -> Response:
        """The response to a request whose whole ``body`` is in (protocol entry)."""
        scope["app"] = self.fastapi
        scope["route"] = hit[0]
        request = Request(scope, _no_more_body)
        request._body = body  # what Request.body() returns: nothing left to receive
        return await self.respond(hit, request)

    async def respond(self, hit: Hit, request: Request) -> Response:
        """Run the endpoint; errors become problem+json as the app's handlers make them."""
        _, endpoint, params = hit
        path = request.scope["path"]
        try:
            return await endpoint(request=request, **params)
        except AllocatorError as exc:
            return problem_response(exc.code, exc.message, path, **exc.details)
        except ValidationError as exc:
            return invalid_response(exc.errors(include_url=False, include_input=False), path)
        except Exception:  # noqa: BLE001 - answered like the app's own last resort
            log.exception("unhandled error on %s %s", request.scope["method"], path)
            return problem_response("internal", "an internal error occurred; it has "
                                    "been logged", path)

    def too_large(self, path: str) -> Response:
        """413 for a body over the limit."""
        return problem_response("payload_too_large",
                                f"request body over {self.max_body_bytes} bytes", path,
                                max_bytes=self.max_body_bytes)


async def _no_more_body() -> Message:
    return {"type": "http.disconnect"}
