"""Ops and admin endpoints: inventory reads, syncs, movements, hot SKUs, shards,
kill switch."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.auth import require
from api.checkout import IDEMPOTENCY_HEADER, idempotent, service
from api.models import (HotOut, InventoryOut, KillSwitchIn, KillSwitchOut, MovementsIn,
                        MovementsOut, PinIn, ShardOut, ShipMovement, StockMovement, SyncIn,
                        SyncOut)
from api.problems import Problem
from api.service import Service
from api.settings import ApiKey
from api.spec import problems_for

router = APIRouter(prefix="/v1")
FIELDS = ("on_hand", "held", "committed", "available", "version")


@router.get("/inventory/{sku}", response_model=InventoryOut, tags=["inventory"],
            responses=problems_for(401, 403, 422, 429, 503),
            summary="On hand, held, committed and available per warehouse")
def inventory(sku: str, svc: Service = Depends(service),
              key: ApiKey = Depends(require("read"))) -> dict[str, Any]:
    rows = svc.inventory.stock(sku)
    totals = {f: sum(r[f] for r in rows.values()) for f in FIELDS}
    totals["version"] = max((r["version"] for r in rows.values()), default=0)
    return {"sku": sku, "warehouses": rows, "totals": totals}


@router.put("/inventory", response_model=SyncOut, tags=["inventory"],
            responses=problems_for(401, 403, 409, 422, 429, 503),
            summary="Warehouse sync: absolute on-hand counts with a version")
def sync(request: Request, body: SyncIn, svc: Service = Depends(service),
         key: ApiKey = Depends(require("ops"))) -> JSONResponse:
    """Each count applies if its version is newer than the last applied for that SKU at
    that warehouse. If every count is stale the answer is 409; otherwise 200 with a
    per-count status. A count below held + committed is recorded as drift."""
    counts = [c.model_dump() for c in body.counts]
    results = svc.inventory.sync(counts)
    stale = sum(r["status"] == "stale" for r in results)
    if stale == len(results):
        first = results[0]
        raise Problem("stale_version", f"version {first['version']} of {first['sku']} at "
                      f"{first['warehouse']} is not newer than {first['current_version']}",
                      results=results)
    return JSONResponse({"applied": len(results) - stale, "stale": stale, "results": results})


@router.post("/inventory/movements", response_model=MovementsOut, tags=["inventory"],
             responses=problems_for(400, 401, 403, 404, 409, 422, 429, 503),
             summary="Ship a committed reservation, restock or return units")
def movements(request: Request, body: MovementsIn, svc: Service = Depends(service),
              key: ApiKey = Depends(require("ops")),
              idempotency_key: str | None = IDEMPOTENCY_HEADER) -> JSONResponse:
    for m in body.movements:  # all validated before any applies
        if isinstance(m, StockMovement):
            svc.catalog.sku(m.sku)
            svc.catalog.warehouse(m.warehouse)

    def run() -> tuple[int, Any]:
        for i, m in enumerate(body.movements):
            if isinstance(m, ShipMovement):
                svc.reservations.ship(m.reservation_id)
            else:
                svc.inventory.move(m.type, m.sku, m.warehouse, m.qty,
                                   f"{key.name}:{idempotency_key}:{i}")
        return 200, {"applied": len(body.movements)}
    return idempotent(request, idempotency_key, key, body.model_dump(mode="json"), run)


@router.get("/admin/hot-skus", response_model=HotOut, tags=["admin"],
            responses=problems_for(401, 403, 429, 503), summary="Hot SKUs and their actors")
def hot_skus(svc: Service = Depends(service),
             key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    return svc.hot()


@router.post("/admin/hot-skus", response_model=HotOut, tags=["admin"],
             responses=problems_for(401, 403, 422, 429, 503),
             summary="Pin SKUs as hot: each moves to its own actor now, without stopping")
def pin(body: PinIn, svc: Service = Depends(service),
        key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    return svc.pin(body.skus)


@router.get("/admin/shards", response_model=list[ShardOut], tags=["admin"],
            responses=problems_for(401, 403, 429, 503), summary="Shards with their load")
def shards(svc: Service = Depends(service),
           key: ApiKey = Depends(require("admin"))) -> list[dict[str, Any]]:
    return svc.shards()


@router.get("/admin/kill-switch", response_model=KillSwitchOut, tags=["admin"],
            responses=problems_for(401, 403, 429, 503), summary="What is switched off")
def kill_switch(svc: Service = Depends(service),
                key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    return svc.kill.state()


@router.put("/admin/kill-switch", response_model=KillSwitchOut, tags=["admin"],
            responses=problems_for(401, 403, 422, 429, 503),
            summary="Stop (or resume) new reservations, globally or for some SKUs")
def set_kill_switch(body: KillSwitchIn, svc: Service = Depends(service),
                    key: ApiKey = Depends(require("admin"))) -> dict[str, Any]:
    for sku in body.skus:
        svc.catalog.sku(sku)
    return svc.kill.set(body.on, body.skus)
