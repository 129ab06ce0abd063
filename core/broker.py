"""The event broker: JSON messages over Redis pub/sub, fanned out inside each process.

Publishers (API processes, workers) publish after their transaction commits. Each API
process holds ONE Redis subscription per channel in use and hands every message to its
local subscribers through bounded queues, so one slow WebSocket never slows the others
or the publisher: its queue overflows and that subscriber alone is told to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as redis

from core.batching import Batcher

log = logging.getLogger(__name__)
DEFAULT_BUFFER = 1000
SUBSCRIBE_TIMEOUT = 10.0  # seconds Redis may take to confirm a SUBSCRIBE


class Overflowed(Exception):
    """The subscriber fell behind by more than its buffer: it must resume from a cursor."""


class Interrupted(Exception):
    """The broker lost its Redis connection: messages published meanwhile never reached this
    process, so the subscriber must resume from a cursor."""


class Unavailable(redis.ConnectionError):
    """Redis cannot be reached to subscribe: live updates are unavailable for now."""


_WAKE: dict[str, Any] = {}  # queued to wake a reader waiting on an empty queue


class Subscriber:
    def __init__(self, buffer: int) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=buffer)
        self.overflowed = False
        self.interrupted = False

    def offer(self, message: dict[str, Any]) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            # A full queue means its reader is busy elsewhere, not waiting: it sees the
            # flag on its next read. Dropping the rest keeps this subscriber from costing more.
            self.overflowed = True

    def interrupt(self) -> None:
        self.interrupted = True
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(_WAKE)

    async def next(self) -> dict[str, Any]:
        if self.overflowed:
            raise Overflowed
        if self.interrupted:
            raise Interrupted
        message = await self.queue.get()
        if self.interrupted:
            raise Interrupted
        return message


class Broker:
    def __init__(self, url: str) -> None:
        self.redis = redis.from_url(url)
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribers: dict[str, set[Subscriber]] = {}
        self._confirmations: dict[str, asyncio.Event] = {}  # SUBSCRIBEs Redis has yet to confirm
        self._lock = asyncio.Lock()
        # Checks of concurrent requests (two per redemption) asked in one round trip.
        self._numsub: Batcher[str, bool] = Batcher(self._listened)

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Best effort: a lost message is recovered by clients resuming with a cursor."""
        try:
            await self.redis.publish(channel, json.dumps(message, default=str))
        except redis.RedisError:
            log.warning("could not publish to %s", channel)

    async def listening(self, channel: str) -> bool:
        """Whether any process subscribes to `channel`: publishers skip building messages
        nobody would receive (a client that resumes later reads the stored events)."""
        if channel in self._subscribers:
            return True  # this process does (Redis confirmed it): no round trip to ask
        try:
            return await self._numsub.submit(channel)
        except redis.RedisError:
            return True

    async def _listened(self, channels: list[str]) -> list[bool]:
        counts = dict(await self.redis.pubsub_numsub(*channels))  # names as bytes
        return [int(counts.get(channel.encode(), 0)) > 0 for channel in channels]

    @contextlib.asynccontextmanager
    async def subscribe(
        self, channel: str, buffer: int = DEFAULT_BUFFER
    ) -> AsyncIterator[Subscriber]:
        """Messages on `channel` from the moment this returns (already subscribed).

        Raises Unavailable when Redis cannot be reached to subscribe."""
        subscriber = Subscriber(buffer)
        async with self._lock:
            if self._pubsub is None:
                self._pubsub = self.redis.pubsub()
            if channel not in self._subscribers:
                try:
                    await self._subscribe_confirmed(channel)
                except (redis.RedisError, OSError) as exc:
                    raise Unavailable(f"Redis cannot be reached ({type(exc).__name__})") from exc
                # Listed only once Redis confirmed it: a failed SUBSCRIBE must not leave the
                # channel looking subscribed to everyone who comes after.
                self._subscribers[channel] = set()
            self._subscribers[channel].add(subscriber)
        try:
            yield subscriber
        finally:
            async with self._lock:
                listeners = self._subscribers.get(channel)
                if listeners is not None:
                    listeners.discard(subscriber)
                    if not listeners:
                        del self._subscribers[channel]
                        with contextlib.suppress(redis.RedisError):
                            await self._pubsub.unsubscribe(channel)

    async def _subscribe_confirmed(self, channel: str) -> None:
        """SUBSCRIBE, and wait until Redis says it is done: until then a message published by
        another connection is not delivered, and a caller that replays stored events after
        subscribing could miss one committed in between."""
        confirmed = self._confirmations[channel] = asyncio.Event()
        try:
            await self._pubsub.subscribe(channel)
            if self._reader is None or self._reader.done():
                self._reader = asyncio.create_task(self._read())
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await confirmed.wait()
        except TimeoutError:
            raise redis.TimeoutError(f"Redis did not confirm SUBSCRIBE {channel}") from None
        finally:
            del self._confirmations[channel]

    async def _read(self) -> None:
        while True:
            if not self._subscribers and not self._confirmations:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except redis.RedisError:
                # Redis keeps nothing for a subscriber that was away: tell every local
                # subscriber, rather than let it carry on past a silent gap.
                log.warning("broker connection lost; reconnecting")
                for listeners in self._subscribers.values():
                    for subscriber in listeners:
                        subscriber.interrupt()
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = message["channel"].decode()
            if message["type"] == "subscribe":
                if (confirmed := self._confirmations.get(channel)) is not None:
                    confirmed.set()
                continue
            if message["type"] != "message":
                continue
            try:
                payload = json.loads(message["data"])
            except ValueError:
                continue
            # No copy of the set: `offer` never waits, so nobody joins or leaves meanwhile.
            for subscriber in self._subscribers.get(channel, ()):
                subscriber.offer(payload)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self.redis.aclose()


def redemptions_channel(tenant_id: object) -> str:
    return f"gamify:{tenant_id}:redemptions"


def balances_channel(tenant_id: object) -> str:
    return f"gamify:{tenant_id}:balances"


def revoked_credentials_channel() -> str:
    """Revoked API keys, for every API process to close their WebSockets."""
    return "gamify:credentials:revoked"
