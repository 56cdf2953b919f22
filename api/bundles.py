"""Bundle (kit) endpoints: define, list, read and delete bundles of catalog SKUs."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from allocator.bundles import Bundle
from api.dependencies import authorize, body, services
from api.kit_models import BundleIn, BundleOut, BundlesOut
from api.render import json_response
from api.spec import body as body_spec
from api.spec import problems_for

router = APIRouter(prefix="/v1/catalog", tags=["bundles"])


@router.put("/bundles/{sku}", response_model=BundleOut, openapi_extra=body_spec(BundleIn),
            responses=problems_for(401, 403, 422, 429, 503),
            summary="Ops: define (or redefine) a bundle SKU as components × units per kit")
async def define(sku: str, request: Request) -> Response:
    await authorize(request, "ops")
    b = await body(request, BundleIn)
    bundle = Bundle(sku, tuple((c.sku, c.qty) for c in b.components), b.name or "")
    return json_response((await services(request).checkout.bundles.define(bundle)).to_dict())


@router.get("/bundles", response_model=BundlesOut,
            responses=problems_for(401, 403, 429, 503), summary="Every bundle")
async def list_bundles(request: Request) -> Response:
    await authorize(request, "read")
    found = await services(request).checkout.bundles.all()
    return json_response({"bundles": [b.to_dict() for _, b in sorted(found.items())]})


@router.get("/bundles/{sku}", response_model=BundleOut,
            responses=problems_for(401, 403, 422, 429, 503), summary="A bundle")
async def get_bundle(sku: str, request: Request) -> Response:
    await authorize(request, "read")
    return json_response((await services(request).checkout.bundles.require(sku)).to_dict())


@router.delete("/bundles/{sku}", status_code=204,
               responses=problems_for(401, 403, 422, 429, 503),
               summary="Ops: delete a bundle (reservations made keep their kits)")
async def delete_bundle(sku: str, request: Request) -> Response:
    await authorize(request, "ops")
    await services(request).checkout.bundles.delete(sku)
    return Response(status_code=204)
