"""OpenAPI helpers: the problem+json responses each endpoint documents."""

from __future__ import annotations

from typing import Any

from api.models import ProblemOut

_DESCRIPTIONS = {
    400: "Missing Idempotency-Key", 401: "Missing or unknown API key",
    403: "API key lacks the scope", 404: "Not found (or another key's reservation)",
    409: "Conflict: insufficient stock, illegal transition, stale version, or the same "
         "Idempotency-Key still in flight",
    410: "The reservation expired", 413: "Request body too large",
    422: "Validation error, or Idempotency-Key reused with another body",
    423: "Kill switch on", 429: "Rate limited (Retry-After)",
    503: "Overloaded or a backend unavailable (Retry-After)",
}
_SCHEMA = ProblemOut.model_json_schema()


def problems_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entries documenting problem+json for these statuses, and 413:
    the body limit (``api.app.BodyLimit``) answers it on every route."""
    return {s: {"description": _DESCRIPTIONS[s],
                "content": {"application/problem+json": {"schema": _SCHEMA}}}
            for s in sorted({*statuses, 413})}
