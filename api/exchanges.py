"""Exchanges: return a shipped line and reserve its replacement in one request."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.checkout import valid_reservation_id
from api.dependencies import authorize, body, caller, fingerprint, idempotency_key, services
from api.kit_models import ExchangeIn
from api.models import ReservationOut
from api.render import outcome_response
from api.spec import body as body_spec
from api.spec import problems_for
from service.exchanges import Exchange

router = APIRouter(prefix="/v1", tags=["lifecycle"])


@router.post("/reservations/{reservation_id}/exchanges", status_code=201,
             response_model=ReservationOut,
             openapi_extra=body_spec(ExchangeIn, idempotent=True),
             responses=problems_for(400, 401, 403, 404, 409, 422, 423, 429, 503),
             summary="Return units of a shipped line and reserve their replacement, "
                     "all-or-nothing (answers the replacement reservation)")
async def exchange(reservation_id: str, request: Request) -> Response:
    key = await authorize(request, "checkout")
    idem = idempotency_key(request)
    e = await body(request, ExchangeIn)
    r = e.replacement
    ttl_ms = None if e.ttl_s is None else max(1, round(e.ttl_s * 1000))
    outcome = await services(request).exchanges.exchange(
        valid_reservation_id(reservation_id), caller(key),
        Exchange(e.sku, e.warehouse, e.qty, (r.sku, r.warehouse, r.qty), e.destination,
                 e.reason, ttl_ms), idem, fingerprint(request, e))
    return outcome_response(outcome, 201, request.scope["path"])
