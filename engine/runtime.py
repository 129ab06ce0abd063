"""What the CLI commands run: database sessions, migrations, the arq worker, the server.

`serve` runs uvicorn and one arq worker in one event loop. It handles SIGINT/SIGTERM
itself (not uvicorn) so that it can stop in order: the worker first, letting its jobs end,
then the server, whose lifespan closes the database the jobs were using.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn
from arq.worker import Worker, get_kwargs
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate
from uvicorn.config import STARTUP_FAILURE

from core.after_commit import unit_of_work
from core.broker import Broker
from core.queue import NoQueue
from core.settings import Settings, tortoise_config
from engine.heap import freeze_started_heap
from engine.websocket import FrameWritingProtocol
from workers.claiming import ClaimingWorker
from workers.settings import WorkerSettings, redis_settings_from_url

logger = logging.getLogger("gamify")

JOB_GRACE_SECONDS = 10.0


@contextlib.asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[TortoiseContext]:
    """Tortoise for one command, in a context of its own that is closed on exit."""
    config = tortoise_config(settings.effective_database_url, settings.db_pool_size)
    async with TortoiseContext() as ctx:
        await ctx.init(config=config)
        yield ctx


@contextlib.asynccontextmanager
async def command(settings: Settings) -> AsyncIterator[None]:
    """A CLI command's database and unit of work (core.after_commit): what it changes is
    announced to the running API processes when it ends, through Redis when REDIS_URL names
    one. (An embedded Redis is `gamify serve`'s own: there a revoked key is noticed at the
    processes' next check, and a cached fact drops at its TTL.)"""
    broker = None if settings.redis_url is None else Broker(settings.redis_url)
    try:
        async with database(settings), unit_of_work(NoQueue(), broker):
            yield
    finally:
        if broker is not None:
            await broker.close()


async def apply_migrations(settings: Settings) -> list[str]:
    """Apply the migrations not applied yet; returns their names."""
    applied: list[str] = []

    def progress(event: str, app_label: str, name: str) -> None:
        if event == "apply_done":
            applied.append(f"{app_label}.{name}")

    config = tortoise_config(settings.effective_database_url, settings.db_pool_size)
    # migrate() initialises "the current" Tortoise context: give it one that is closed here,
    # so nothing of it leaks into the app or the worker started afterwards.
    async with TortoiseContext():
        await migrate(config=config, progress=progress)
    return applied


def new_worker(settings: Settings, **overrides: Any) -> Worker:
    """An arq worker for `WorkerSettings` on `settings.redis_url`, with `settings` in its ctx.

    Run it with `start_worker`, end it with `stop_worker`.
    """
    if settings.redis_url is None:
        raise ValueError("The worker needs a Redis URL")
    options: dict[str, Any] = {
        "redis_settings": redis_settings_from_url(settings.redis_url),
        "handle_signals": False,
        "ctx": {"settings": settings},
        **overrides,
    }
    return ClaimingWorker(**{**get_kwargs(WorkerSettings), **options})  # type: ignore[arg-type]


def start_worker(worker: Worker) -> asyncio.Task[None]:
    logger.info("arq worker for %s", ", ".join(worker.functions))
    # `main_task` is what `Worker.close()` cancels.
    worker.main_task = asyncio.create_task(worker.main())
    return worker.main_task


async def stop_worker(worker: Worker) -> BaseException | None:
    """Stop taking jobs, give running ones `JOB_GRACE_SECONDS`, then cancel and close.

    Returns what the worker failed with, if it failed before being stopped.
    """
    main = worker.main_task
    assert main is not None, "start_worker() first"
    worker.allow_pick_jobs = False
    running = [task for task in worker.tasks.values() if not task.done()]
    if running:
        await asyncio.wait(running, timeout=JOB_GRACE_SECONDS)
    try:
        await worker.close()
    except Exception:
        logger.exception("The worker did not close cleanly")
    await asyncio.wait([main])
    return None if main.cancelled() else main.exception()


async def run_worker(settings: Settings) -> None:
    """`gamify worker`: run until SIGINT/SIGTERM."""
    worker = new_worker(settings)
    freeze_started_heap()  # the jobs' modules are imported: see engine.heap
    with _stop_signals() as stop:
        main = start_worker(worker)
        await _until_first(stop, main)
    failure = await stop_worker(worker)
    if failure is not None:
        raise RuntimeError("The worker failed") from failure


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers, which would stop the app before the worker,
    and with an event for "started"."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:  # uvicorn's answer to a port in use or a failed lifespan
            self.should_exit = True
            return
        self.ready.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings, *, with_worker: bool) -> int:
    """The app on `settings.host:port`, plus one arq worker on `settings.redis_url`.

    Returns the exit status: 0, or uvicorn's 3 when the server did not start.
    """
    from engine.app import create_app  # here, so commands that do not serve need no app

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        access_log=settings.debug,
        log_config=None,  # our logging (engine.logging_setup): JSON or text, with request ids
        ws=FrameWritingProtocol,  # live updates write shared frames straight to sockets
    )
    server = _Server(config)
    worker: Worker | None = None
    failure: BaseException | None = None

    def force_exit() -> None:
        server.force_exit = True

    with _stop_signals(on_repeat=force_exit) as stop:
        serving = asyncio.create_task(server.serve())
        try:
            await _until_first(server.ready, serving)
            if server.started:
                freeze_started_heap()  # before the first request needs the time
            # Started after the app, the worker shares the app's database context.
            if server.started and with_worker:
                worker = new_worker(settings)
                await _until_first(stop, serving, start_worker(worker))
            else:
                await _until_first(stop, serving)
        finally:
            if worker is not None:
                failure = await stop_worker(worker)
            server.should_exit = True
            await serving
    if failure is not None:
        raise RuntimeError("The worker failed") from failure
    return 0 if server.started else STARTUP_FAILURE


async def _until_first(event: asyncio.Event, *tasks: asyncio.Task[None]) -> None:
    """Wait for `event` or for one of `tasks` to end, whichever comes first."""
    waiter = asyncio.create_task(event.wait())
    try:
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


@contextlib.contextmanager
def _stop_signals(on_repeat: Callable[[], None] | None = None) -> Iterator[asyncio.Event]:
    """An event set by SIGINT/SIGTERM; a repeated signal calls `on_repeat` (force exit)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def handle() -> None:
        if stop.is_set() and on_repeat is not None:
            on_repeat()
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, handle)
    try:
        yield stop
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
