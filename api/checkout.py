"""Checkout endpoints: route, reserve (single, batch, bulk columns), commit, release, get.

Every handler is ``async``: nothing leaves the event loop. Bodies are validated from
their bytes by pydantic-core (the OpenAPI schema is declared with
:func:`api.spec.body`), the use case runs in :mod:`service.checkout`, and the answer
is written by orjson.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from allocator.errors import InvalidRequest
from api import cost
from api.dependencies import (authorize, body, caller, charge, fingerprint, idempotency_key,
                              services)
from api.models import (BatchIn, BatchOut, BulkIn, BulkOut, OrderIn, PlanOut, ReservationOut,
                        ReserveIn)
from api.render import batch_json, json_response, outcome_response, reservation_json
from api.spec import body as body_spec
from api.spec import problems_for
from routing import Order, OrderLine
from service.orders import HoldRequest

router = APIRouter(prefix="/v1", tags=["checkout"])
MAX_ID = 80


def order_of(o: OrderIn) -> Order:
    """The routing order for a request body (validated again by :class:`Order`)."""
    if o.destination is None:
        raise InvalidRequest("destination: a pincode is needed to route the order")
    return Order(lines=tuple(OrderLine(l.sku, l.qty) for l in o.lines),
                 destination=o.destination, promise_days=o.promise_days,
                 hard_promise=o.hard_promise, max_shipments=o.max_shipments,
                 allow_substitutes=o.allow_substitutes, id=o.id or "",
                 split_lines=o.split_lines)


def hold_request(o: ReserveIn, ttl_s: float | None = None) -> HoldRequest:
    ttl = o.ttl_s if o.ttl_s is not None else ttl_s
    ttl_ms = None if ttl is None else max(1, round(ttl * 1000))
    if o.pre_routed:
        if not all(line.warehouse for line in o.lines):
            raise InvalidRequest("lines: either every line names a warehouse (pre-routed) "
                                 "or none")
        return HoldRequest(lines=tuple((l.sku, str(l.warehouse), l.qty) for l in o.lines),
                           ttl_ms=ttl_ms, customer=o.customer_id, **review_facts(o),
                           destination=o.destination, channel=o.channel, brand=o.brand)
    return HoldRequest(order=order_of(o), ttl_ms=ttl_ms, customer=o.customer_id,
                       **review_facts(o), channel=o.channel, brand=o.brand)


def review_facts(o: ReserveIn) -> dict[str, Any]:
    """What the review rules look at."""
    return {"value_inr": o.order_value_inr, "cod": o.payment == "cod", "review": o.review}


@router.post("/route", response_model=PlanOut, openapi_extra=body_spec(OrderIn),
             responses=problems_for(401, 403, 422, 429, 503),
             summary="Quote a plan: who ships what, at what cost, arriving when (nothing held)")
async def route(request: Request) -> Response:
    key = await authorize(request, "checkout", 0)
    o = await body(request, OrderIn)
    await charge(request, key, cost.of_order(o))
    return json_response(await services(request).checkout.route(order_of(o)))


@router.post("/reservations", status_code=201, response_model=ReservationOut,
             openapi_extra=body_spec(ReserveIn, idempotent=True),
             responses=problems_for(400, 401, 403, 409, 422, 423, 429, 503),
             summary="Route and hold an order, all-or-nothing")
async def reserve(request: Request) -> Response:
    key = await authorize(request, "checkout", 0)
    idem = idempotency_key(request)  # before any work is charged
    o = await body(request, ReserveIn)
    await charge(request, key, cost.of_order(o))
    outcome = await services(request).checkout.reserve(
        hold_request(o), caller(key), idem, fingerprint(request, o))
    return outcome_response(outcome, 201, request.scope["path"])


@router.post("/reservations/batch", response_model=BatchOut,
             openapi_extra=body_spec(BatchIn, idempotent=True),
             responses=problems_for(400, 401, 403, 409, 413, 422, 423, 429, 503),
             summary="Reserve many orders in one request (each all-or-nothing on its own)")
async def reserve_batch(request: Request) -> Response:
    key = await authorize(request, "checkout", 0)
    idem = idempotency_key(request)  # before any work is charged
    b = await body(request, BatchIn)
    _within_batch_limit(request, "orders", len(b.orders))
    labels = [o.key for o in b.orders if o.key is not None]
    if len(set(labels)) != len(labels):
        dup = next(k for k in labels if labels.count(k) > 1)
        raise InvalidRequest(f"orders: key {dup!r} appears more than once; keys label orders "
                             "and must be unique within a batch", key=dup)
    await charge(request, key, cost.of_batch(b))
    requests: list[HoldRequest | Exception] = []
    for o in b.orders:
        try:
            requests.append(hold_request(o, b.ttl_s))
        except InvalidRequest as exc:
            requests.append(exc)
    outcome = await services(request).batches.reserve_orders(
        requests, caller(key), idem, fingerprint(request, b))
    if outcome.error is None:
        client = services(request).client
        outcome.value = batch_json(outcome.value, [o.key for o in b.orders], client.sku_ids,
                                   client.warehouses)
    return outcome_response(outcome, 200, request.scope["path"])


@router.post("/reservations/bulk", response_model=BulkOut,
             openapi_extra=body_spec(BulkIn, idempotent=True),
             responses=problems_for(400, 401, 403, 409, 413, 422, 423, 429, 503),
             summary="Reserve single-line pre-routed orders given as columns (the fast path)")
async def reserve_bulk(request: Request) -> Response:
    key = await authorize(request, "checkout", 0)
    idem = idempotency_key(request)  # before any work is charged
    b = await body(request, BulkIn)
    n = len(b.skus)
    _within_batch_limit(request, "skus", n)
    if len(b.warehouses) != n or len(b.qty) != n:
        raise InvalidRequest(f"skus, warehouses and qty must have the same length "
                             f"({n}, {len(b.warehouses)}, {len(b.qty)})")
    await charge(request, key, cost.of_bulk(n))
    ttl_ms = None if b.ttl_s is None else max(1, round(b.ttl_s * 1000))
    outcome = await services(request).batches.reserve_columns(
        b.skus, b.warehouses, b.qty, ttl_ms, caller(key), idem, fingerprint(request, b))
    if outcome.error is None:
        outcome.value = outcome.value.columns_json()
    return outcome_response(outcome, 200, request.scope["path"])


def _within_batch_limit(request: Request, field: str, n: int) -> None:
    limit = request.app.state.settings.max_orders_per_batch
    if n > limit:
        raise InvalidRequest(f"{field}: at most {limit} orders per request, got {n}",
                             max_orders=limit)


def valid_reservation_id(reservation_id: str) -> str:
    """The path parameter, refused (422) when longer than any id the API hands out."""
    if len(reservation_id) > MAX_ID:
        raise InvalidRequest(f"reservation_id: at most {MAX_ID} characters")
    return reservation_id


@router.post("/reservations/{reservation_id}/commit", response_model=ReservationOut,
             responses=problems_for(401, 403, 404, 409, 410, 422, 429, 503),
             summary="Payment captured: commit every hold of the reservation")
async def commit(reservation_id: str, request: Request) -> Response:
    key = await authorize(request, "checkout")
    res = await services(request).checkout.commit(valid_reservation_id(reservation_id), key.name)
    return json_response(reservation_json(res))


@router.post("/reservations/{reservation_id}/release", response_model=ReservationOut,
             responses=problems_for(401, 403, 404, 409, 422, 429, 503),
             summary="Cart abandoned: release every hold (idempotent)")
async def release(reservation_id: str, request: Request) -> Response:
    key = await authorize(request, "checkout")
    res = await services(request).checkout.release(valid_reservation_id(reservation_id), key.name)
    return json_response(reservation_json(res))


@router.get("/reservations/{reservation_id}", response_model=ReservationOut,
            responses=problems_for(401, 403, 404, 422, 429, 503), summary="A reservation's state")
async def get_reservation(reservation_id: str, request: Request) -> Response:
    key = await authorize(request, "checkout")
    svc = services(request)
    res = await svc.checkout.get(valid_reservation_id(reservation_id), key.name)
    if svc.exchanges is not None:  # a shipped one: its exchanges and returned units
        res = await svc.exchanges.annotate(res)
    return json_response(reservation_json(res))

