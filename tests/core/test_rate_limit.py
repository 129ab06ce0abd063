"""The Redis counters behind the rate limits: the hits of requests that arrive together are
counted in one round trip (core.batching), and each request still gets its own exact count."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
import redis.asyncio as redis

from core.rate_limit import Counters, Limit
from engine.embedded import EmbeddedRedis
from tests.redis_stats import command_calls


@pytest.fixture
async def counters(redis_url: str) -> AsyncIterator[Counters]:
    counting = Counters()
    counting.connect(redis_url)
    yield counting
    await counting.close()


async def _script_calls(redis_url: str) -> int:
    """How many times Redis ran a script so far (its own command statistics)."""
    client = redis.from_url(redis_url)
    try:
        return await command_calls(client, "evalsha", "eval")
    finally:
        await client.aclose()


async def test_requests_arriving_together_share_one_round_trip_and_get_exact_counts(
    counters: Counters, redis_url: str
) -> None:
    # given fifty requests of one client, half of them also carrying one credential
    address, credential = f"address:{uuid4()}", f"credential:{uuid4()}"
    await counters.hit([Limit(f"address:{uuid4()}", 1, 60)])  # Redis has the script now
    calls = await _script_calls(redis_url)

    # when they are counted at once
    results = await asyncio.gather(
        *(
            counters.hit([Limit(address, 100, 60)] + ([Limit(credential, 10, 60)] if n % 2 else []))
            for n in range(50)
        )
    )

    # then each has its own place in each window, as if counted one by one
    assert all(r is not None for r in results)
    by_address = sorted(r[0].count for r in results if r)
    by_credential = sorted(r[1].count for r in results if r and len(r) == 2)
    assert by_address == list(range(1, 51))
    assert by_credential == list(range(1, 26))
    assert sum(1 for r in results if r and r[-1].exceeded) == 15  # credential: 11th..25th
    assert all(0 < c.reset_ms <= 60_000 for r in results if r for c in r)
    # ...and Redis was asked once, not fifty times
    assert await _script_calls(redis_url) - calls == 1


async def test_requests_apart_are_counted_each_in_its_turn(counters: Counters) -> None:
    key = f"address:{uuid4()}"
    first = await counters.hit([Limit(key, 2, 60)])
    second = await counters.hit([Limit(key, 2, 60)])
    third = await counters.hit([Limit(key, 2, 60)])
    assert [c[0].count for c in (first, second, third) if c] == [1, 2, 3]
    assert third is not None and third[0].exceeded and third[0].remaining == 0


async def test_nothing_is_counted_while_redis_is_unreachable() -> None:
    # given counters on a Redis that is not there
    counters = Counters()
    counters.connect("redis://127.0.0.1:1/0")
    try:
        # when requests arrive together
        results = await asyncio.gather(
            *(counters.hit([Limit(f"address:{n}", 1, 60)]) for n in range(5))
        )
    finally:
        await counters.close()
    # then each is let through uncounted
    assert results == [None] * 5


async def test_counting_resumes_once_redis_is_back(tmp_path: Path) -> None:
    # given counters on a Redis of their own, counting
    server = EmbeddedRedis(tmp_path)
    counters = Counters()
    counters.connect(await asyncio.to_thread(server.start))
    key = f"address:{uuid4()}"
    try:
        assert await counters.hit([Limit(key, 5, 60)]) is not None
        # when Redis stops, then a request is let through uncounted
        await asyncio.to_thread(server.stop)
        assert await counters.hit([Limit(key, 5, 60)]) is None
        # and once it is back, the next request is counted again (the connection is remade)
        await asyncio.to_thread(server.start)
        counted = await counters.hit([Limit(key, 5, 60)])
        assert counted is not None and counted[0].count >= 1
    finally:
        await counters.close()
        await asyncio.to_thread(server.stop)
