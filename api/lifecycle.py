"""A reservation's life after it is placed: amend (PATCH), cancel lines, reallocate."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.checkout import valid_reservation_id
from api.dependencies import authorize, body, caller, fingerprint, idempotency_key, services
from api.models import (AmendIn, LinesCancelIn, ReallocateIn, ReallocationOut,
                        ReservationOut)
from api.render import json_response, outcome_response, reservation_json
from api.spec import body as body_spec
from api.spec import problems_for
from service.lifecycle import Amendment

router = APIRouter(prefix="/v1", tags=["lifecycle"])


@router.patch("/reservations/{reservation_id}", response_model=ReservationOut,
              openapi_extra=body_spec(AmendIn, idempotent=True),
              responses=problems_for(400, 401, 403, 404, 409, 410, 422, 429, 503),
              summary="Amend a pending reservation: quantities, lines added or removed, "
                      "atomically")
async def amend(reservation_id: str, request: Request) -> Response:
    return await _change(reservation_id, request, AmendIn)


@router.post("/reservations/{reservation_id}/lines/cancel", response_model=ReservationOut,
             openapi_extra=body_spec(LinesCancelIn, idempotent=True),
             responses=problems_for(400, 401, 403, 404, 409, 410, 422, 429, 503),
             summary="Take lines (or units of them) off: released if pending, cancelled "
                     "if committed")
async def cancel_lines(reservation_id: str, request: Request) -> Response:
    return await _change(reservation_id, request, LinesCancelIn)


async def _change(reservation_id: str, request: Request,
                  model: type[AmendIn] | type[LinesCancelIn]) -> Response:
    """A buyer's idempotent change of a reservation: an amendment or cancelled lines."""
    key = await authorize(request, "checkout")
    idem = idempotency_key(request)
    parsed = await body(request, model)
    rid, checkout = valid_reservation_id(reservation_id), services(request).checkout
    if isinstance(parsed, AmendIn):
        change = Amendment(tuple((l.sku, l.warehouse, l.qty) for l in parsed.lines),
                           parsed.destination)
        outcome = await checkout.amend(rid, caller(key), change, idem,
                                       fingerprint(request, parsed))
    else:
        outcome = await checkout.drop_lines(
            rid, key.name, [(l.sku, l.warehouse, l.qty) for l in parsed.lines], idem,
            fingerprint(request, parsed), caller(key))
    return outcome_response(outcome, 200, request.scope["path"])


@router.post("/reservations/{reservation_id}/reallocate", response_model=ReallocationOut,
             openapi_extra=body_spec(ReallocateIn),
             responses=problems_for(401, 403, 404, 409, 410, 422, 429, 503),
             summary="Ops: move a committed line from a warehouse that cannot ship to the "
                     "best alternative (committed there before it leaves the old one)")
async def reallocate(reservation_id: str, request: Request) -> Response:
    await authorize(request, "ops")
    r = await body(request, ReallocateIn)
    out = await services(request).checkout.reallocate(
        valid_reservation_id(reservation_id), r.sku, r.warehouse, r.destination,
        r.promise_days)
    out["reservation"] = reservation_json(out["reservation"])
    return json_response(out)
