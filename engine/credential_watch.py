"""WebSockets are closed when their credential stops being valid.

A socket authenticates once, in connection_init, and may stay open for hours. So:
- a token's socket is closed at the token's expiry (4401 "Token expired", which the front
  ends take as "log in again");
- a revoked API key's sockets are closed on every API process: the revoking process
  publishes the key on core.broker's revoked_credentials_channel, and each process closes
  its own sockets of that key (4403);
- every credential is checked again on each subscribe (engine.graphql), and every open
  socket's each time the revocation channel is (re)subscribed and every RECHECK_SECONDS:
  a revocation published while this process was away from Redis, or an admin removed
  meanwhile, still closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable
from typing import Any, Protocol
from uuid import UUID

import redis.asyncio as redis

from core import cache, clock
from core.broker import SUBSCRIBE_TIMEOUT, revoked_credentials_channel
from core.errors import AuthError, TokenExpired

log = logging.getLogger(__name__)
EXPIRED = (4401, "Token expired")
REVOKED = (4403, "API key revoked")
RECHECK_SECONDS = 60.0
RETRY_SECONDS = 1.0


class Socket(Protocol):
    """An acknowledged WebSocket connection (engine.graphql's handler)."""

    async def close_for(self, code: int, reason: str) -> None: ...

    async def recheck(self) -> None:
        """Authenticate the connection's credential again; raises AuthError if it fails."""


class OpenSockets:
    """The acknowledged WebSockets of this process, by credential subject."""

    def __init__(self) -> None:
        self._by_subject: dict[UUID, set[Socket]] = {}
        self._expiries: dict[Socket, asyncio.TimerHandle] = {}

    def add(self, socket: Socket, subject: UUID, expires_at: int | None) -> None:
        self._by_subject.setdefault(subject, set()).add(socket)
        if expires_at is not None:
            delay = max(0.0, expires_at - clock.now().timestamp())
            loop = asyncio.get_running_loop()
            self._expiries[socket] = loop.call_at(
                loop.time() + delay, lambda: _spawn(socket.close_for(*EXPIRED))
            )

    def remove(self, socket: Socket, subject: UUID) -> None:
        sockets = self._by_subject.get(subject)
        if sockets is not None:
            sockets.discard(socket)
            if not sockets:
                del self._by_subject[subject]
        timer = self._expiries.pop(socket, None)
        if timer is not None:
            timer.cancel()

    def revoked(self, subject: UUID) -> None:
        for socket in list(self._by_subject.get(subject, ())):
            _spawn(socket.close_for(*REVOKED))

    async def recheck_all(self) -> None:
        for sockets in list(self._by_subject.values()):
            for socket in list(sockets):
                try:
                    await close_unless_valid(socket)
                except Exception as exc:  # the database blinked: the next recheck decides
                    log.warning("credential recheck failed (%s)", type(exc).__name__)


async def close_unless_valid(socket: Socket) -> bool:
    """Whether the socket's credential still holds; if not, the socket is being closed."""
    try:
        await socket.recheck()
    except TokenExpired:
        await socket.close_for(*EXPIRED)
        return False
    except AuthError as exc:
        await socket.close_for(4403, exc.message)
        return False
    return True


async def watch_revocations(redis_url: str, sockets: OpenSockets) -> None:
    """Runs for the life of the process (the app's lifespan cancels it), on a Redis
    connection of its own: the broker's subscriptions come and go with live clients and
    tell them to resume after a blink, which this has no use for. It also follows the
    caches' invalidations (core.cache): the caches serve only while it does."""
    while True:
        client = redis.from_url(redis_url)
        pubsub = client.pubsub()
        try:
            await _follow(pubsub, sockets)
        except (redis.RedisError, OSError) as exc:
            log.info("revocations: reconnecting to Redis (%s)", type(exc).__name__)
        except Exception:
            # This loop must outlive anything one message or one recheck can do to it.
            log.exception("revocations: watch failed; starting again")
        finally:
            cache.follow(False)
            await pubsub.aclose()
            await client.aclose()
        await asyncio.sleep(RETRY_SECONDS)


async def _follow(pubsub: Any, sockets: OpenSockets) -> None:
    await pubsub.subscribe(revoked_credentials_channel(), cache.CACHE_CHANNEL)
    async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
        confirmed = 0
        while confirmed < 2:
            if (await pubsub.get_message(timeout=1.0) or {}).get("type") == "subscribe":
                confirmed += 1
    cache.follow(True)
    # Subscribed: whatever was revoked before, while this process did not listen, is in
    # the database.
    await sockets.recheck_all()
    checked = time.monotonic()
    while True:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        if message is not None and message.get("type") == "message":
            if message["channel"] in (cache.CACHE_CHANNEL, cache.CACHE_CHANNEL.encode()):
                cache.dropped(message["data"])
            else:
                _revoked(message["data"], sockets)
        if time.monotonic() - checked > RECHECK_SECONDS:
            await sockets.recheck_all()
            checked = time.monotonic()


def _revoked(data: bytes, sockets: OpenSockets) -> None:
    try:
        key_id = UUID(str(json.loads(data)["apiKeyId"]))
    except (ValueError, TypeError, KeyError):
        log.warning("revocations: ignored a malformed message")
        return
    sockets.revoked(key_id)


_tasks: set[asyncio.Task[None]] = set()


def _spawn(closing: Awaitable[None]) -> None:
    async def run() -> None:
        with contextlib.suppress(Exception):
            await closing

    task = asyncio.get_running_loop().create_task(run())
    _tasks.add(task)  # held until done: the loop keeps only weak references
    task.add_done_callback(_tasks.discard)
