"""API building blocks: keys and their settings, problem types, request costs."""

from __future__ import annotations

import json

import pytest

from allocator import errors
from api import cost
from api.auth import KeyRing
from api.models import BatchIn, ReserveIn
from api.problems import PROBLEMS, problem_body
from api.settings import ApiKey, ApiSettings, parse_keys


def all_error_codes():
    seen, todo = set(), [errors.AllocatorError]
    import actors.client  # noqa: F401 - Overloaded, Unavailable
    import actors.shard_core  # noqa: F401 - ShardUnavailable
    import storage.redis  # noqa: F401 - StorageUnavailable
    import routing.errors  # noqa: F401
    while todo:
        cls = todo.pop()
        seen.add(cls.code)
        todo.extend(cls.__subclasses__())
    return seen - {"allocator_error"}


def test_every_error_code_has_a_problem_type():
    missing = sorted(c for c in all_error_codes() if c not in PROBLEMS)
    assert not missing


def test_problem_body_is_rfc9457_shaped():
    status, body = problem_body("insufficient_stock", "only 1 of 2", "/v1/reservations",
                                available=1)
    assert status == 409
    assert body == {"type": "/problems/insufficient-stock", "title": "Not enough stock",
                    "status": 409, "detail": "only 1 of 2", "code": "insufficient_stock",
                    "instance": "/v1/reservations", "available": 1}


def test_settings_keys_from_env_and_their_errors(tmp_path):
    keys = {"secret-checkout": {"name": "shop", "scopes": ["checkout"], "rate": 5}}
    s = ApiSettings.from_env({"ALLOCATOR_API_KEYS": json.dumps(keys), "ALLOCATOR_API_RATE": "7"})
    assert s.keys["secret-checkout"] == ApiKey("shop", frozenset({"checkout"}), 5, None, 0.0)
    assert s.rate_per_s == 7.0 and not s.dev_keys
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(keys))
    assert ApiSettings.from_env({"ALLOCATOR_API_KEYS": f"@{path}"}).keys.keys() == keys.keys()
    assert ApiSettings.from_env({}).dev_keys
    with pytest.raises(errors.InvalidRequest, match="unknown scopes"):
        parse_keys({"secret-123": {"name": "a", "scopes": ["root"]}})
    with pytest.raises(errors.InvalidRequest, match="8 characters"):
        parse_keys({"short": {"name": "a", "scopes": ["read"]}})
    with pytest.raises(errors.InvalidRequest, match="non-empty"):
        parse_keys([])


def test_a_key_needs_its_own_name_and_errors_never_show_its_secret():
    with pytest.raises(errors.InvalidRequest) as nameless:
        parse_keys({"super-secret-1": {"scopes": ["read"]}})
    assert "name" in nameless.value.message and "super-secret" not in nameless.value.message
    with pytest.raises(errors.InvalidRequest, match="share this name"):
        parse_keys({"secret-one-1": {"name": "shop", "scopes": ["read"]},
                    "secret-two-2": {"name": "shop", "scopes": ["read"]}})
    with pytest.raises(errors.InvalidRequest, match="max_share"):
        parse_keys({"secret-one-1": {"name": "shop", "scopes": ["read"], "max_share": 2}})
    keys = parse_keys({"secret-one-1": {"name": "shop", "scopes": ["read"]}}, max_share=0.2)
    assert keys["secret-one-1"].max_share == 0.2
    ring = KeyRing(keys)
    assert ring.lookup("secret-one-1").name == "shop" and ring.lookup("secret-one-2") is None


def test_request_costs_grow_with_routing_work():
    def order(n, routed=True, **kw):
        lines = [{"sku": f"S{i}", "qty": 1, **({} if routed else {"warehouse": "W"})}
                 for i in range(n)]
        return ReserveIn.model_validate({"lines": lines, **kw})

    assert cost.of_order(order(1, routed=False)) == 1
    assert cost.of_order(order(1, destination="1")) == 1
    assert cost.of_order(order(5, destination="1")) == 3
    assert cost.of_order(order(5, destination="1", allow_substitutes=True)) == 4
    batch = BatchIn.model_validate({"orders": [
        {"lines": [{"sku": "A", "qty": 1, "warehouse": "W"}]} for _ in range(100)]})
    assert cost.of_batch(batch) == pytest.approx(10)
    assert cost.of_bulk(5000) == 100 and cost.of_bulk(3) == 1


def test_bodies_refuse_coerced_values():
    from pydantic import ValidationError

    for bad in ('{"lines":[{"sku":"A","qty":"5"}]}', '{"lines":[{"sku":"A","qty":true}]}',
                '{"lines":[{"sku":"A","qty":1}],"ttl_s":0.0001}',
                '{"lines":[{"sku":"A","qty":1}],"hard_promise":"yes"}'):
        with pytest.raises(ValidationError):
            ReserveIn.model_validate_json(bad)
    assert ReserveIn.model_validate_json('{"lines":[{"sku":"A","qty":1}],"ttl_s":1}').ttl_s == 1
