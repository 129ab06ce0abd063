"""Counters in Redis, shared by every process: fixed windows that limit requests and logins.

A counter is a Redis key incremented once per hit and expiring at the end of its window
(set on the first hit only, so hitting it again never extends the window). Every process
counts into the same keys, so a limit holds for the deployment, not per process.

When Redis cannot be reached the counters say nothing (`None`) and callers let the request
through: rate limiting protects the service, it must not take it down with Redis.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as redis

from core.batching import Batcher

log = logging.getLogger(__name__)
PREFIX = "gamify:limit:"

# INCR each key; a key that has no expiry yet (its first hit) gets its window.
# Returns count and milliseconds to the window's end, pairwise, in the keys' order.
_HIT = """
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[i])
    ttl = tonumber(ARGV[i])
  end
  out[#out + 1] = n
  out[#out + 1] = ttl
end
return out
"""


class RateLimited(Exception):
    """Too many requests or attempts: the caller may retry after `retry_after` seconds."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """At most `limit` hits per `window` seconds on `key` (a `limit` of 0 is no limit)."""

    key: str
    limit: int
    window: int


@dataclass(frozen=True)
class Count:
    limit: int
    count: int
    reset_ms: int  # until the window ends

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    @property
    def reset(self) -> int:
        """Whole seconds until the window ends (at least 1 while it runs)."""
        return max(1, math.ceil(self.reset_ms / 1000))


def key_part(value: str) -> str:
    """A credential or an email as part of a key: hashed, so Redis never holds the secret."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]


class Counters:
    """The counters of one process; `connect` before use (unconnected, they count nothing).

    The hits of concurrent requests go through one group commit (core.batching): one
    script call at a time counts every request that arrived meanwhile, each key
    incremented once per hit, in order, so each request gets its own exact count. Under
    load a Redis call per request was the largest cost of a widget's catalog read after
    its own work."""

    def __init__(self) -> None:
        self.redis: Any = None
        self._hit: Any = None
        self._batcher: Batcher[list[Limit], list[Count] | None] = Batcher(self._count)

    def connect(self, url: str) -> None:
        # Bounded waits: a request must not hang on a Redis that stopped answering.
        self.redis = redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
        self._hit = self.redis.register_script(_HIT)

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
            self.redis = None

    async def hit(self, limits: Sequence[Limit]) -> list[Count] | None:
        """Count one hit on every limit; None when nothing is counted."""
        active = [limit for limit in limits if limit.limit > 0]
        if self.redis is None or not active:
            return None
        return await self._batcher.submit(active)

    async def _count(self, batch: list[list[Limit]]) -> list[list[Count] | None]:
        limits = [limit for active in batch for limit in active]
        try:
            raw = await self._hit(
                keys=[PREFIX + limit.key for limit in limits],
                args=[limit.window * 1000 for limit in limits],
            )
        except (redis.RedisError, OSError) as exc:
            log.warning("rate limits not counted: Redis unavailable (%s)", type(exc).__name__)
            return [None] * len(batch)
        counted: list[list[Count] | None] = []
        at = 0
        for active in batch:
            counted.append(
                [
                    Count(limit.limit, int(raw[2 * (at + i)]), int(raw[2 * (at + i) + 1]))
                    for i, limit in enumerate(active)
                ]
            )
            at += len(active)
        return counted

    async def undo(self, key: str) -> None:
        """Take back one hit (a login that turned out right)."""
        await self._quietly("DECR", PREFIX + key)

    async def clear(self, key: str) -> None:
        await self._quietly("DEL", PREFIX + key)

    async def _quietly(self, command: str, key: str) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.execute_command(command, key)
        except (redis.RedisError, OSError) as exc:
            log.warning("rate limit not updated: Redis unavailable (%s)", type(exc).__name__)


def tightest(counts: Sequence[Count]) -> Count:
    """The count a client should be told about: an exceeded one, else the fewest remaining."""
    exceeded = [c for c in counts if c.exceeded]
    if exceeded:
        return max(exceeded, key=lambda c: c.reset_ms)
    return min(counts, key=lambda c: (c.remaining, -c.reset_ms))
