"""The worker's heartbeat: a Redis key it refreshes every few seconds, which the API's
/ready reads to tell whether any worker is alive."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from redis.exceptions import RedisError

HEARTBEAT_KEY = "gamify:worker:heartbeat"
INTERVAL_SECONDS = 5.0
log = logging.getLogger(__name__)


async def beat(redis: Any) -> None:
    # The key outlives a few missed beats, then disappears with the worker.
    await redis.set(HEARTBEAT_KEY, repr(time.time()), ex=int(INTERVAL_SECONDS * 6))


async def _beat_forever(redis: Any) -> None:
    while True:
        try:
            await beat(redis)
        except (RedisError, OSError) as exc:
            # Redis away: /ready says so; keep trying, the worker is not dead.
            log.warning("worker heartbeat not written: %s", exc)
        await asyncio.sleep(INTERVAL_SECONDS)


def start_heartbeat(ctx: dict[str, Any]) -> None:
    """From the worker's startup: beat on its Redis (arq's `ctx["redis"]`) until
    `stop_heartbeat`."""
    if "redis" in ctx and "heartbeat" not in ctx:
        ctx["heartbeat"] = asyncio.create_task(_beat_forever(ctx["redis"]))


async def stop_heartbeat(ctx: dict[str, Any]) -> None:
    task = ctx.pop("heartbeat", None)
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def last_beat_age(redis: Any) -> float | None:
    """Seconds since the last beat of any worker, or None if none beat recently."""
    raw = await redis.get(HEARTBEAT_KEY)
    if raw is None:
        return None
    return max(0.0, time.time() - float(raw))
