"""API keys with scopes: ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``."""

from __future__ import annotations

from typing import Mapping

from api.settings import ApiKey


class KeyRing:
    """Finds a caller's key by its secret: one dict lookup. Python hashes strings with a
    per-process random key (SipHash), so a lookup's timing says nothing useful about
    the secrets it did not match."""

    def __init__(self, keys: Mapping[str, ApiKey]) -> None:
        self._keys = dict(keys)

    def lookup(self, secret: str) -> ApiKey | None:
        return self._keys.get(secret)
