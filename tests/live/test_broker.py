"""core.broker against a real Redis: what `subscribe` promises when it returns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
import redis.asyncio as aredis

from core.broker import Broker
from engine.embedded import EmbeddedRedis
from tests.redis_stats import command_calls


def _channel() -> str:
    return f"gamify:test-{uuid.uuid4().hex}:redemptions"


@contextlib.asynccontextmanager
async def delaying_proxy(redis_url: str, delay: float) -> AsyncIterator[str]:
    """A TCP proxy to the Redis of `redis_url` that delays what clients send by `delay`
    seconds (a far-away Redis, one way); yields the URL to reach Redis through it."""
    parts = urlsplit(redis_url)
    tasks: set[asyncio.Task[None]] = set()
    writers: list[asyncio.StreamWriter] = []

    async def upstream() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if parts.scheme == "unix":
            return await asyncio.open_unix_connection(parts.path)
        return await asyncio.open_connection(parts.hostname, parts.port or 6379)

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, lag: float) -> None:
        loop = asyncio.get_running_loop()
        while data := await reader.read(65536):
            if lag:
                loop.call_later(lag, writer.write, data)  # in order: same lag for every chunk
            else:
                writer.write(data)
        await asyncio.sleep(lag)
        writer.close()

    async def handle(
        client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        server_reader, server_writer = await upstream()
        writers.extend((client_writer, server_writer))
        for task in (
            asyncio.create_task(pipe(client_reader, server_writer, delay)),
            asyncio.create_task(pipe(server_reader, client_writer, 0)),
        ):
            tasks.add(task)

    proxy = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = proxy.sockets[0].getsockname()[1]
    db = parse_qs(parts.query).get("db", [parts.path.strip("/") or "0"])[0]
    try:
        yield f"redis://127.0.0.1:{port}/{db}"
    finally:
        proxy.close()
        for task in tasks:
            task.cancel()
        for writer in writers:
            writer.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await proxy.wait_closed()


async def test_subscribed_means_redis_has_confirmed_it(redis_url: str) -> None:
    # given a broker whose commands reach Redis 0.3 s late, and a publisher that is close by
    async with delaying_proxy(redis_url, delay=0.3) as far_away:
        broker = Broker(far_away)
        publisher = aredis.from_url(redis_url)
        channel = _channel()
        try:
            # when a message is published as soon as `subscribe` has returned
            async with broker.subscribe(channel) as subscriber:
                await publisher.publish(channel, json.dumps({"eventId": 1}))
                received = await asyncio.wait_for(subscriber.next(), 5)
        finally:
            await publisher.aclose()
            await broker.close()
    # then the subscriber has it: `subscribe` returned only once Redis had subscribed it
    assert received == {"eventId": 1}


async def test_a_failed_subscribe_leaves_the_channel_usable(broker: Broker) -> None:
    # given the first SUBSCRIBE to a channel fails (Redis went away for a moment)
    channel = _channel()
    pubsub = broker._pubsub = broker.redis.pubsub()
    real_subscribe = pubsub.subscribe
    calls = 0

    async def fails_once(*channels: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise redis.ConnectionError("injected: connection refused")
        return await real_subscribe(*channels)

    pubsub.subscribe = fails_once
    with pytest.raises(redis.ConnectionError):
        async with broker.subscribe(channel):
            pass

    # when the next subscriber comes and a message is published
    async with broker.subscribe(channel) as subscriber:
        await broker.publish(channel, {"eventId": 1})
        received = await asyncio.wait_for(subscriber.next(), 5)

    # then it is subscribed for real and gets the message
    assert received == {"eventId": 1}
    assert calls == 2


async def test_a_subscriber_that_keeps_up_never_overflows(broker: Broker) -> None:
    # given a subscriber with a buffer of two that reads as messages come
    channel = _channel()
    async with broker.subscribe(channel, buffer=2) as subscriber:
        # when ten are published, one at a time
        received = []
        for event_id in range(10):
            await broker.publish(channel, {"eventId": event_id})
            received.append(await asyncio.wait_for(subscriber.next(), 10))
    # then it got them all, in order
    assert [m["eventId"] for m in received] == list(range(10))
    assert not subscriber.overflowed


async def test_the_last_subscriber_leaving_unsubscribes_from_redis(
    broker: Broker, redis_url: str
) -> None:
    # given two local subscribers of one channel: one Redis subscription
    channel = _channel()
    observer = aredis.from_url(redis_url)
    try:
        async with broker.subscribe(channel), broker.subscribe(channel):
            during = (await observer.pubsub_numsub(channel))[0][1]
        # when both have left
        async with asyncio.timeout(5):
            while (after := (await observer.pubsub_numsub(channel))[0][1]) != 0:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        await observer.aclose()
    # then Redis had one subscription for both, and none once they left
    assert during == 1
    assert after == 0


async def test_concurrent_listening_checks_share_a_round_trip_and_answer_each_channel(
    broker: Broker, redis_url: str
) -> None:
    # given another process subscribed to some channels and not to others
    heard, unheard = [_channel() for _ in range(5)], [_channel() for _ in range(5)]
    other = aredis.from_url(redis_url)
    pubsub = other.pubsub()
    try:
        await pubsub.subscribe(*heard)
        asked_before = await _numsub_calls(other)

        # when requests check them all at once (each channel twice)
        channels = [*heard, *unheard] * 2
        answers = await asyncio.gather(*(broker.listening(c) for c in channels))

        # then each is answered for its own channel, and Redis was asked once
        assert answers == [True] * 5 + [False] * 5 + [True] * 5 + [False] * 5
        assert await _numsub_calls(other) - asked_before == 1
        # and a check on its own still gets its answer
        assert await broker.listening(heard[0]) and not await broker.listening(unheard[0])
    finally:
        await pubsub.aclose()
        await other.aclose()


async def _numsub_calls(client: aredis.Redis) -> int:
    """How many PUBSUB NUMSUB commands Redis ran so far (its own command statistics; before
    Redis 7 they count as PUBSUB, of which the broker sends no other)."""
    return await command_calls(client, "pubsub|numsub", "pubsub")


async def test_listening_checks_ask_redis_again_once_it_is_back(tmp_path: Path) -> None:
    # given a broker on a Redis of its own, and a channel nobody listens to
    server = EmbeddedRedis(tmp_path)
    broker = Broker(await asyncio.to_thread(server.start))
    channel = _channel()
    try:
        assert not await broker.listening(channel)
        # when Redis stops, then the check says "publish" (a message may be heard)
        await asyncio.to_thread(server.stop)
        assert await broker.listening(channel)
        # and once it is back, Redis answers again (the connection is remade)
        await asyncio.to_thread(server.start)
        assert not await broker.listening(channel)
    finally:
        await broker.close()
        await asyncio.to_thread(server.stop)
