"""Reconciliation with the warehouse system: the webhook a WMS pushes counts to (and
``allocator reconcile`` posts them to)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.dependencies import authorize, body, charge, services
from api.models import Strict
from api.render import json_response
from api.spec import body as body_spec
from api.spec import problems_for
from service.reconcile import WmsCount

router = APIRouter(prefix="/v1", tags=["inventory"])


class WmsCountIn(Strict):
    sku: str = Field(min_length=1, max_length=128)
    warehouse: str = Field(min_length=1, max_length=64)
    on_hand: int = Field(ge=0, le=1_000_000_000)
    in_transit: int | None = Field(default=None, ge=0, le=1_000_000_000,
                                   description="units shipped, not yet confirmed to the "
                                               "allocator (default: any committed unit)")


class ReconcileIn(Strict):
    counts: list[WmsCountIn] = Field(min_length=1, max_length=10_000)
    accept_increases: bool = Field(default=False, description="also correct phantom stock "
                                   "(WMS above the ledger) upwards")
    dry_run: bool = Field(default=False, description="classify only: change nothing")


class ReconcileOut(BaseModel):
    run_id: str
    at_ms: int
    version: int
    dry_run: bool
    accept_increases: bool
    summary: dict[str, int]
    findings: list[dict[str, Any]]


@router.post("/inventory/reconcile", response_model=ReconcileOut,
             openapi_extra=body_spec(ReconcileIn),
             responses=problems_for(401, 403, 404, 413, 422, 429, 503),
             summary="WMS counts in: classify each difference, apply the safe corrections")
async def reconcile(request: Request) -> Response:
    """Every count is compared with the ledger: ``match``, ``in_flight_shipment`` (left
    alone), ``unexplained_shrinkage`` (corrected down by a versioned sync) or
    ``phantom_stock`` (corrected up only with ``accept_increases``); each difference is
    published as a ``drift`` event with its cause."""
    key = await authorize(request, "ops", 0)
    b = await body(request, ReconcileIn)
    await charge(request, key, max(1.0, len(b.counts) / 10))
    report = await services(request).reconciler.run(
        [WmsCount(c.sku, c.warehouse, c.on_hand, c.in_transit) for c in b.counts],
        accept_increases=b.accept_increases, dry_run=b.dry_run)
    return json_response(report)
