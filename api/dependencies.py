"""What every endpoint needs from a request: the services, the caller's key (scope,
rate limit), the idempotency key, and a body validated straight from its bytes."""

from __future__ import annotations

import hashlib
from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel

from api.problems import Problem
from api.settings import ApiKey
from service.bootstrap import Services
from service.orders import Caller

M = TypeVar("M", bound=BaseModel)
MAX_IDEMPOTENCY_KEY = 255


def services(request: Request) -> Services:
    return request.app.state.services


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


async def authorize(request: Request, scope: str, cost: float = 1.0) -> ApiKey:
    """The caller's key, which must carry ``scope``; spends ``cost`` of its rate limit
    (429 with Retry-After when it is spent; endpoints whose cost depends on the body
    pass 0 and :func:`charge` once it is parsed)."""
    secret = presented_key(request)
    if not secret:
        raise Problem("unauthorized", "send an API key as 'Authorization: Bearer <key>'")
    key = request.app.state.keyring.lookup(secret)
    if key is None:
        raise Problem("unauthorized", "unknown API key")
    if scope not in key.scopes:
        raise Problem("forbidden", f"this API key lacks the {scope!r} scope",
                      required_scope=scope)
    if cost:
        await charge(request, key, cost)
    return key


async def charge(request: Request, key: ApiKey, cost: float) -> None:
    settings = request.app.state.settings
    rate = settings.rate_per_s if key.rate is None else key.rate
    burst = settings.burst if key.burst is None else key.burst
    if rate <= 0:
        return
    if cost > burst:
        raise Problem("rate_limited", f"this request costs {cost:g} tokens, more than the "
                      f"burst of {burst} of key {key.name!r}: split it", cost=cost, burst=burst,
                      retry_after_s=1.0)
    wait = await services(request).limiter.take(key.name, rate, burst, cost)
    if wait > 0:
        raise Problem("rate_limited", f"rate limit of {rate:g}/s (burst {burst}) for key "
                      f"{key.name!r} exceeded", retry_after_s=wait, cost=cost)


def caller(key: ApiKey) -> Caller:
    return Caller(key.name, int(round(key.max_share * 10_000)) if key.max_share else 0)


def idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if not key:
        raise Problem("idempotency_key_missing",
                      "this endpoint needs an 'Idempotency-Key' header (e.g. a UUID)")
    if len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise Problem("invalid_request", f"Idempotency-Key must be 1..{MAX_IDEMPOTENCY_KEY} "
                      "printable characters")
    return key


async def body(request: Request, model: type[M]) -> M:
    """The JSON body validated by pydantic-core from its bytes (a ValidationError is
    answered 422 by the app's handler)."""
    return model.model_validate_json(await request.body())


def fingerprint(request: Request, parsed: BaseModel) -> str:
    """Equal requests (method, path, same fields and values) give equal fingerprints."""
    canonical = parsed.model_dump_json(exclude_defaults=True).encode()
    head = f"{request.method} {request.scope['path']}\n".encode()
    return hashlib.blake2b(head + canonical, digest_size=16).hexdigest()
