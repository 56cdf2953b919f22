"""API keys with scopes: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

from __future__ import annotations

import hashlib
from typing import Mapping

from api.settings import ApiKey


class KeyRing:
    """Looks keys up by their SHA-256: one dict lookup, and the lookup's timing says
    nothing about the secret (only about its digest)."""

    def __init__(self, keys: Mapping[str, ApiKey]) -> None:
        self._by_digest = {self._digest(k): v for k, v in keys.items()}

    @staticmethod
    def _digest(secret: str) -> bytes:
        return hashlib.sha256(secret.encode()).digest()

    def lookup(self, secret: str) -> ApiKey | None:
        return self._by_digest.get(self._digest(secret))
