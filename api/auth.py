"""API keys with scopes: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

from __future__ import annotations

import hashlib
import hmac
from typing import Callable, Mapping

from fastapi import Request

from api.problems import Problem
from api.settings import ApiKey


class KeyRing:
    """Looks keys up by their SHA-256 (so lookups do not leak timing on the secret)."""

    def __init__(self, keys: Mapping[str, ApiKey]) -> None:
        self._by_digest = {self._digest(k): v for k, v in keys.items()}

    @staticmethod
    def _digest(secret: str) -> bytes:
        return hashlib.sha256(secret.encode()).digest()

    def lookup(self, secret: str) -> ApiKey | None:
        digest = self._digest(secret)
        for known, key in self._by_digest.items():
            if hmac.compare_digest(known, digest):
                return key
        return None


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key")


def require(scope: str) -> Callable[[Request], ApiKey]:
    """A FastAPI dependency: the caller's key, which must carry ``scope``."""

    def dependency(request: Request) -> ApiKey:
        secret = presented_key(request)
        if not secret:
            raise Problem("unauthorized", "send an API key as 'Authorization: Bearer <key>'")
        key = request.app.state.keyring.lookup(secret)
        if key is None:
            raise Problem("unauthorized", "unknown API key")
        if scope not in key.scopes:
            raise Problem("forbidden", f"this API key lacks the {scope!r} scope",
                          required_scope=scope)
        request.app.state.limiter.take(key)
        request.state.api_key = key
        return key

    dependency.__name__ = f"require_{scope}"
    return dependency
