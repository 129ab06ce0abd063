"""In-process caches (per tenant, or by any key such as an API key's digest): they serve
only while the process follows the invalidations, a drop (local or broadcast) makes the
next read load again, and a load that raced a drop, or the loss of the invalidations, is
not kept."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from uuid import uuid4

import pytest

from core import cache
from core.after_commit import after_commit, unit_of_work
from core.broker import Broker
from core.queue import NoQueue

T1, T2 = uuid4(), uuid4()
K1, K2 = "digest-of-key-1", "digest-of-key-2"


class Source:
    """The database as the cache sees it: a value per tenant, and how often it was read."""

    def __init__(self) -> None:
        self.values: dict[object, str] = {T1: "gold", T2: "silver", K1: "tenant a", K2: "tenant b"}
        self.reads = 0

    def loader(self, tenant_id: object) -> object:
        async def load() -> str:
            self.reads += 1
            return self.values[tenant_id]

        return load

    def held(
        self, key: object
    ) -> tuple[Callable[[], Awaitable[str]], asyncio.Event, asyncio.Event]:
        """A load of `key` that reads its value, then waits to return it: the load, the
        event set once it has read, and the event that lets it return."""
        started, release = asyncio.Event(), asyncio.Event()

        async def load() -> str:
            value = self.values[key]
            started.set()
            await release.wait()
            return value

        return load, started, release


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
    # a load that reads before the change commits, and stores after its drop arrived
    slow_load, started, release = source.held(T1)
    reading = asyncio.create_task(facts.get(T1, slow_load))
    await started.wait()
    source.values[T1] = "platinum"
    facts.drop(T1)
    # a request after the drop reads anew, while that load is still in flight (a shared
    # load started before a drop is not joined: joined, it would wait here for ever)
    async with asyncio.timeout(5):
        assert await facts.get(T1, source.loader(T1)) == "platinum"
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
    assert message == {"cache": "test-broadcast", "key": str(T1)}
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


async def test_a_cache_keyed_by_text_serves_and_drops_each_key_alone(following: None) -> None:
    # given a cache keyed by something other than a tenant (an API key's digest), read once
    keys, source = cache.Cache[str, str]("test-keyed", str), Source()
    assert [await keys.get(K1, source.loader(K1)) for _ in range(3)] == ["tenant a"] * 3
    assert await keys.get(K2, source.loader(K2)) == "tenant b"
    assert source.reads == 2
    # when another process says the first key changed
    source.values[K1] = "revoked"
    cache.dropped(json.dumps({"cache": "test-keyed", "key": K1}))
    # then its next read loads it again; the other key stays cached
    assert await keys.get(K1, source.loader(K1)) == "revoked"
    assert await keys.get(K2, source.loader(K2)) == "tenant b"
    assert source.reads == 3


async def test_a_keyed_cache_does_not_serve_while_the_invalidations_are_not_followed() -> None:
    keys, source = cache.Cache[str, str]("test-keyed-unfollowed", str), Source()
    for _ in range(3):
        assert await keys.get(K1, source.loader(K1)) == "tenant a"
    assert source.reads == 3


async def test_a_failed_load_is_not_kept(following: None) -> None:
    # given a key that does not load (e.g. an API key that is not valid)
    keys, source = cache.Cache[str, str]("test-failed-load", str), Source()

    async def refused() -> str:
        source.reads += 1
        raise LookupError("not valid")

    # when it is asked for twice
    for _ in range(2):
        with pytest.raises(LookupError):
            await keys.get(K1, refused)
    # then both asked the source, and a later valid load is served
    assert source.reads == 2
    assert await keys.get(K1, source.loader(K1)) == "tenant a"


async def test_a_keyed_load_that_raced_a_drop_is_not_kept(following: None) -> None:
    keys, source = cache.Cache[str, str]("test-keyed-race", str), Source()
    # a load that reads before the revocation commits, and stores after its drop arrived
    # from another process
    slow_load, started, release = source.held(K1)
    reading = asyncio.create_task(keys.get(K1, slow_load))
    await started.wait()
    source.values[K1] = "revoked"
    cache.dropped(json.dumps({"cache": "test-keyed-race", "key": K1}))
    release.set()
    assert await reading == "tenant a"  # that request saw the old value...
    assert await keys.get(K1, source.loader(K1)) == "revoked"  # ...the next does not


async def test_a_load_that_outlived_losing_the_invalidations_is_not_kept(
    following: None,
) -> None:
    keys, source = cache.Cache[str, str]("test-lost-race", str), Source()
    slow_load, started, release = source.held(K1)
    # given a load in flight
    reading = asyncio.create_task(keys.get(K1, slow_load))
    await started.wait()
    # when the invalidations are lost (a drop may be missed then) and followed again
    cache.follow(False)
    source.values[K1] = "revoked"
    cache.follow(True)
    release.set()
    # then what that load read is not kept
    assert await reading == "tenant a"
    assert await keys.get(K1, source.loader(K1)) == "revoked"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        json.dumps(["test-malformed", T1.hex]),
        json.dumps({"cache": "test-malformed"}),
        json.dumps({"cache": "test-malformed", "key": "not a uuid"}),
        json.dumps({"cache": "test-malformed", "key": 7}),
        json.dumps({"cache": "test-malformed", "tenantId": str(T1)}),
    ],
)
async def test_a_malformed_message_drops_nothing_and_is_logged(
    following: None, data: str | bytes, caplog: pytest.LogCaptureFixture
) -> None:
    facts, source = cache.TenantCache[str]("test-malformed"), Source()
    await facts.get(T1, source.loader(T1))
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        cache.dropped(data)
    assert "ignored a malformed message" in caplog.text
    await facts.get(T1, source.loader(T1))
    assert source.reads == 1


async def test_a_message_for_a_cache_this_process_does_not_have_is_ignored_quietly(
    following: None, caplog: pytest.LogCaptureFixture
) -> None:
    # e.g. from a process of another version: not malformed, just nothing to drop here
    with caplog.at_level(logging.WARNING, logger="core.cache"):
        cache.dropped(json.dumps({"cache": "no-such-cache", "key": "x"}))
    assert caplog.text == ""


async def test_concurrent_misses_share_one_load(following: None) -> None:
    facts, source = cache.TenantCache[str]("test-shared-load"), Source()
    release = asyncio.Event()

    async def slow_load() -> str:
        source.reads += 1
        await release.wait()
        return source.values[T1]

    # given many requests asking for a tenant nobody has read yet, at once
    readers = [asyncio.create_task(facts.get(T1, slow_load)) for _ in range(50)]
    await asyncio.sleep(0.01)
    release.set()
    # then one of them read it, and all have its value
    assert await asyncio.gather(*readers) == ["gold"] * 50
    assert source.reads == 1
    # and it is kept for the next
    assert await facts.get(T1, source.loader(T1)) == "gold"
    assert source.reads == 1


async def test_a_shared_load_that_fails_fails_its_waiters_and_keeps_nothing(
    following: None,
) -> None:
    facts, source = cache.TenantCache[str]("test-shared-failure"), Source()
    release = asyncio.Event()

    async def failing() -> str:
        source.reads += 1
        await release.wait()
        raise LookupError("the database went away")

    readers = [asyncio.create_task(facts.get(T1, failing)) for _ in range(3)]
    await asyncio.sleep(0.01)
    release.set()
    results = await asyncio.gather(*readers, return_exceptions=True)
    assert [type(r) for r in results] == [LookupError] * 3
    assert source.reads == 1
    assert await facts.get(T1, source.loader(T1)) == "gold"  # nothing was kept


async def test_waiters_load_themselves_when_the_shared_load_is_cancelled(
    following: None,
) -> None:
    facts, source = cache.TenantCache[str]("test-shared-cancel"), Source()
    started, never = asyncio.Event(), asyncio.Event()

    async def hanging() -> str:
        started.set()
        await never.wait()
        raise AssertionError("never finishes")

    # given a request loading (its client goes away) and another waiting for its load
    loader = asyncio.create_task(facts.get(T1, hanging))
    await started.wait()
    waiter = asyncio.create_task(facts.get(T1, source.loader(T1)))
    await asyncio.sleep(0.01)
    loader.cancel()
    # then the waiter loads itself, and a waiter's going away cancels nobody else's load
    assert await waiter == "gold"
    with pytest.raises(asyncio.CancelledError):
        await loader
    assert source.reads == 1
