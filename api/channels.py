"""Sales-channel endpoints: the rules ops set per (SKU, channel) and what a channel can
still sell of a SKU."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response

from allocator.errors import InvalidRequest
from api.dependencies import authorize, body, charge, services
from api.models import NAME_PATTERN
from api.models_channels import ChannelInventoryOut, ChannelRulesIn, SkuChannelRulesOut
from api.render import json_response
from api.spec import body as body_spec
from api.spec import problems_for
from service.channels import RuleSpec

router = APIRouter(prefix="/v1/channels", tags=["channels"])
_NAME = re.compile(NAME_PATTERN)


@router.put("/rules", response_model=list[SkuChannelRulesOut],
            openapi_extra=body_spec(ChannelRulesIn),
            responses=problems_for(401, 403, 422, 429, 503),
            summary="Set channel buffers and caps per SKU (all or none)")
async def set_rules(request: Request) -> Response:
    key = await authorize(request, "ops", 0)
    b = await body(request, ChannelRulesIn)
    await charge(request, key, max(1.0, len(b.rules) / 10))
    specs = [RuleSpec(r.sku, r.channel, r.buffer, r.buffer_share, r.cap, r.cap_share)
             for r in b.rules]
    return json_response(await services(request).channels.set_rules(specs))


@router.get("/rules/{sku}", response_model=SkuChannelRulesOut,
            responses=problems_for(401, 403, 422, 429, 503),
            summary="A SKU's channel rules, with each channel's live units")
async def rules(sku: str, request: Request) -> Response:
    await authorize(request, "ops")
    return json_response(await services(request).channels.rules(sku))


@router.get("/{channel}/inventory/{sku}", response_model=ChannelInventoryOut,
            responses=problems_for(401, 403, 422, 429, 503),
            summary="What a sales channel can still sell of a SKU, per warehouse")
async def inventory(channel: str, sku: str, request: Request) -> Response:
    await authorize(request, "read")
    if not _NAME.match(channel):
        raise InvalidRequest("channel: 1 to 40 letters, digits, '.', '_' or '-'",
                             channel=channel[:64])
    return json_response(await services(request).channels.inventory(sku, channel))
