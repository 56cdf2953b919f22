"""The FastAPI app: lifespan (join Ray, connect Redis), middleware (body limit,
metrics), health, Prometheus metrics, problem types, and the /v1 routers.

``uvicorn --factory api.app:create_app`` builds it from the environment (see
:class:`api.settings.ApiSettings`); ``allocator serve`` does exactly that.
"""

from __future__ import annotations

import inspect
import logging
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allocator.gctune import freeze_long_lived
from api import (admin, bundles, channels, checkout, events, exchanges, inventory, lifecycle,
                 problems, reconcile, review, spec, waves)
from api.auth import KeyRing
from api.hotpath import HotPath
from api.render import json_response
from api.settings import ApiSettings
from api.spec import problems_for
from service.bootstrap import Services, connect

log = logging.getLogger("allocator.api")
# FastAPI ≥ 0.165 asks OpenTelemetry on every request whether it is configured: we
# export Prometheus metrics instead, so that per-request check is switched off.
_NO_TELEMETRY: dict[str, Any] = (
    {"telemetry": {"tracing": False, "metrics": False, "logs": False}}
    if "telemetry" in inspect.signature(FastAPI.__init__).parameters else {})
DESCRIPTION = """Route and reserve inventory at flash-sale load.

* **route** quotes the cheapest, fastest plan for an order (nothing is held);
* **reservations** route and hold an order all-or-nothing, then commit or release it;
  holds expire on their own;
* **inventory** reads stock and takes warehouse syncs and movements;
* **admin** pins hot SKUs, lists shards, flips the kill switch.

Authenticate with `Authorization: Bearer <key>`. Errors are RFC 9457 problem details
(`application/problem+json`) with a stable `type`; see docs/API.md.
"""


class BodyLimit:
    """413 for a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._reject(scope, receive, send)
            else:  # the server reads exactly the declared length: nothing to count
                await self.app(scope, receive, send)
            return
        seen = 0

        async def counting() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise problems.Problem("payload_too_large",
                                       f"request body over {self.max_bytes} bytes")
            return message

        await self.app(scope, counting, send)

    async def _reject(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problems.problem_response(
            "payload_too_large", f"request body over {self.max_bytes} bytes", scope["path"],
            max_bytes=self.max_bytes)
        await response(scope, receive, send)


class HttpMetrics:
    """Requests by route and status, and their latency (Prometheus); label lookups
    are cached (each costs µs)."""

    def __init__(self, requests: Counter, latency: Histogram) -> None:
        self.requests = requests
        self.latency = latency
        self._children: dict[tuple[str, str, int], Any] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = (self.requests.labels(method, route, str(status)),
                                           self.latency.labels(route))
        child[0].inc()
        child[1].observe(seconds)


class Measure:
    """Counts requests by route and status and observes their latency (pure ASGI:
    far cheaper than an ``@app.middleware("http")`` wrapper)."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.observe(scope["method"], getattr(scope.get("route"), "path",
                                                          "unmatched"),
                                 status, time.perf_counter() - t0)


def create_app(settings: ApiSettings | None = None) -> FastAPI:
    """Build the app. When it starts it joins the Ray cluster and the Redis named in
    ``settings`` (and leaves them running when it stops)."""
    settings = settings or ApiSettings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services: Services = await connect(settings.service)
        app.state.services = services
        freeze_long_lived()  # what startup built is never garbage
        if settings.dev_keys:
            log.warning("ALLOCATOR_API_KEYS is not set: serving with the development keys")
        try:
            yield
        finally:
            await services.close()

    app = AllocatorApp(title="allocator", version="1.0.0", description=DESCRIPTION,
                       lifespan=lifespan, **_NO_TELEMETRY)
    app.state.settings = settings
    app.state.keyring = KeyRing(settings.keys)
    problems.install(app)
    app.include_router(checkout.router)
    app.include_router(lifecycle.router)
    app.include_router(bundles.router)
    app.include_router(exchanges.router)
    app.include_router(inventory.router)
    app.include_router(admin.router)
    app.include_router(channels.router)
    app.include_router(events.router)
    app.include_router(reconcile.router)
    app.include_router(review.router)
    app.include_router(waves.router)
    metrics = _add_health_and_metrics(app)
    spec.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    hot_routes = [*checkout.router.routes, *lifecycle.router.routes]  # a buyer's requests
    app.hot = HotPath([r for r in hot_routes if isinstance(r, APIRoute)], app,
                      fallback=app.fastapi_call,
                      wrap=lambda inner: BodyLimit(Measure(inner, metrics),
                                                   settings.max_body_bytes),
                      max_body_bytes=settings.max_body_bytes, observe=metrics.observe)
    return app


class AllocatorApp(FastAPI):
    """FastAPI whose checkout routes are dispatched before its own middleware stack
    (see :mod:`api.hotpath`); ``hot`` is set by :func:`create_app`."""

    hot: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.hot is not None and scope["type"] == "http":
            await self.hot(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def fastapi_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


class _AppCollector:
    """A Prometheus collector reading this process's services (None before start-up)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    @property
    def services(self) -> Any:
        return getattr(self.app.state, "services", None)


class DriftCollector(_AppCollector):
    """Reconciliation totals of this process as counters: cells and units by cause."""

    def collect(self) -> Any:
        services = self.services
        cells = CounterMetricFamily("allocator_drift_cells", "cells reconciled, by cause",
                                    labels=["cause"])
        units = CounterMetricFamily("allocator_drift_units",
                                    "units of difference no in-flight shipment explains",
                                    labels=["cause"])
        for cause, t in (services.reconciler.totals.items() if services else ()):
            cells.add_metric([cause], t["cells"])
            units.add_metric([cause], t["units"])
        yield cells
        yield units


class PlanCacheCollector(_AppCollector):
    """The routed planner's memo of this process: plans reused, computed, and
    unfillable answers reused (a sold-out SKU's stampede)."""

    def collect(self) -> Any:
        services = self.services
        plans = CounterMetricFamily("allocator_plan_cache", "routed plans by cache result",
                                    labels=["result"])
        stats = services.checkout.planner.stats if services else {}
        for result, key in (("hit", "hits"), ("miss", "misses"),
                            ("unfillable_hit", "unfillable_hits")):
            plans.add_metric([result], stats.get(key, 0))
        yield plans


class WaitsCollector(_AppCollector):
    """Where this process's checkout requests waited outside it: a shard op's answer,
    a fresh read of rows, the first answer stored in Redis (:mod:`service.waits`)."""

    def collect(self) -> Any:
        services = self.services
        family = HistogramMetricFamily(
            "allocator_checkout_wait_seconds",
            "time a request waited on a shard (op, fresh rows) or Redis (settle), by step",
            labels=["step"])
        waits = services.checkout.waits if services else None
        for step in (waits.steps if waits else ()):
            buckets, total = waits.histogram(step)
            family.add_metric([step], buckets, total)
        yield family


def _add_health_and_metrics(app: FastAPI) -> HttpMetrics:
    """Health, readiness, metrics and problem-type routes; returns the HTTP metrics,
    for routes served outside FastAPI's stack."""
    registry = CollectorRegistry()
    requests = Counter("allocator_http_requests", "HTTP requests by route and status",
                       ["method", "route", "status"], registry=registry)
    latency = Histogram("allocator_http_request_seconds", "HTTP request latency by route",
                        ["route"], registry=registry,
                        buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5))

    registry.register(DriftCollector(app))
    registry.register(PlanCacheCollector(app))
    registry.register(WaitsCollector(app))
    http_metrics = HttpMetrics(requests, latency)
    app.add_middleware(Measure, metrics=http_metrics)

    @app.get("/healthz", tags=["health"], summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Ray and Redis are reachable",
             responses=problems_for(503))
    async def readyz(request: Request) -> Response:
        checks = await request.app.state.services.admin.ready()
        if all(checks.values()):
            return json_response({"status": "ready", "checks": checks})
        return problems.problem_response("unavailable", "not ready: " + ", ".join(
            k for k, ok in checks.items() if not ok), "/readyz", checks=checks)

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics of this worker",
             response_class=Response)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/problems/{slug}", tags=["health"], summary="What a problem type means",
             responses=problems_for(404, 422))
    async def problem_type(slug: str) -> dict[str, Any]:
        found = problems.describe(slug)
        if found is None:
            raise problems.Problem("not_found", f"no problem type {slug!r}")
        return found

    return http_metrics
