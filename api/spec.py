"""OpenAPI helpers: documented problem+json responses, and request bodies of
endpoints that validate their raw body themselves (no FastAPI parameter parsing on
the hot path, same schema in the docs)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from api.models import ProblemOut

_DESCRIPTIONS = {
    400: "Missing Idempotency-Key", 401: "Missing or unknown API key",
    403: "API key lacks the scope", 404: "Not found (or another key's reservation)",
    409: "Conflict: insufficient stock, purchase limit, illegal transition or stale version",
    410: "The reservation expired", 413: "Request body too large",
    422: "Validation error, or Idempotency-Key reused with another body",
    423: "Kill switch on", 429: "Rate limited, or the key's share of a SKU reached "
                               "(Retry-After)",
    503: "Overloaded or a backend unavailable (Retry-After)",
}
_SCHEMA = ProblemOut.model_json_schema()
_BODIES: dict[str, type[BaseModel]] = {}
_REF = "#/components/schemas/{model}"


def problems_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting problem+json for these statuses, and 413:
    the body limit (``api.app.BodyLimit``) answers it on every route."""
    return {s: {"description": _DESCRIPTIONS[s],
                "content": {"application/problem+json": {"schema": _SCHEMA}}}
            for s in sorted({*statuses, 413})}


IDEMPOTENCY_PARAMETER = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Required. A unique key per logical request (e.g. a UUID); a retry with "
                   "the same key and body gets the first response back."}


def body(model: type[BaseModel], idempotent: bool = False) -> dict[str, Any]:
    """``openapi_extra=`` for an endpoint reading a ``model`` body itself."""
    _BODIES[model.__name__] = model
    extra: dict[str, Any] = {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"$ref": _REF.format(model=model.__name__)}}}}}
    if idempotent:
        extra["parameters"] = [IDEMPOTENCY_PARAMETER]
    return extra


def install(app: FastAPI) -> None:
    """Add the body models named by :func:`body` to the OpenAPI components."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version,
                                 description=app.description, routes=app.routes)
            comps = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, model in _BODIES.items():
                js = model.model_json_schema(ref_template=_REF)
                comps.update(js.pop("$defs", {}))
                comps[name] = js
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
