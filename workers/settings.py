"""arq `WorkerSettings`: the jobs, their schedule, and the database they run against.

Run with `gamify worker` (or `arq workers.settings.WorkerSettings`, which reads REDIS_URL).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from arq.connections import RedisSettings
from arq.cron import cron
from arq.typing import WorkerCoroutine
from arq.worker import Function
from tortoise import Tortoise
from tortoise.context import get_current_context

from core.after_commit import unit_of_work
from core.broker import Broker
from core.queue import ArqQueue, NoQueue
from core.settings import load_settings, tortoise_config
from workers.heartbeat import start_heartbeat, stop_heartbeat
from workers.points import settle_points
from workers.points_log import fetch_points_log
from workers.sync import apply_sync_batch, relay_sync_batches
from workers.tiers import review_tiers
from workers.webhook_http import new_client
from workers.webhooks import deliver_webhook, relay_webhooks


def redis_settings_from_url(url: str) -> RedisSettings:
    """arq connection settings from `redis://`, `rediss://` or `unix://` URLs.

    `redis://[user:password@]host[:port][/db]`, `unix:///path/to/socket[?db=N]`; a `?db=N`
    query wins over the path.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"Use a redis://, rediss:// or unix:// URL, not {parts.scheme}://")
    query = parse_qs(parts.query)
    credentials: dict[str, Any] = {
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
    }
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("A unix:// URL needs a socket path")
        return RedisSettings(
            unix_socket_path=unquote(parts.path),
            database=int(query.get("db", ["0"])[0]),
            **credentials,
        )
    path_db = parts.path.strip("/")
    return RedisSettings(
        host=parts.hostname or "localhost",
        port=parts.port or 6379,
        database=int(query["db"][0]) if "db" in query else int(path_db or 0),
        ssl=parts.scheme == "rediss",
        **credentials,
    )


async def startup(ctx: dict[str, Any]) -> None:
    """Settings into `ctx` (unless given), and the database unless the host process opened it.

    The host is `gamify serve` (the app's lifespan opened it) or a test. Otherwise the
    context is kept in `ctx` and closed on shutdown. Jobs run in tasks that the worker's
    main task creates, so they inherit the context variable set here: no global fallback,
    which would clash with the app's in `gamify serve`.
    """
    if "settings" not in ctx:
        ctx["settings"] = load_settings()
    start_heartbeat(ctx)  # for the API's /ready
    if "http" not in ctx:
        # One pooled client for every delivery of this worker (jobs get copies of ctx
        # that share it), so connections to the same receiver are reused.
        ctx["http"] = new_client(ctx["settings"].webhook_timeout)
    redis_url = ctx["settings"].redis_url or os.environ.get("REDIS_URL")
    if redis_url and "broker" not in ctx:
        # Jobs that change redemptions tell live subscribers, as the API does.
        ctx["broker"] = Broker(redis_url)
    if "tortoise" in ctx:  # a start-up that is tried again (the worker waited for Redis)
        return
    current = get_current_context()
    if current is not None and current.inited:
        ctx["tortoise"], ctx["owns_tortoise"] = current, False
        return
    settings = ctx["settings"]
    config = tortoise_config(settings.effective_database_url, settings.db_pool_size)
    ctx["tortoise"], ctx["owns_tortoise"] = await Tortoise.init(config=config), True


async def shutdown(ctx: dict[str, Any]) -> None:
    await stop_heartbeat(ctx)
    http = ctx.pop("http", None)  # the webhook client made at startup
    if http is not None:
        await http.aclose()
    broker = ctx.pop("broker", None)
    if broker is not None:
        await broker.close()
    if ctx.get("owns_tortoise"):
        await ctx["tortoise"].close_connections()


def one_unit(job: WorkerCoroutine) -> WorkerCoroutine:
    """The job as one unit of work (core.after_commit): the webhooks, jobs and live
    messages its domain calls said run when it ends."""

    @functools.wraps(job)
    async def run(ctx: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        pool = ctx.get("redis")  # arq's own; absent where a test calls the job itself
        async with unit_of_work(ArqQueue(pool) if pool else NoQueue(), ctx.get("broker")):
            return await job(ctx, *args, **kwargs)

    return cast(WorkerCoroutine, run)


def _unit_function(job: Function | WorkerCoroutine) -> Function | WorkerCoroutine:
    if isinstance(job, Function):
        return dataclasses.replace(job, coroutine=one_unit(job.coroutine))
    return one_unit(job)


class WorkerSettings:
    functions = [
        _unit_function(job)
        for job in (
            settle_points,
            deliver_webhook,
            relay_webhooks,
            apply_sync_batch,
            relay_sync_batches,
            fetch_points_log,
            review_tiers,
        )
    ]
    cron_jobs = [
        cron(one_unit(settle_points)),  # every minute, at second 0
        # Retries are due from 5 s after a failure on; the relay is what sends them.
        cron(one_unit(relay_webhooks), second=set(range(0, 60, 10))),
        # Uploads whose job was lost; a normal one is applied as soon as it is accepted.
        cron(one_unit(relay_sync_batches), second={30}),
        # Downgrades happen at review dates (days apart): every few minutes is on time.
        cron(one_unit(review_tiers), minute=set(range(0, 60, 5)), second={15}),
    ]
    on_startup = startup
    on_shutdown = shutdown
    redis_settings = redis_settings_from_url(os.environ.get("REDIS_URL") or "redis://localhost")
    # Measured (STACK-NOTES): the defaults run ~200 no-op jobs/s, these ~1,300.
    max_jobs = 100
    poll_delay = 0.01
