"""The checkout endpoints served straight from ASGI.

FastAPI's router, dependency solver and exception middleware cost tens of µs a
request — a sizeable share of a reserve on this path. The checkout handlers take only
the request (and path parameters) and build their own responses, so this middleware
matches their routes itself and calls the very same functions; FastAPI still knows
the routes (OpenAPI, docs) and serves everything else. Errors become problem+json
exactly as the app's handlers would make them.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from allocator.errors import AllocatorError
from api.problems import invalid_response, problem_response

log = logging.getLogger("allocator.api")


class HotPath:
    """Serves ``routes`` (APIRoutes whose endpoint takes the request and path
    parameters and returns a Response) without FastAPI's per-request machinery, each
    wrapped in ``wrap`` (the app's own body limit and metrics); anything else goes to
    ``fallback`` (FastAPI)."""

    def __init__(self, routes: list[APIRoute], fastapi: FastAPI, fallback: ASGIApp,
                 wrap: Callable[[ASGIApp], ASGIApp] = lambda app: app) -> None:
        self.fastapi = fastapi
        self.fallback = fallback
        self.routes = [(r, frozenset(r.methods or ()), r.path_regex, r.param_convertors,
                        r.endpoint) for r in routes]
        self.serve = wrap(self._serve)

    def _match(self, method: str, path: str) -> tuple[Any, Callable, dict[str, Any]] | None:
        for route, methods, regex, convertors, endpoint in self.routes:
            if method in methods:
                m = regex.match(path)
                if m is not None:
                    return route, endpoint, {k: convertors[k].convert(v)
                                             for k, v in m.groupdict().items()}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hit = self._match(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if hit is None:
            await self.fallback(scope, receive, send)
            return
        scope["app"] = self.fastapi
        scope["route"], scope["hotpath"] = hit[0], hit
        await self.serve(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        _, endpoint, params = scope["hotpath"]
        request = Request(scope, receive)
        try:
            response = await endpoint(request=request, **params)
        except AllocatorError as exc:
            response = problem_response(exc.code, exc.message, scope["path"], **exc.details)
        except ValidationError as exc:
            response = invalid_response(exc.errors(include_url=False, include_input=False),
                                        scope["path"])
        except Exception:  # noqa: BLE001 - answered like the app's own last resort
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            response = problem_response("internal", "an internal error occurred; it has "
                                        "been logged", scope["path"])
        await response(scope, receive, send)
