"""Locust users of a flash-sale rehearsal (HTTP only, like real clients).

* :class:`FlashSaleUser`: route (sometimes) → reserve → commit on payment success
  (``p_commit``), release on abandon (``p_release``), or walk away and let the hold
  expire (the rest). Each buyer sends its requests on a fixed schedule of
  ``rps_per_buyer`` per second (an open model: a slow answer does not delay the next
  arrival; a buyer ``max_lag_s`` behind drops the slots it missed, and the meter
  shows them as offered but never sent). SKUs: the sale's hot SKUs get ``hot_share``
  of the orders, the rest follow a Zipf popularity; destinations are drawn from the
  demo network. Each user takes one checkout key of a pool (its reservations are
  bound to it).
* :class:`OpsUser`: warehouse syncs (absolute counts, on ``ops_skus`` that nobody
  sells), restocks of sale SKUs (movements), inventory reads.
* :class:`ThrottledUser`: a client whose key has a tiny rate limit; it reads
  inventory too fast and gets ``429`` + ``Retry-After``.

Buyers and ops send on :class:`loadtest.http1.Http1`, one keep-alive connection each,
and report every request to Locust's ``request`` event (statistics, the meter) as
FastHttpUser's client would; it costs the generator about half the CPU per request.

Outcomes that the audit needs (each commit the client was told succeeded, each
restock and sync applied, each expected refusal) are appended as JSON lines to
``events-<pid>.jsonl`` in the record directory. Expected refusals (409 sold out,
423 kill switch, 429/503 with Retry-After, 410 hold expired) are Locust successes and
counted separately; anything else is a Locust failure.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import time
import uuid
from bisect import bisect
from typing import Any

import orjson
from locust import FastHttpUser, between, constant, events, task
from locust.exception import CatchResponseError

from loadtest.answers import classify, parsed, problem_code
from loadtest.http1 import Answer, Http1
from loadtest.meter import Meter
from loadtest.params import Params
from loadtest.recorder import Recorder

P = Params.load()
METER = Meter()  # this process's seconds (see loadtest.locustfile for its shipping)
_key_counter = itertools.count()
_GOLDEN = (math.sqrt(5) - 1) / 2


REC = Recorder(P.record_dir, forward=P.forward_events)


@events.quitting.add_listener
def _close_recorder(environment: Any, **_: Any) -> None:
    REC.close()


class SkuPicker:
    """Hot SKUs with probability ``hot_share``, else Zipf(s) over the sale's SKUs."""

    def __init__(self, skus: list[str], hot: list[str], s: float, hot_share: float) -> None:
        self.skus, self.hot, self.hot_share = skus, hot, hot_share
        weights = [1.0 / (r + 1) ** s for r in range(len(skus))]
        total = sum(weights)
        self.cum = list(itertools.accumulate(w / total for w in weights))

    def pick(self, rng: random.Random) -> str:
        if self.hot and rng.random() < self.hot_share:
            return rng.choice(self.hot)
        return self.skus[min(bisect(self.cum, rng.random()), len(self.skus) - 1)]


PICKER = SkuPicker(P.sale_skus or ["PHONE-0000"], P.hot_skus, P.zipf_s, P.hot_share)


class _Base(FastHttpUser):
    """Buyers and ops send their requests on :class:`loadtest.http1.Http1` (one
    keep-alive connection each, a fraction of FastHttpUser's client's CPU) and report
    them to Locust's ``request`` event as FastHttpUser does; ``self.client`` (Locust's
    own) stays for the throttled reader."""

    abstract = True
    network_timeout = 30.0
    connection_timeout = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client.client.cookiejar = None  # the API sets no cookies: skip the jar
        self.wire = Http1(self.host, timeout=self.network_timeout,
                          connect_timeout=self.connection_timeout)
        self.idem_prefix = uuid.uuid4().hex[:16]  # this user's Idempotency-Keys
        self.idem_count = itertools.count()

    def on_stop(self) -> None:
        self.wire.close()

    def idem(self, kind: str) -> str:
        """A new Idempotency-Key (unique across the rehearsal's processes)."""
        return f"{kind}-{self.idem_prefix}-{next(self.idem_count)}"

    def _call(self, method: str, path: str, name: str, key: str, *,
              expected: set[int] = frozenset(), skus: list[str] | None = None,
              paced: bool = False, json: Any = None,
              headers: dict[str, str] | None = None) -> tuple[str, Any]:
        """One request; records expected refusals and backs off on Retry-After (a
        ``paced`` buyer does not: its next request keeps its schedule)."""
        if paced:
            self._pace()
        head = {"Authorization": f"Bearer {key}"}
        if headers:
            head.update(headers)
        body = None
        if json is not None:
            body = orjson.dumps(json)
            head["Content-Type"] = "application/json"
        start = time.time()
        t0 = time.perf_counter()
        error: Exception | None = None
        try:
            resp = self.wire.request(method, path, body, head)
        except Exception as exc:  # noqa: BLE001 - a transport failure is a result here
            resp, error = Answer(0, {}, b""), exc
        elapsed_ms = (time.perf_counter() - t0) * 1e3
        kind, ra = ("fail", None) if error else classify(resp, expected)
        if kind == "fail":
            error = error or CatchResponseError(f"HTTP {resp.status_code} {problem_code(resp)}")
            REC.write(e="fail", name=name, code=resp.status_code or 0)
        elif kind != "ok":
            REC.write(e="status", name=name, code=resp.status_code,
                      problem=problem_code(resp), skus=skus)
        self.environment.events.request.fire(
            request_type=method, name=name, response_time=elapsed_ms,
            response_length=len(resp.content), response=resp, context={},
            exception=error, start_time=start, url=path)
        if kind == "backoff" and not paced:
            time.sleep(min(ra or 1.0, 2.0))  # gevent-patched: yields
        return kind, resp

    def _pace(self) -> None:
        """Wait for this buyer's next slot; count it as sent. The slots of all buyers
        lie on one grid: buyer n's phase is frac(n × golden ratio) of the interval, so
        the buyers of a process spread evenly over it whatever their number, and every
        window of a stage sees the same number of arrivals. A buyer asked to stop
        finishes its order on its schedule (Locust's stop timeout leaves it the time)."""
        interval = 1.0 / P.rps_per_buyer
        now = time.time()
        if getattr(self, "next_at", None) is None:  # the first slot: on the grid
            phase = ((getattr(self, "n", 0) * _GOLDEN) % 1.0) * interval
            self.next_at = phase + math.ceil((now - phase) / interval) * interval
        if now - self.next_at > P.max_lag_s:  # too far behind: the missed arrivals are
            self.next_at += math.ceil((now - self.next_at) / interval) * interval  # lost
        if self.next_at > now:
            time.sleep(self.next_at - now)  # gevent-patched: yields
        self.next_at += interval
        METER.sent()


P_AMEND = 0.1  # share of buyers who change their cart (PATCH) before paying
P_CANCEL_LINE = 0.05  # share of paid orders with one unit cancelled before shipping


class FlashSaleUser(_Base):
    weight = P.flash_weight
    wait_time = constant(0)  # the schedule is in _pace

    def on_start(self) -> None:
        self.n = n = next(_key_counter)
        self.key = P.checkout_keys[n % len(P.checkout_keys)] if P.checkout_keys else "dev-checkout-key"
        self.rng = random.Random(f"{os.getpid()}-{n}-{time.time()}")

    def _order(self) -> dict[str, Any]:
        sku = PICKER.pick(self.rng)
        lines = [{"sku": sku, "qty": self.rng.choice((1, 1, 1, 2))}]
        if self.rng.random() < 0.2:
            other = PICKER.pick(self.rng)
            if other != sku:
                lines.append({"sku": other, "qty": 1})
        order: dict[str, Any] = {"lines": lines}
        if P.destinations:
            order["destination"] = self.rng.choice(P.destinations)
        return order

    @task
    def buy(self) -> None:
        order = self._order()
        if self.rng.random() < P.p_route_first:
            kind, _ = self._call("POST", "/v1/route", "route", self.key, json=order,
                                 paced=True)
            if kind == "backoff":
                return
        body = dict(order, ttl_s=P.ttl_s)
        kind, resp = self._call("POST", "/v1/reservations", "reserve", self.key, json=body,
                                expected={409, 423}, skus=[x["sku"] for x in order["lines"]],
                                paced=True,
                                headers={"Idempotency-Key": self.idem("rh")})
        if kind != "ok":
            return
        res = parsed(resp)
        rid, lines = res["id"], [[x["sku"], x["warehouse"], x["qty"]] for x in res["lines"]]
        roll = self.rng.random()  # the payment page: until the buyer's next slot
        if self.rng.random() < P_AMEND:  # the cart changes before payment
            lines = self._amend(rid, lines)
        if roll < P.p_commit:
            self._settle(rid, "commit", lines)
            if self.rng.random() < P_CANCEL_LINE:  # a unit refunded before shipping
                self._cancel_unit(rid, lines)
        elif roll < P.p_commit + P.p_release:
            self._settle(rid, "release", lines)
        else:
            REC.write(e="walkaway", id=rid, key=self.key, expires_ms=res["expires_ms"],
                      lines=lines)

    def _amend(self, rid: str, lines: list[list[Any]]) -> list[list[Any]]:
        """One more or one fewer unit of the first line (PATCH); the lines after it. An
        unclear answer (lost in transport, 5xx, shed) is asked again with the same key,
        whose replay says what happened: the buyer pays for the lines it really holds."""
        first = lines[0]
        qty = first[2] + 1 if first[2] == 1 else first[2] - 1
        body = {"lines": [{"sku": s, "warehouse": w, "qty": qty if i == 0 else q}
                          for i, (s, w, q) in enumerate(lines)]}
        idem = {"Idempotency-Key": self.idem("am")}
        for _ in range(3):
            kind, resp = self._call("PATCH", f"/v1/reservations/{rid}", "amend", self.key,
                                    json=body, expected={409, 410}, skus=[first[0]],
                                    paced=True, headers=idem)
            if kind == "ok":
                return [[x["sku"], x["warehouse"], x["qty"]] for x in parsed(resp)["lines"]
                        if x["qty"]]
            if kind == "expected" or (kind == "fail" and 400 <= resp.status_code < 500):
                return lines  # refused (no stock, expired): the reservation is as it was
            # the retry waits for the buyer's next slot
        REC.write(e="unclear", action="amend", id=rid, lines=lines)
        return lines

    def _cancel_unit(self, rid: str, lines: list[list[Any]]) -> None:
        """Cancel one unit of the last line of a committed order."""
        sku, wh, _ = lines[-1]
        body = {"lines": [{"sku": sku, "warehouse": wh, "qty": 1}]}
        idem = {"Idempotency-Key": self.idem("cl")}
        for _ in range(3):  # repeatable with the same key
            kind, resp = self._call("POST", f"/v1/reservations/{rid}/lines/cancel",
                                    "cancel_lines", self.key, json=body, headers=idem,
                                    paced=True)
            if kind == "ok":
                REC.write(e="cancel_lines", id=rid, lines=[[sku, wh, 1]])
                return
            if kind == "fail" and resp.status_code and 400 <= resp.status_code < 500:
                return
            # the retry waits for the buyer's next slot
        REC.write(e="unclear", action="cancel_lines", id=rid, lines=[[sku, wh, 1]])

    def _settle(self, rid: str, action: str, lines: list[list[Any]]) -> None:
        """Commit or release, retrying an unclear answer (both are repeatable)."""
        for _ in range(5):
            kind, resp = self._call("POST", f"/v1/reservations/{rid}/{action}", action,
                                    self.key, expected={410}, paced=True)
            if kind == "ok":
                if action == "commit":
                    REC.write(e="commit", id=rid, lines=lines)
                return
            if kind == "expected":  # 410: the hold lapsed before payment
                return
            if kind == "fail" and resp.status_code and 400 <= resp.status_code < 500:
                return  # a definite refusal: nothing changed
            # the retry waits for the buyer's next slot
        REC.write(e="unclear", action=action, id=rid, lines=lines)


class OpsUser(_Base):
    fixed_count = max(1, P.ops_users)
    wait_time = between(0.2, 1.0)

    def on_start(self) -> None:
        self.key = P.ops_key or "dev-ops-key"
        self.rng = random.Random(f"ops-{os.getpid()}-{time.time()}")

    @task(3)
    def read(self) -> None:
        sku = PICKER.pick(self.rng)
        self._call("GET", f"/v1/inventory/{sku}", "inventory", self.key)

    @task(2)
    def sync(self) -> None:
        if not P.ops_skus or not P.warehouses:
            return
        counts = [{"sku": self.rng.choice(P.ops_skus), "warehouse": self.rng.choice(P.warehouses),
                   "on_hand": self.rng.randint(0, 500), "version": time.time_ns() // 1000}
                  for _ in range(self.rng.randint(1, 4))]
        kind, resp = self._call("PUT", "/v1/inventory", "sync", self.key,
                                json={"counts": counts}, expected={409})
        if kind != "ok":
            return  # 409: all stale
        by_key = {(c["sku"], c["warehouse"], c["version"]): c for c in counts}
        for r in parsed(resp)["results"]:
            if r["status"] == "ok":
                c = by_key[(r["sku"], r["warehouse"], r["version"])]
                REC.write(e="sync", sku=c["sku"], wh=c["warehouse"], on_hand=c["on_hand"],
                          version=c["version"])

    @task(1)
    def restock(self) -> None:
        if not P.warehouses:
            return
        sku, wh, qty = PICKER.pick(self.rng), self.rng.choice(P.warehouses), self.rng.randint(1, 5)
        idem = self.idem("rh-restock")
        body = {"movements": [{"type": "restock", "sku": sku, "warehouse": wh, "qty": qty}]}
        for _ in range(5):  # the same Idempotency-Key: applied once however often sent
            kind, resp = self._call("POST", "/v1/inventory/movements", "restock", self.key,
                                    json=body, headers={"Idempotency-Key": idem})
            if kind == "ok":
                REC.write(e="restock", sku=sku, wh=wh, qty=qty)
                return
            if kind == "fail" and resp.status_code and 400 <= resp.status_code < 500:
                return
            time.sleep(0.2)
        REC.write(e="unclear", action="restock", sku=sku, wh=wh, qty=qty)


class ThrottledUser(_Base):
    """A client on a low-rate key: it should see 429 + Retry-After, not failures."""

    fixed_count = max(1, P.throttled_users)
    wait_time = between(0.05, 0.1)

    @task
    def poll(self) -> None:
        sku = P.hot_skus[0] if P.hot_skus else PICKER.skus[0]
        with self.client.request("GET", f"/v1/inventory/{sku}", name="throttled read",
                                 headers={"Authorization": f"Bearer {P.throttled_key}"},
                                 catch_response=True) as resp:
            kind, _ = classify(resp, set())
            if kind == "fail":
                resp.failure(f"HTTP {resp.status_code}")
                REC.write(e="fail", name="throttled read", code=resp.status_code or 0)
                return
            resp.success()
            if kind == "backoff":
                REC.write(e="status", name="throttled read", code=resp.status_code,
                          problem=problem_code(resp), skus=None)
        # keep polling without honouring Retry-After: the limiter must keep refusing
