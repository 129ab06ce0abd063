"""GET /ready: 200 when the database, Redis and a worker all answer; else 503 and which not.

/health stays liveness (the process and its database answer): a load balancer restarts on
/health and routes on /ready.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise import connections

from core import cache
from core.settings import Settings
from workers.heartbeat import last_beat_age


async def _database() -> str:
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as exc:  # any failure means "not ready": say which
        return f"error: {type(exc).__name__}"
    return "ok"


async def _redis_and_worker(redis: Any, max_age: int) -> tuple[str, str]:
    if redis is None:
        return "error: not connected", "unknown: no Redis"
    try:
        await redis.ping()
        age = await last_beat_age(redis)
    except Exception as exc:
        return f"error: {type(exc).__name__}", "unknown: no Redis"
    if age is None:
        return "ok", "error: no worker heartbeat"
    if age > max_age:
        return "ok", f"error: last worker heartbeat {age:.0f} s ago"
    return "ok", "ok"


def ready_endpoint(
    settings: Settings, redis: Callable[[], Any]
) -> Callable[[Request], Awaitable[Response]]:
    async def ready(_request: Request) -> Response:
        redis_check, worker_check = await _redis_and_worker(
            redis(), settings.ready_heartbeat_seconds
        )
        checks = {"database": await _database(), "redis": redis_check, "worker": worker_check}
        ok = all(check == "ok" for check in checks.values())
        # Not a check: without the broadcast the caches are off and reads go to the database.
        caches = "following" if cache.following() else "off"
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "checks": checks, "caches": caches},
            status_code=200 if ok else 503,
        )

    return ready
