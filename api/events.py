"""A reservation's events, as a storefront polls them."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.checkout import valid_reservation_id
from api.dependencies import authorize, services
from api.render import json_response
from api.spec import problems_for

router = APIRouter(prefix="/v1", tags=["checkout"])


class EventOut(BaseModel):
    type: str
    at_ms: int
    shard: str
    hold_id: int
    event_id: str
    lines: str | None = None
    exchange_id: str | None = Field(default=None, description="exchange_returned: the "
                                    "replacement reservation")
    exchange_of: str | None = Field(default=None, description="exchange_reserved: the "
                                    "reservation whose shipped line it replaces")
    sku: str | None = None
    warehouse: str | None = None
    qty: str | None = None


class ReservationEventsOut(BaseModel):
    reservation_id: str
    state: Literal["pending", "committed", "released", "expired", "shipped"]
    events: list[EventOut]
    complete: bool
    scanned: int


@router.get("/reservations/{reservation_id}/events", response_model=ReservationEventsOut,
            responses=problems_for(401, 403, 404, 422, 429, 503),
            summary="The reservation's events (reserved, committed, released, …), oldest first")
async def reservation_events(reservation_id: str, request: Request) -> Response:
    key = await authorize(request, "checkout")
    timeline = services(request).timeline
    return json_response(await timeline.events(valid_reservation_id(reservation_id), key.name))
