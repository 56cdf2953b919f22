"""Inventory endpoints: stock per warehouse, warehouse syncs, movements."""

from __future__ import annotations

from typing import Union

from fastapi import APIRouter, Request, Response

from allocator.errors import StaleVersion
from api.dependencies import authorize, body, charge, fingerprint, idempotency_key, services
from api.kit_models import BundleInventoryOut
from api.models import (InventoryOut, MovementsIn, MovementsOut, ShipMovement, SyncIn,
                        SyncOut)
from api.render import json_response, outcome_response
from api.spec import body as body_spec
from api.spec import problems_for
from service.inventory import Count, Movement

router = APIRouter(prefix="/v1", tags=["inventory"])
CELL_FIELDS = ("on_hand", "held", "committed", "available", "version")


@router.get("/inventory/{sku}", response_model=Union[InventoryOut, BundleInventoryOut],
            responses=problems_for(401, 403, 422, 429, 503),
            summary="On hand, held, committed and available per warehouse (a bundle: "
                    "whole kits available, from its components)")
async def inventory(sku: str, request: Request) -> Response:
    await authorize(request, "read")
    svc = services(request)
    bundle = await svc.checkout.bundles.get(sku) if sku not in svc.client.sku_index else None
    if bundle is not None:
        return json_response(await svc.inventory.kit_stock(bundle))
    rows = await svc.inventory.stock(sku)
    totals = {f: sum(r[f] for r in rows.values()) for f in CELL_FIELDS}
    totals["version"] = max((r["version"] for r in rows.values()), default=0)
    return json_response({"sku": sku, "warehouses": rows, "totals": totals})


@router.put("/inventory", response_model=SyncOut, openapi_extra=body_spec(SyncIn),
            responses=problems_for(401, 403, 409, 422, 429, 503),
            summary="Warehouse sync: absolute on-hand counts with a version")
async def sync(request: Request) -> Response:
    """Each count applies if its version is newer than the last applied for that SKU at
    that warehouse. If every count is stale the answer is 409; otherwise 200 with a
    per-count status. A count below held + committed is recorded as drift."""
    key = await authorize(request, "ops", 0)
    b = await body(request, SyncIn)
    await charge(request, key, max(1.0, len(b.counts) / 10))
    results = await services(request).inventory.sync(
        [Count(c.sku, c.warehouse, c.on_hand, c.version) for c in b.counts])
    stale = sum(r["status"] == "stale" for r in results)
    if stale == len(results):
        first = results[0]
        raise StaleVersion(f"version {first['version']} of {first['sku']} at "
                           f"{first['warehouse']} is not newer than {first['current_version']}",
                           results=results)
    return json_response({"applied": len(results) - stale, "stale": stale, "results": results})


@router.post("/inventory/movements", response_model=MovementsOut,
             openapi_extra=body_spec(MovementsIn, idempotent=True),
             responses=problems_for(400, 401, 403, 404, 409, 422, 429, 503),
             summary="Ship committed reservations, restock or return units (all or none)")
async def movements(request: Request) -> Response:
    key = await authorize(request, "ops", 0)
    idem = idempotency_key(request)  # before any work is charged
    b = await body(request, MovementsIn)
    await charge(request, key, max(1.0, len(b.movements) / 10))
    moves = [Movement("ship", reservation_id=m.reservation_id) if isinstance(m, ShipMovement)
             else Movement(m.type, sku=m.sku, warehouse=m.warehouse, qty=m.qty)
             for m in b.movements]
    outcome = await services(request).inventory.movements(moves, key.name, idem,
                                                          fingerprint(request, b))
    return outcome_response(outcome, 200, request.scope["path"])
