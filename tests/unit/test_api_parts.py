"""API building blocks on a real (embedded) Redis: keys, problems, idempotency, rate limit."""

from __future__ import annotations

import json

import pytest

from allocator import errors
from api.idempotency import IdempotencyStore
from api.problems import PROBLEMS, Problem, problem_body
from api.ratelimit import RateLimiter
from api.settings import ApiKey, ApiSettings, parse_keys


def all_error_codes():
    seen, todo = set(), [errors.AllocatorError]
    import actors.client  # noqa: F401 - Overloaded, Unavailable
    import actors.shard_core  # noqa: F401 - ShardUnavailable
    import allocator.storage  # noqa: F401 - StorageUnavailable
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
    assert s.keys["secret-checkout"] == ApiKey("shop", frozenset({"checkout"}), 5, None)
    assert s.rate_per_s == 7.0 and not s.dev_keys
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(keys))
    assert ApiSettings.from_env({"ALLOCATOR_API_KEYS": f"@{path}"}).keys.keys() == keys.keys()
    assert ApiSettings.from_env({}).dev_keys
    with pytest.raises(errors.InvalidRequest, match="unknown scopes"):
        parse_keys({"secret-123": {"scopes": ["root"]}})
    with pytest.raises(errors.InvalidRequest, match="8 characters"):
        parse_keys({"short": {"scopes": ["read"]}})
    with pytest.raises(errors.InvalidRequest, match="non-empty"):
        parse_keys([])


@pytest.fixture
def redis(tmp_path):
    from allocator.storage import EmbeddedRedis, connect

    server = EmbeddedRedis(tmp_path)
    yield connect(server.url)
    server.stop()


def test_idempotency_first_replay_mismatch_in_flight_and_retryable(redis):
    store = IdempotencyStore(redis, "t", ttl_s=60)
    fp = store.fingerprint("POST", "/v1/x", {"a": 1})
    assert store.fingerprint("POST", "/v1/x", {"a": 1}) == fp
    assert store.begin("k", "key-1", fp) is None
    with pytest.raises(Problem) as busy:
        store.begin("k", "key-1", fp)
    assert busy.value.code == "idempotency_in_flight"
    store.finish("k", "key-1", fp, 201, {"id": "r1"})
    replay = store.begin("k", "key-1", fp)
    assert (replay.status, replay.body) == (201, {"id": "r1"})
    with pytest.raises(Problem) as other:
        store.begin("k", "key-1", store.fingerprint("POST", "/v1/x", {"a": 2}))
    assert other.value.code == "idempotency_mismatch"
    assert store.begin("other-owner", "key-1", fp) is None  # keys are per API key
    assert 0 < redis.ttl("t:idem:k:key-1") <= 60
    for status in (503, 429):  # a retryable failure frees the key
        assert store.begin("k", f"key-{status}", fp) is None
        store.finish("k", f"key-{status}", fp, status, {})
        assert store.begin("k", f"key-{status}", fp) is None
    with pytest.raises(Problem):
        store.check_key("")
    with pytest.raises(Problem):
        store.check_key("x" * 300)


def test_token_bucket_limits_and_refills(redis):
    limiter = RateLimiter(redis, "t", rate_per_s=1000, burst=3)
    slow = ApiKey("slow", frozenset({"read"}), rate=0.5, burst=2)
    limiter.take(slow)
    limiter.take(slow)
    with pytest.raises(Problem) as err:
        limiter.take(slow)
    assert err.value.code == "rate_limited" and err.value.details["retry_after_s"] > 0
    fast = ApiKey("fast", frozenset({"read"}))
    for _ in range(3):
        limiter.take(fast)
    with pytest.raises(Problem):
        limiter.take(fast)
    off = ApiKey("off", frozenset({"read"}), rate=0)
    for _ in range(50):
        limiter.take(off)
