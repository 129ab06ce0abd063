"""Per-tenant caches: they serve only while the process follows the invalidations, a drop
(local or broadcast) makes the next read load again, and a load that raced a drop is not
kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from uuid import uuid4

import pytest

from core import cache
from core.after_commit import after_commit, unit_of_work
from core.broker import Broker
from core.queue import NoQueue

T1, T2 = uuid4(), uuid4()


@pytest.fixture
def following() -> Iterator[None]:
    cache.follow(True)
    yield
    cache.follow(False)


class Source:
    """The database as the cache sees it: a value per tenant, and how often it was read."""

    def __init__(self) -> None:
        self.values = {T1: "gold", T2: "silver"}
        self.reads = 0

    def loader(self, tenant_id: object) -> object:
        async def load() -> str:
            self.reads += 1
            return self.values[tenant_id]  # type: ignore[index]

        return load


async def test_a_process_that_does_not_follow_the_invalidations_always_reads() -> None:
    facts, source = cache.TenantCache[str]("test-unfollowed"), Source()
    for _ in range(3):
        assert await facts.get(T1, source.loader(T1)) == "gold"
    assert source.reads == 3


async def test_a_following_process_reads_once_until_the_tenant_is_dropped(following: None) -> None:
    facts, source = cache.TenantCache[str]("test-followed"), Source()
    assert [await facts.get(T1, source.loader(T1)) for _ in range(3)] == ["gold"] * 3
    assert await facts.get(T2, source.loader(T2)) == "silver"
    assert source.reads == 2
    # when the tenant's fact changes and is dropped
    source.values[T1] = "platinum"
    facts.drop(T1)
    # then the next read loads it again; the other tenant stays cached
    assert await facts.get(T1, source.loader(T1)) == "platinum"
    assert await facts.get(T2, source.loader(T2)) == "silver"
    assert source.reads == 3


async def test_a_load_that_raced_a_drop_is_not_kept(following: None) -> None:
    facts, source = cache.TenantCache[str]("test-race"), Source()
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_load() -> str:
        value = source.values[T1]  # read before the change commits...
        started.set()
        await release.wait()  # ...and stored after its drop arrived
        return value

    reading = asyncio.create_task(facts.get(T1, slow_load))
    await started.wait()
    source.values[T1] = "platinum"
    facts.drop(T1)
    release.set()
    assert await reading == "gold"  # that request saw the old value...
    assert await facts.get(T1, source.loader(T1)) == "platinum"  # ...the next does not


async def test_losing_the_invalidations_drops_everything_cached(following: None) -> None:
    facts, source = cache.TenantCache[str]("test-lost"), Source()
    await facts.get(T1, source.loader(T1))
    cache.follow(False)
    cache.follow(True)  # followed again: messages may have been missed meanwhile
    await facts.get(T1, source.loader(T1))
    assert source.reads == 2


async def test_an_invalidation_drops_here_at_once_and_is_broadcast(
    following: None, redis_url: str
) -> None:
    facts, source = cache.TenantCache[str]("test-broadcast"), Source()
    await facts.get(T1, source.loader(T1))
    broker, listener = Broker(redis_url), Broker(redis_url)
    try:
        async with listener.subscribe(cache.CACHE_CHANNEL) as subscriber:
            async with unit_of_work(NoQueue(), broker):
                after_commit(cache.Invalidate("test-broadcast", T1))
            message = await asyncio.wait_for(subscriber.next(), timeout=5)
    finally:
        await broker.close()
        await listener.close()
    assert message == {"cache": "test-broadcast", "tenantId": str(T1)}
    await facts.get(T1, source.loader(T1))
    assert source.reads == 2
    # and a message from another process drops the entry here too
    cache.dropped(json.dumps(message))
    await facts.get(T1, source.loader(T1))
    assert source.reads == 3


async def test_a_change_made_outside_a_unit_of_work_drops_the_entry_at_once(
    following: None,
) -> None:
    facts, source = cache.TenantCache[str]("test-no-unit"), Source()
    await facts.get(T1, source.loader(T1))
    cache.invalidate(facts, T1)  # e.g. a script calling models/ directly
    await facts.get(T1, source.loader(T1))
    assert source.reads == 2


async def test_without_the_broadcast_an_operation_reads_once_and_again_after_its_change() -> None:
    facts, source = cache.TenantCache[str]("test-per-operation"), Source()
    async with unit_of_work(NoQueue(), None):
        assert [await facts.get(T1, source.loader(T1)) for _ in range(3)] == ["gold"] * 3
        assert source.reads == 1
        source.values[T1] = "platinum"
        cache.invalidate(facts, T1)  # the operation changed it
        assert await facts.get(T1, source.loader(T1)) == "platinum"
    async with unit_of_work(NoQueue(), None):  # the next operation reads anew
        await facts.get(T1, source.loader(T1))
    assert source.reads == 3
