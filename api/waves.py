"""``POST /v1/allocations/wave``: plan many routed orders jointly (most filled, then
least cost), hold each all-or-nothing, and explain each against greedy."""

from __future__ import annotations

from collections import Counter

from fastapi import APIRouter, Request, Response

from allocator.errors import InvalidRequest
from api import cost
from api.checkout import _within_batch_limit, hold_request
from api.dependencies import (authorize, body, caller, charge, fingerprint, idempotency_key,
                              services)
from api.models import WaveIn, WaveOut
from api.render import batch_json, outcome_response
from api.spec import body as body_spec
from api.spec import problems_for
from service.orders import HoldRequest

router = APIRouter(prefix="/v1", tags=["checkout"])


@router.post("/allocations/wave", response_model=WaveOut,
             openapi_extra=body_spec(WaveIn, idempotent=True),
             responses=problems_for(400, 401, 403, 409, 413, 422, 429, 503),
             summary="Allocate a wave of routed orders jointly and hold each all-or-nothing")
async def allocate_wave(request: Request) -> Response:
    key = await authorize(request, "checkout", 0)
    idem = idempotency_key(request)  # before any work is charged
    w = await body(request, WaveIn)
    _within_batch_limit(request, "orders", len(w.orders))
    repeated = [k for k, n in Counter(o.key for o in w.orders if o.key).items() if n > 1]
    if repeated:
        raise InvalidRequest(f"orders: key {repeated[0]!r} appears more than once; keys "
                             "label orders and must be unique within a wave", key=repeated[0])
    await charge(request, key, cost.of_wave(w))
    requests: list[HoldRequest | Exception] = []
    for o in w.orders:
        try:
            if o.pre_routed:
                raise InvalidRequest("lines: a wave routes its orders; a line may not name "
                                     "a warehouse (use /v1/reservations/batch)")
            requests.append(hold_request(o, w.ttl_s))
        except InvalidRequest as exc:
            requests.append(exc)
    svc = services(request)
    assert svc.waves is not None
    outcome = await svc.waves.allocate(requests, caller(key), idem, fingerprint(request, w),
                                       w.budget_ms / 1000, w.split_lines)
    if outcome.error is None:
        result = outcome.value
        out = batch_json(result, [o.key for o in w.orders], svc.client.sku_ids,
                         svc.client.warehouses)
        extra = result.extra or {}
        for item, why in zip(out["results"], extra.get("orders", [])):
            item["allocation"] = why
        outcome.value = {"reserved": out["reserved"], "failed": out["failed"],
                         "wave": extra.get("summary"), "results": out["results"]}
    return outcome_response(outcome, 200, request.scope["path"])
