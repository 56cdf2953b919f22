"""Reservations: an order's holds across shards, all-or-nothing, with ids that are
unguessable and stable per (owner, idempotency key).

A reservation record lives in Redis (``{prefix}:res:{id}``) and names the hold on
each shard. Commit and release act on every hold; a commit that finds one hold
expired cancels the others, so an order is never half paid.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from concurrent.futures import Future
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import msgpack
import numpy as np
import ray

from actors.client import AllocatorClient, ShardResult
from allocator.errors import (
    AllocatorError, HoldExpired, IllegalTransition, InsufficientStock, InvalidRequest,
    UnknownHold,
)
from allocator.ops import Code, OpKind, op_key
from allocator.storage import connect

Line = tuple[str, str, int]  # sku, warehouse, qty
RECORD_TTL_S = 7 * 24 * 3600


@dataclass
class Reservation:
    """An order's holds. ``state``: pending, committed, released, expired."""

    id: str
    state: str
    lines: list[Line]
    holds: list[tuple[str, int]]  # (shard, hold id on that shard)
    created_ms: int
    expires_ms: int
    owner: str = ""
    plan: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lines"] = [{"sku": s, "warehouse": w, "qty": q} for s, w, q in self.lines]
        d["holds"] = [{"shard": s, "hold_id": h} for s, h in self.holds]
        return d


def _wait(futures: Sequence[Future], timeout_s: float = 30.0) -> list[ShardResult]:
    return [f.result(timeout=timeout_s) for f in futures]


class Reservations:
    """route + hold, commit, release and get, over an :class:`AllocatorClient`."""

    def __init__(self, client: AllocatorClient, redis_url: str, hold_ttl_ms: int = 600_000,
                 prefix: str = "alloc", planner: Callable[..., Any] | None = None,
                 max_reroutes: int = 3) -> None:
        self.client = client
        self.redis = connect(redis_url)
        self.prefix = prefix
        self.hold_ttl_ms = hold_ttl_ms
        self.planner = planner
        self.max_reroutes = max_reroutes
        secret = self.redis.get(f"{prefix}:secret")
        if secret is None:
            self.redis.set(f"{prefix}:secret", secrets.token_bytes(32), nx=True)
            secret = self.redis.get(f"{prefix}:secret")
        self._secret = secret

    def reservation_id(self, owner: str, key: str) -> str:
        """Unguessable (keyed hash with a server secret) yet stable for a retried key."""
        mac = hashlib.blake2b(f"{owner}\0{key}".encode(), key=self._secret, digest_size=16)
        return "res_" + mac.hexdigest()

    # ------------------------------------------------------------------- hold
    def hold(self, lines: Sequence[Line], key: str, owner: str = "",
             ttl_ms: int | None = None, attempt: int = 0,
             plan: dict[str, Any] | None = None) -> Reservation:
        """Hold every line (on as many shards as they live on) or none."""
        lines = [(str(s), str(w), int(q)) for s, w, q in lines]
        self._validate(lines)
        rid = self.reservation_id(owner, key)
        existing = self._load(rid)
        if existing is not None:
            return existing
        ttl = int(ttl_ms or self.hold_ttl_ms)
        parts = self.client.split_by_shard(lines)
        futs = {shard: self.client.submit(OpKind.HOLD, op_key(f"{rid}:hold:{attempt}:{shard}"),
                                          part, arg=ttl)
                for shard, part in parts.items()}
        results = dict(zip(futs, _wait(list(futs.values()))))
        failed = {s: r for s, r in results.items() if not r.ok}
        if failed:
            self._undo(rid, attempt, {s: r for s, r in results.items() if r.ok})
            shard, res = next(iter(failed.items()))
            raise self._hold_error(parts[shard], res)
        now = min(r.now_ms for r in results.values())
        res = Reservation(rid, "pending", lines, [(s, r.value) for s, r in results.items()],
                          now, now + ttl, owner, plan)
        self._store(res)
        return res

    def hold_many(self, items: Sequence[tuple[str, str, str, int]], owner: str = "",
                  ttl_ms: int | None = None) -> list[Reservation | AllocatorError]:
        """Single-line holds ``(key, sku, warehouse, qty)`` in bulk (high-volume callers):
        one vectorised call per shard, one Redis round trip for the records. Each item
        answers its reservation or its error; replays return the first reservation."""
        ttl = int(ttl_ms or self.hold_ttl_ms)
        out: list[Reservation | AllocatorError | None] = [None] * len(items)
        rids = [self.reservation_id(owner, key) for key, *_ in items]
        existing = self.redis.mget([self._key(r) for r in rids]) if items else []
        todo = []
        for i, ((key, sku, wh, qty), raw) in enumerate(zip(items, existing)):
            if raw is not None:
                out[i] = self._decode(raw)
                continue
            try:
                self._validate([(sku, wh, qty)])
            except AllocatorError as exc:
                out[i] = exc
                continue
            todo.append(i)
        if todo:
            whs = {w: j for j, w in enumerate(self.client.layout.warehouses)}
            gidx = np.array([self.client.check(items[i][1]) for i in todo], np.int64)
            wh = np.array([whs[items[i][2]] for i in todo], np.int64)
            qty = np.array([items[i][3] for i in todo], np.int64)
            ops = np.array([op_key(f"{rids[i]}:hold:0:{self.client.owner(items[i][1])}")
                            for i in todo], np.int64)
            now = int(time.time() * 1000)
            got = self.client.hold_bulk(gidx, wh, qty, ops, ttl).result(timeout=60)
            pipe = self.redis.pipeline(transaction=False)
            for j, i in enumerate(todo):
                _, sku, w, q = items[i]
                code = Code(int(got["code"][j]))
                if code != Code.OK:
                    res = ShardResult(got["shard"][j], code, int(got["value"][j]), 0, False, now)
                    out[i] = self._hold_error([(sku, w, q)], res)
                    continue
                res = Reservation(rids[i], "pending", [(sku, w, q)],
                                  [(got["shard"][j], int(got["value"][j]))], now, now + ttl,
                                  owner)
                out[i] = res
                pipe.set(self._key(res.id), self._encode(res), ex=RECORD_TTL_S)
            pipe.execute()
        return out  # type: ignore[return-value]

    def _validate(self, lines: list[Line]) -> None:
        if not lines:
            raise InvalidRequest("an order needs at least one line")
        seen = set()
        for sku, wh, qty in lines:
            if (sku, wh) in seen:
                raise InvalidRequest(f"duplicate line for {sku} at {wh}")
            seen.add((sku, wh))
            self.client.check(sku, wh)
            if qty <= 0:
                raise InvalidRequest(f"quantity must be positive, got {qty} for {sku}")

    def _undo(self, rid: str, attempt: int, taken: dict[str, ShardResult]) -> None:
        futs = [self.client.submit(OpKind.RELEASE, op_key(f"{rid}:undo:{attempt}:{s}"),
                                   hold_id=r.value, shard=s) for s, r in taken.items()]
        _wait(futs)

    @staticmethod
    def _hold_error(part: list[Line], res: ShardResult) -> AllocatorError:
        if res.code == Code.INSUFFICIENT:
            sku, wh, qty = part[res.detail]
            return InsufficientStock(f"only {res.value} of {qty} units of {sku} at {wh}",
                                     sku=sku, warehouse=wh, requested=qty, available=res.value)
        if res.code == Code.INVALID:
            return InvalidRequest("the order was rejected as invalid by its shard")
        return AllocatorError(f"hold refused: {res.code.name.lower()}")

    # --------------------------------------------------------------- reserve
    def available(self, skus: Sequence[str]) -> dict[str, dict[str, int]]:
        """Available units per warehouse for each SKU (one call per owning shard)."""
        by_shard: dict[str, list[str]] = {}
        for sku in skus:
            by_shard.setdefault(self.client.owner(sku), []).append(sku)
        refs = {s: self.client.actor(s).available.remote(v) for s, v in by_shard.items()}
        whs = self.client.layout.warehouses
        out: dict[str, dict[str, int]] = {}
        for shard, ref in refs.items():
            for sku, units in ray.get(ref).items():
                out[sku] = dict(zip(whs, units))
        return out

    def reserve(self, order: Any, key: str, owner: str = "", ttl_ms: int | None = None
                ) -> Reservation:
        """Route the order on current availability, then hold the plan; if stock moved
        in between, route again (at most ``max_reroutes`` times)."""
        if self.planner is None:
            raise RuntimeError("no planner configured")
        existing = self._load(self.reservation_id(owner, key))
        if existing is not None:  # a replay answers even when the stock is gone now
            return existing
        last: AllocatorError | None = None
        for attempt in range(self.max_reroutes + 1):
            lines, plan = self.planner(order, self.available)
            try:
                return self.hold(lines, key, owner, ttl_ms, attempt, plan)
            except InsufficientStock as exc:
                last = exc
        assert last is not None
        raise last

    # ----------------------------------------------------------- transitions
    def commit(self, rid: str, owner: str = "") -> Reservation:
        """Payment captured: commit every hold, or none (a late one cancels the rest)."""
        res = self.get_record(rid, owner)
        if res.state == "committed":
            return res
        if res.state != "pending":
            raise self._state_error(res, "commit")
        results = self._each(res, OpKind.COMMIT, "commit")
        if all(r.ok for r in results):
            res.state = "committed"
        else:
            done = [(h, r) for h, r in zip(res.holds, results) if r.ok]
            futs = [self.client.submit(OpKind.CANCEL, op_key(f"{rid}:cancel:{s}"), hold_id=h,
                                       shard=s) for (s, h), _ in done]
            _wait(futs)
            self._each(res, OpKind.RELEASE, "release-after-failed-commit")
            res.state = "expired"
            self._store(res)
            raise HoldExpired(f"reservation {rid} expired before it was committed",
                              reservation_id=rid)
        self._store(res)
        return res

    def release(self, rid: str, owner: str = "") -> Reservation:
        """Cart abandoned: release every hold (idempotent)."""
        res = self.get_record(rid, owner)
        if res.state in ("released", "expired"):
            return res
        if res.state != "pending":
            raise self._state_error(res, "release")
        results = self._each(res, OpKind.RELEASE, "release")
        res.state = "expired" if any(r.code == Code.EXPIRED for r in results) else "released"
        self._store(res)
        return res

    def ship(self, rid: str) -> Reservation:
        """The warehouse shipped a committed reservation (ops; any owner)."""
        res = self._load(rid)
        if res is None:
            raise UnknownHold(f"unknown reservation {rid}", reservation_id=rid)
        if res.state == "shipped":
            return res
        if res.state != "committed":
            raise self._state_error(res, "ship")
        results = self._each(res, OpKind.SHIP, "ship")
        bad = [r for r in results if not r.ok]
        if bad:  # a retry replays the shards that did ship and retries the others
            raise IllegalTransition(f"cannot ship reservation {rid}: "
                                    f"{bad[0].code.name.lower()}", reservation_id=rid)
        res.state = "shipped"
        self._store(res)
        return res

    def _each(self, res: Reservation, kind: OpKind, tag: str) -> list[ShardResult]:
        futs = [self.client.submit(kind, op_key(f"{res.id}:{tag}:{s}"), hold_id=h, shard=s)
                for s, h in res.holds]
        return _wait(futs)

    @staticmethod
    def _state_error(res: Reservation, verb: str) -> AllocatorError:
        if res.state == "expired":
            return HoldExpired(f"reservation {res.id} has expired", reservation_id=res.id)
        return IllegalTransition(f"cannot {verb} reservation {res.id}: it is {res.state}",
                                 reservation_id=res.id, state=res.state)

    def get(self, rid: str, owner: str = "") -> Reservation:
        """The reservation with its live state (a pending one past expiry reads expired)."""
        res = self.get_record(rid, owner)
        if res.state == "pending":
            states = set()
            for shard, hid in res.holds:
                view = ray.get(self.client.actor(shard).holds.remote([hid]))[0]
                states.add(view["state"] if view else "unknown")
            if "expired" in states or res.expires_ms <= int(time.time() * 1000):
                res.state = "expired"
        return res

    # --------------------------------------------------------------- storage
    def get_record(self, rid: str, owner: str = "") -> Reservation:
        res = self._load(rid)
        if res is None or res.owner != owner:  # another key's reservation: not found
            raise UnknownHold(f"unknown reservation {rid}", reservation_id=rid)
        return res

    def _key(self, rid: str) -> str:
        return f"{self.prefix}:res:{rid}"

    def _store(self, res: Reservation) -> None:
        self.redis.set(self._key(res.id), self._encode(res), ex=RECORD_TTL_S)

    @staticmethod
    def _encode(res: Reservation) -> bytes:
        return msgpack.packb(asdict(res), use_bin_type=True)

    def _load(self, rid: str) -> Reservation | None:
        raw = self.redis.get(self._key(rid))
        return None if raw is None else self._decode(raw)

    @staticmethod
    def _decode(raw: bytes) -> Reservation:
        d = msgpack.unpackb(raw, raw=False)
        d["lines"] = [tuple(x) for x in d["lines"]]
        d["holds"] = [tuple(x) for x in d["holds"]]
        return Reservation(**d)
