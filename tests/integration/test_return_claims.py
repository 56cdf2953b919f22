"""Exchange claims on a real Redis: any sequence of claims and take-backs, sequential
or concurrent, agrees with a plain model and never returns more than shipped."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hypothesis import given, settings, strategies as st

from allocator.config import Keys
from service.bootstrap import async_redis
from storage.coalesce import Coalescer
from storage.returns import ReturnClaims

pytestmark = pytest.mark.integration
LINE, SHIPPED = ("A", "W1"), 5


def run(redis_url, fn):
    async def main():
        client = async_redis(redis_url)
        try:
            return await fn(ReturnClaims(Coalescer(client), Keys("tclaims"), 60))
        finally:
            await client.aclose()
    return asyncio.run(main())


steps = st.lists(st.tuples(st.sampled_from(["claim", "unclaim"]), st.integers(0, 5),
                           st.integers(1, 3)), max_size=25)


@settings(max_examples=40, deadline=None)
@given(steps=steps)
def test_claims_agree_with_the_model(redis_url, steps):
    rid = uuid.uuid4()  # a fresh hash for every example

    async def go(claims):
        returned, mine = 0, {}  # exchange -> units it claimed
        for op, ex, qty in steps:
            if op == "claim":
                code, after = await claims.claim(str(rid), LINE, qty, SHIPPED, str(ex),
                                                 {"qty": qty})
                if str(ex) in mine:
                    assert code == 2
                elif returned + qty > SHIPPED:
                    assert (code, after) == (0, returned)
                else:
                    returned += qty
                    mine[str(ex)] = qty
                    assert (code, after) == (1, returned)
            else:
                await claims.unclaim(str(rid), LINE, mine.get(str(ex), qty), str(ex))
                returned -= mine.pop(str(ex), 0)
            units, entries = await claims.read(str(rid))
            assert units.get(LINE, 0) == returned <= SHIPPED
            assert sorted(e["qty"] for e in entries) == sorted(mine.values())
    run(redis_url, go)


def test_concurrent_claims_never_pass_what_shipped(redis_url):
    async def go(claims):
        got = await asyncio.gather(*(claims.claim("res_race", LINE, 2, SHIPPED, f"x{i}",
                                                  {"qty": 2}) for i in range(10)))
        assert sorted(code for code, _ in got) == [0] * 8 + [1] * 2
        units, entries = await claims.read("res_race")
        assert units[LINE] == 4 and len(entries) == 2
    run(redis_url, go)
