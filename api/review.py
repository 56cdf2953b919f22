"""Ops decide on reservations held for review: approve (a commit may follow) or reject
(the units are released)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.checkout import valid_reservation_id
from api.dependencies import authorize, services
from api.models import ReservationOut
from api.render import json_response, reservation_json
from api.spec import problems_for

router = APIRouter(prefix="/v1", tags=["review"])


async def _decide(request: Request, reservation_id: str, approve: bool) -> Response:
    key = await authorize(request, "ops")
    res = await services(request).checkout.decide_review(
        valid_reservation_id(reservation_id), approve, key.name)
    return json_response(reservation_json(res))


@router.post("/reservations/{reservation_id}/approve", response_model=ReservationOut,
             responses=problems_for(401, 403, 404, 409, 422, 429, 503),
             summary="Ops: approve a reservation held for review (the first decision stands)")
async def approve(reservation_id: str, request: Request) -> Response:
    return await _decide(request, reservation_id, True)


@router.post("/reservations/{reservation_id}/reject", response_model=ReservationOut,
             responses=problems_for(401, 403, 404, 409, 422, 429, 503),
             summary="Ops: reject a reservation held for review; its units are released")
async def reject(reservation_id: str, request: Request) -> Response:
    return await _decide(request, reservation_id, False)
