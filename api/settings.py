"""API configuration: keys and scopes, limits, rate limits, derived from
:class:`allocator.config.Settings` (which reads the environment)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Mapping

from allocator.config import Settings
from allocator.errors import InvalidRequest
from service.bootstrap import ServiceConfig

SCOPES = ("checkout", "ops", "admin", "read")
DEV_KEYS: dict[str, dict[str, object]] = {
    "dev-checkout-key": {"name": "dev-checkout", "scopes": ["checkout", "read"]},
    "dev-ops-key": {"name": "dev-ops", "scopes": ["ops", "read"]},
    "dev-admin-key": {"name": "dev-admin", "scopes": ["admin", "ops", "checkout", "read"]},
}


@dataclass(frozen=True)
class ApiKey:
    """One caller. ``name`` identifies it in logs and owns its reservations;
    ``rate``/``burst`` override the default token bucket."""

    name: str
    scopes: frozenset[str]
    rate: float | None = None
    burst: int | None = None
    max_share: float = 0.0  # at most this share of a SKU's on-hand units held at once


@dataclass(frozen=True)
class ApiSettings:
    """Everything the HTTP layer needs: the key table parsed from ``api_keys`` (JSON
    ``{"<secret>": {"name": .., "scopes": [..], "rate": .., "burst": ..}}``, or ``@path``
    to a file holding it; empty: the development keys) and the rest of ``settings``."""

    keys: Mapping[str, ApiKey]
    settings: Settings = Settings()
    dev_keys: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "ApiSettings":
        return cls.from_settings(Settings.from_env(env))

    @classmethod
    def from_settings(cls, settings: Settings) -> "ApiSettings":
        raw = settings.api_keys
        if raw.startswith("@"):
            with open(raw[1:], encoding="utf-8") as fh:
                raw = fh.read()
        keys = parse_keys(json.loads(raw) if raw else DEV_KEYS, settings.api_max_share)
        return cls(keys=keys, settings=settings, dev_keys=not raw)

    @property
    def service(self) -> ServiceConfig:
        """What the service layer needs from these settings."""
        return ServiceConfig.from_settings(self.settings)

    @property
    def rate_per_s(self) -> float:
        return self.settings.api_rate

    @property
    def burst(self) -> int:
        return self.settings.api_burst

    @property
    def max_body_bytes(self) -> int:
        return self.settings.api_max_body_bytes

    @property
    def max_orders_per_batch(self) -> int:
        return self.settings.api_max_batch_orders


def parse_keys(data: object, max_share: float = 0.0) -> dict[str, ApiKey]:
    """Validate the key table; :class:`InvalidRequest` names the first bad entry (by
    its name or position, never by its secret)."""
    if not isinstance(data, dict) or not data:
        raise InvalidRequest("ALLOCATOR_API_KEYS must be a non-empty JSON object")
    out = {}
    names: set[str] = set()
    for i, (secret, spec) in enumerate(data.items()):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) \
                or not spec["name"].strip():
            raise InvalidRequest(f"API key #{i + 1}: needs a \"name\" (it owns the key's "
                                 "reservations and appears in logs and errors)")
        if spec["name"] in names:
            raise InvalidRequest(f"API key {spec['name']!r}: two keys share this name; "
                                 "names must be unique (they own reservations)")
        names.add(spec["name"])
        share = spec.get("max_share", max_share)
        if not isinstance(share, (int, float)) or not 0 <= share <= 1:
            raise InvalidRequest(f"API key {spec['name']!r}: max_share is a fraction 0..1")
        if not isinstance(spec.get("scopes"), list):
            raise InvalidRequest(f"API key {spec['name']!r}: needs a list of scopes")
        bad = sorted(set(spec["scopes"]) - set(SCOPES))
        if bad:
            raise InvalidRequest(f"API key {spec['name']!r}: unknown scopes {bad}; "
                                 f"known {SCOPES}")
        if len(secret) < 8:
            raise InvalidRequest(f"API key {spec['name']!r}: a key needs at least 8 characters")
        out[secret] = ApiKey(name=spec["name"], scopes=frozenset(spec["scopes"]),
                             rate=spec.get("rate"), burst=spec.get("burst"),
                             max_share=float(share))
    return out
