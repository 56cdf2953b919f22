"""Checkout endpoints: route, reserve (single and batch), commit, release, get."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from actors.reservations import Reservation
from allocator.errors import AllocatorError
from api.auth import require
from api.models import (BatchIn, BatchItemOut, BatchOut, OrderIn, PlanOut, ReservationOut,
                        ReserveIn)
from api.problems import Problem, problem_body
from api.service import Service, pre_routed_lines
from api.settings import ApiKey
from api.spec import problems_for

router = APIRouter(prefix="/v1", tags=["checkout"])
IDEMPOTENCY_HEADER = Header(
    default=None, alias="Idempotency-Key", min_length=1, max_length=255,
    description="Required. A unique key per logical request (e.g. a UUID); a retry with "
                "the same key and body gets the first response back.")


def service(request: Request) -> Service:
    return request.app.state.service


def reservation_out(res: Reservation) -> dict[str, Any]:
    return ReservationOut(id=res.id, state=res.state,  # type: ignore[arg-type]
                          lines=[{"sku": s, "warehouse": w, "qty": q} for s, w, q in res.lines],
                          created_ms=res.created_ms, expires_ms=res.expires_ms,
                          plan=res.plan).model_dump()


def idempotent(request: Request, key: str | None, owner: ApiKey, body: Any,
               run: Callable[[], tuple[int, Any]]) -> JSONResponse:
    """Run ``run`` once per (key owner, Idempotency-Key); replay its response after."""
    store = request.app.state.idempotency
    key = store.check_key(key)
    fp = store.fingerprint(request.method, request.url.path, body)
    stored = store.begin(owner.name, key, fp)
    if stored is not None:
        return _response(stored.status, stored.body, {"Idempotent-Replayed": "true"})
    try:
        status, out = run()
    except AllocatorError as exc:
        status, out = problem_body(exc.code, exc.message, request.url.path, **exc.details)
    except BaseException:
        store.finish(owner.name, key, fp, 500, None)
        raise
    store.finish(owner.name, key, fp, status, out)
    return _response(status, out)


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    headers = dict(headers or {})
    media = "application/json"
    if isinstance(body, dict) and str(body.get("type", "")).startswith("/problems/"):
        media = "application/problem+json"
        if "retry_after_s" in body:
            headers["Retry-After"] = str(max(1, round(float(body["retry_after_s"]) + 0.499)))
    return JSONResponse(body, status_code=status, media_type=media, headers=headers)


@router.post("/route", response_model=PlanOut, responses=problems_for(401, 403, 422, 429, 503),
             summary="Quote a plan: who ships what, at what cost, arriving when (nothing held)")
def route(body: OrderIn, svc: Service = Depends(service),
          key: ApiKey = Depends(require("checkout"))) -> dict[str, Any]:
    return svc.quote(body).to_dict()


@router.post("/reservations", status_code=201, response_model=ReservationOut,
             responses=problems_for(400, 401, 403, 409, 422, 423, 429, 503),
             summary="Route and hold an order, all-or-nothing")
def reserve(request: Request, body: ReserveIn, svc: Service = Depends(service),
            key: ApiKey = Depends(require("checkout")),
            idempotency_key: str | None = IDEMPOTENCY_HEADER) -> JSONResponse:
    def run() -> tuple[int, Any]:
        return 201, reservation_out(svc.reserve(body, idempotency_key or "", key.name))
    return idempotent(request, idempotency_key, key, body.model_dump(mode="json"), run)


@router.post("/reservations/batch", response_model=BatchOut,
             responses=problems_for(400, 401, 403, 409, 413, 422, 429, 503),
             summary="Reserve many orders in one request (each all-or-nothing on its own)")
def reserve_batch(request: Request, body: BatchIn, svc: Service = Depends(service),
                  key: ApiKey = Depends(require("checkout")),
                  idempotency_key: str | None = IDEMPOTENCY_HEADER) -> JSONResponse:
    limit = request.app.state.settings.max_orders_per_batch
    if len(body.orders) > limit:
        raise Problem("invalid_request", f"orders: at most {limit} orders per batch, got "
                      f"{len(body.orders)}", max_orders=limit)

    def run() -> tuple[int, Any]:
        return 200, _batch(request, svc, body, f"{idempotency_key}", key).model_dump()
    return idempotent(request, idempotency_key, key, body.model_dump(mode="json"), run)


def _batch(request: Request, svc: Service, body: BatchIn, batch_key: str, key: ApiKey
           ) -> BatchOut:
    """Single-line pre-routed orders go through the bulk path; the rest are routed
    and reserved concurrently (the client batches their holds per shard)."""
    n = len(body.orders)
    results: list[Reservation | AllocatorError | None] = [None] * n
    order_key = [f"{batch_key}:{o.key or i}" for i, o in enumerate(body.orders)]
    for i, o in enumerate(body.orders):
        if o.ttl_s is None and body.ttl_s is not None:
            o.ttl_s = body.ttl_s
    blocked = svc.kill.state()
    bulk = []
    rest = []
    for i, o in enumerate(body.orders):
        if blocked["global"] or set(blocked["skus"]) & {line.sku for line in o.lines}:
            results[i] = Problem("kill_switch", "reservations are switched off for this order")
        elif o.pre_routed and len(o.lines) == 1:
            bulk.append(i)
        else:
            rest.append(i)
    by_ttl: dict[float | None, list[int]] = {}
    for i in bulk:
        by_ttl.setdefault(body.orders[i].ttl_s, []).append(i)
    for ttl, idx in by_ttl.items():
        items = []
        for i in idx:
            try:
                ((sku, wh, qty),) = pre_routed_lines(body.orders[i])
            except AllocatorError as exc:
                results[i] = exc
                continue
            items.append((i, (order_key[i], sku, wh, qty)))
        got = svc.reservations.hold_many([it for _, it in items], key.name,
                                         None if ttl is None else int(ttl * 1000))
        for (i, _), res in zip(items, got):
            results[i] = res

    def one(i: int) -> Reservation | AllocatorError:
        try:
            return svc.reserve(body.orders[i], order_key[i], key.name, check_kill=False)
        except AllocatorError as exc:
            return exc
    if rest:
        with ThreadPoolExecutor(min(32, len(rest))) as pool:
            for i, res in zip(rest, pool.map(one, rest)):
                results[i] = res
    items_out = []
    for i, res in enumerate(results):
        if isinstance(res, Reservation):
            items_out.append(BatchItemOut(index=i, status="reserved",
                                          reservation=reservation_out(res)))
        else:
            assert isinstance(res, AllocatorError)
            _, problem = problem_body(res.code, res.message, **res.details)
            items_out.append(BatchItemOut(index=i, status="failed", problem=problem))
    ok = sum(r.status == "reserved" for r in items_out)
    return BatchOut(reserved=ok, failed=n - ok, results=items_out)


@router.post("/reservations/{reservation_id}/commit", response_model=ReservationOut,
             responses=problems_for(401, 403, 404, 409, 410, 422, 429, 503),
             summary="Payment captured: commit every hold of the reservation")
def commit(reservation_id: str, svc: Service = Depends(service),
           key: ApiKey = Depends(require("checkout"))) -> dict[str, Any]:
    return reservation_out(svc.reservations.commit(reservation_id, key.name))


@router.post("/reservations/{reservation_id}/release", response_model=ReservationOut,
             responses=problems_for(401, 403, 404, 409, 422, 429, 503),
             summary="Cart abandoned: release every hold (idempotent)")
def release(reservation_id: str, svc: Service = Depends(service),
            key: ApiKey = Depends(require("checkout"))) -> dict[str, Any]:
    return reservation_out(svc.reservations.release(reservation_id, key.name))


@router.get("/reservations/{reservation_id}", response_model=ReservationOut,
            responses=problems_for(401, 403, 404, 422, 429, 503), summary="A reservation's state")
def get_reservation(reservation_id: str, svc: Service = Depends(service),
                    key: ApiKey = Depends(require("checkout"))) -> dict[str, Any]:
    return reservation_out(svc.reservations.get(reservation_id, key.name))
