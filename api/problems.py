"""RFC 9457 problem details: one stable ``type`` per error code, never a stack trace.

Every error the service answers with is a :class:`Problem` (or an
:class:`~allocator.errors.AllocatorError` mapped to one here). ``type`` is a
relative URI ``/problems/<slug>``; ``GET /problems/<slug>`` describes it.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from allocator.errors import AllocatorError

log = logging.getLogger("allocator.api")
MEDIA_TYPE = "application/problem+json"

# code -> (HTTP status, slug, title)
PROBLEMS: dict[str, tuple[int, str, str]] = {
    "invalid_request": (422, "validation", "The request is not valid"),
    "unknown_sku": (422, "unknown-sku", "Unknown SKU"),
    "unknown_warehouse": (422, "unknown-warehouse", "Unknown warehouse"),
    "unknown_destination": (422, "unknown-destination", "Destination not served"),
    "invalid_catalog": (422, "validation", "The request is not valid"),
    "invalid_network": (422, "validation", "The request is not valid"),
    "insufficient_stock": (409, "insufficient-stock", "Not enough stock"),
    "unknown_hold": (404, "not-found", "No such reservation"),
    "not_found": (404, "not-found", "Not found"),
    "hold_expired": (410, "hold-expired", "The reservation has expired"),
    "illegal_transition": (409, "illegal-transition", "Not allowed in the reservation's state"),
    "idempotency_conflict": (409, "conflict", "Conflicting request"),
    "reservation_changed": (409, "reservation-changed",
                            "The reservation changed meanwhile: read it and try again"),
    "bundle_line": (409, "bundle-line", "A bundle's components move together"),
    "already_returned": (409, "already-returned",
                         "The line's shipped units are already returned by an exchange"),
    "idempotency_mismatch": (422, "idempotency-key-reused",
                             "Idempotency-Key reused with a different request"),
    "idempotency_key_missing": (400, "idempotency-key-missing", "Idempotency-Key required"),
    "stale_version": (409, "stale-version", "Stale inventory version"),
    "sku_moved": (503, "overloaded", "Temporarily unavailable"),
    "kill_switch": (423, "kill-switch", "Reservations are switched off"),
    "purchase_limit": (409, "purchase-limit", "Purchase limit per customer reached"),
    "channel_limit": (409, "channel-allocation",
                      "The sales channel holds its allocation of the SKU"),
    "channel_reserved": (409, "channel-reserved",
                         "The units left are kept for other sales channels"),
    "channel_switched_off": (423, "channel-switched-off",
                             "Reservations are switched off for this sales channel"),
    "brand_switched_off": (423, "brand-switched-off",
                           "Reservations are switched off for this brand"),
    "review_pending": (409, "review-pending", "The reservation waits for a review decision"),
    "share_limit": (429, "key-share-limit", "This API key holds its share of the stock"),
    "rate_limited": (429, "rate-limited", "Too many requests"),
    "overloaded": (503, "overloaded", "Overloaded, retry later"),
    "unavailable": (503, "unavailable", "A backend is unavailable"),
    "storage_unavailable": (503, "unavailable", "A backend is unavailable"),
    "shard_unavailable": (503, "unavailable", "A backend is unavailable"),
    "unauthorized": (401, "unauthorized", "Missing or unknown API key"),
    "forbidden": (403, "forbidden", "The API key lacks the scope for this"),
    "payload_too_large": (413, "payload-too-large", "Request body too large"),
    "method_not_allowed": (405, "method-not-allowed", "Method not allowed"),
    "internal": (500, "internal", "Internal error"),
}


class Problem(AllocatorError):
    """An error raised by the HTTP layer itself (auth, limits, idempotency)."""

    def __init__(self, code: str, message: str, *, retry_after_s: float | None = None,
                 **details: Any) -> None:
        super().__init__(message, **details)
        self.code = code
        if retry_after_s is not None:
            self.details["retry_after_s"] = retry_after_s


def problem_body(code: str, detail: str, instance: str = "", **extra: Any) -> tuple[int, dict]:
    status, slug, title = PROBLEMS.get(code, PROBLEMS["internal"])
    body = {"type": f"/problems/{slug}", "title": title, "status": status, "detail": detail,
            "code": code}
    if instance:
        body["instance"] = instance
    body.update({k: v for k, v in extra.items() if k not in body})
    return status, body


def problem_response(code: str, detail: str, instance: str = "",
                     headers: dict[str, str] | None = None, **extra: Any) -> Response:
    """A problem+json response; ``retry_after_s`` also sets ``Retry-After``."""
    status, body = problem_body(code, detail, instance, **extra)
    headers = dict(headers or {})
    if status in (429, 503) and "retry_after_s" not in body:
        body["retry_after_s"] = 1.0
    if "retry_after_s" in body:
        headers["Retry-After"] = str(max(1, round(float(body["retry_after_s"]) + 0.499)))
    return Response(orjson.dumps(body, default=str), status, headers=headers,
                    media_type=MEDIA_TYPE)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into problem+json."""

    @app.exception_handler(AllocatorError)
    async def allocator_error(request: Request, exc: AllocatorError) -> Response:
        return problem_response(exc.code, exc.message, request.scope["path"], **exc.details)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return invalid_response(exc.errors(), request.scope["path"])

    @app.exception_handler(ValidationError)
    async def body_error(request: Request, exc: ValidationError) -> Response:
        return invalid_response(exc.errors(include_url=False, include_input=False),
                                request.scope["path"])

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        cause = _wrapped_error(exc)
        if cause is not None:
            return problem_response(cause.code, cause.message, request.scope["path"],
                                    **cause.details)
        if exc.status_code == 400:
            # FastAPI could not read the body (e.g. JSON that is not UTF-8): like any
            # malformed JSON, that is a validation error
            return problem_response("invalid_request", str(exc.detail), request.scope["path"])
        code = {401: "unauthorized", 403: "forbidden", 404: "not_found",
                405: "method_not_allowed", 413: "payload_too_large"}.get(exc.status_code)
        if code is None:
            status, slug = exc.status_code, "http-error"
            return JSONResponse({"type": f"/problems/{slug}", "title": str(exc.detail),
                                 "status": status, "detail": str(exc.detail)},
                                status_code=status, media_type=MEDIA_TYPE)
        return problem_response(code, str(exc.detail), request.scope["path"])

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.scope["path"])
        return problem_response("internal", "an internal error occurred; it has been logged",
                                request.scope["path"])


def invalid_response(raw: Any, instance: str) -> Response:
    """422 with every validation error and the first one in ``detail``."""
    errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", ""),
               "type": e.get("type", "")} for e in raw]
    first = errors[0] if errors else {"loc": [], "msg": "invalid"}
    where = ".".join(first["loc"][1:] if first["loc"][:1] == ["body"] else first["loc"])
    return problem_response("invalid_request", f"{where}: {first['msg']}" if where
                            else first["msg"], instance, errors=errors)


def _wrapped_error(exc: BaseException) -> AllocatorError | None:
    """The error behind FastAPI's 400 "error parsing the body" when it is ours: the
    streamed body limit raises while FastAPI reads the body, inside the http
    middleware's task group (so in an ExceptionGroup of one)."""
    cause = exc.__cause__
    while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
        cause = cause.exceptions[0]
    return cause if isinstance(cause, AllocatorError) else None


def describe(slug: str) -> dict[str, Any] | None:
    """What ``GET /problems/<slug>`` returns."""
    for code, (status, s, title) in PROBLEMS.items():
        if s == slug:
            return {"type": f"/problems/{slug}", "title": title, "status": status, "code": code}
    return None
