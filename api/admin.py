"""Admin endpoints: hot SKUs, shards, the kill switch."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.dependencies import authorize, body, services
from api.models import HotOut, KillSwitchIn, KillSwitchOut, PinIn, ShardOut
from api.render import json_response
from api.spec import body as body_spec
from api.spec import problems_for

router = APIRouter(prefix="/v1/admin", tags=["admin"])


@router.get("/hot-skus", response_model=HotOut, responses=problems_for(401, 403, 429, 503),
            summary="Hot SKUs and their actors")
async def hot_skus(request: Request) -> Response:
    await authorize(request, "admin")
    return json_response(await services(request).admin.hot())


@router.post("/hot-skus", response_model=HotOut, openapi_extra=body_spec(PinIn),
             responses=problems_for(401, 403, 422, 429, 503),
             summary="Pin SKUs as hot: each moves to its own actor now, without stopping")
async def pin(request: Request) -> Response:
    await authorize(request, "admin")
    b = await body(request, PinIn)
    return json_response(await services(request).admin.pin(b.skus))


@router.get("/shards", response_model=list[ShardOut],
            responses=problems_for(401, 403, 429, 503), summary="Shards with their load")
async def shards(request: Request) -> Response:
    await authorize(request, "admin")
    return json_response(await services(request).admin.shards())


@router.get("/kill-switch", response_model=KillSwitchOut,
            responses=problems_for(401, 403, 429, 503), summary="What is switched off")
async def kill_switch(request: Request) -> Response:
    await authorize(request, "admin")
    return json_response(services(request).kill.state())


@router.put("/kill-switch", response_model=KillSwitchOut, openapi_extra=body_spec(KillSwitchIn),
            responses=problems_for(401, 403, 422, 429, 503),
            summary="Stop (or resume) new reservations, globally or for some SKUs, sales "
                    "channels or brands")
async def set_kill_switch(request: Request) -> Response:
    await authorize(request, "admin")
    b = await body(request, KillSwitchIn)
    return json_response(await services(request).admin.set_kill_switch(
        b.on, b.skus, b.channels, b.brands))
