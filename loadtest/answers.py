"""How the rehearsal's users read an answer: its kind (ok, an expected refusal, a
back-off, a failure), its JSON body, its problem code."""

from __future__ import annotations

from typing import Any

import orjson


def retry_after(resp: Any) -> float | None:
    value = resp.headers.get("retry-after") if resp.headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify(resp: Any, expected: set[int]) -> tuple[str, float | None]:
    """``ok`` (2xx), ``expected`` (a documented refusal), ``backoff`` (429/503 with
    Retry-After) or ``fail``; with the Retry-After seconds for a backoff."""
    code = resp.status_code or 0
    if 200 <= code < 300:
        return "ok", None
    if code in (429, 503):
        ra = retry_after(resp)
        return ("backoff", ra) if ra is not None else ("fail", None)
    if code in expected:
        return "expected", None
    return "fail", None


def parsed(resp: Any) -> Any:
    """The JSON body, parsed from the bytes (Locust's ``resp.json()`` would decode
    through ``resp.text`` and its charset detection)."""
    return orjson.loads(resp.content)


def problem_code(resp: Any) -> str:
    """The ``code`` of a problem+json body ("" when there is none), without parsing
    the whole body: refusals are half a sale's answers."""
    body = resp.content or b""
    at = body.find(b'"code":"')
    if at < 0:
        return ""
    end = body.find(b'"', at + 8)
    return body[at + 8:end].decode("utf-8", "replace") if end > 0 else ""
