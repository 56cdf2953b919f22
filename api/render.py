"""Responses: JSON bytes by orjson, reservations as the API shows them, problem+json."""

from __future__ import annotations

from typing import Any, Sequence

import orjson
from fastapi import Response

from allocator.bundles import kit_views
from allocator.errors import AllocatorError
from api.problems import problem_body, problem_response
from service.orders import Outcome
from service.reservation import Reservation


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> Response:
    return Response(orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY), status,
                    headers=headers, media_type="application/json")


def reservation_json(res: Reservation) -> dict[str, Any]:
    """As the API shows it: lines with their own state when the shards were read (a
    GET, an amendment, a cancel), else in the reservation's state."""
    if res.line_states is None:
        lines = [{"sku": s, "warehouse": w, "qty": q} for s, w, q in res.lines]
    else:
        lines = [{k: v for k, v in x.items() if v or k in ("qty", "state")}
                 for x in res.line_states]
    out = {"id": res.id, "state": res.state.value, "lines": lines,
           "created_ms": res.created_ms, "expires_ms": res.expires_ms, "plan": res.plan}
    if res.version:
        out["version"] = res.version
    if res.review:
        out["review"] = res.review
    if res.channel:
        out["channel"] = res.channel
    if res.brand:
        out["brand"] = res.brand
    if res.kits:
        states = res.line_states if res.line_states is not None else [
            {"sku": s, "warehouse": w, "qty": q, "state": res.state.value}
            for s, w, q in res.lines]
        out["bundles"] = kit_views(res.kits, states, res.state.value)
    if res.exchange_of:
        out["exchange_of"] = res.exchange_of
    if res.exchanges:
        out["exchanges"] = res.exchanges
    return out


def batch_json(result: Any, keys: Sequence[str | None], sku_ids: Sequence[str],
               warehouses: Sequence[str]) -> dict[str, Any]:
    """The batch endpoint's answer: per order its reservation or its problem."""
    items = []
    for i, v in enumerate(result.entries(sku_ids, warehouses)):
        item: dict[str, Any] = {"index": i, "key": keys[i]}
        if isinstance(v, Reservation):
            item.update(status="reserved", reservation=reservation_json(v))
        else:
            _, problem = problem_body(v.code, v.message, **v.details)
            item.update(status="failed", problem=problem)
        items.append(item)
    ok = sum(x["status"] == "reserved" for x in items)
    return {"reserved": ok, "failed": len(items) - ok, "results": items}


def outcome_response(outcome: Outcome, status: int, instance: str) -> Response:
    """A use case's outcome: its value as JSON (``status``) or its error as a problem;
    a replayed first answer says so in ``Idempotent-Replayed``."""
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    if outcome.error is not None:
        return error_response(outcome.error, instance, headers)
    value = outcome.value
    if isinstance(value, Reservation):
        value = reservation_json(value)
    return json_response(value, status, headers)


def error_response(exc: AllocatorError, instance: str,
                   headers: dict[str, str] | None = None) -> Response:
    return problem_response(exc.code, exc.message, instance, headers=headers, **exc.details)
