"""An arq worker in an OS process of its own, for the webhook crash and scale tests.

usage: python tests/webhooks/worker_process.py QUEUE_NAME

The worker is `workers.settings.WorkerSettings` (the jobs and the relay cron) as
`gamify worker` runs it, configured from the same environment (DATABASE_URL, REDIS_URL,
GAMIFY_WEBHOOK_*), but on QUEUE_NAME, so that a test's jobs meet only the test's workers.
It prints READY once connected to Redis and the database, and runs until SIGTERM (a clean
stop) or SIGKILL (a crash, which is what the tests send).

The second half of this module is the test side: start such a process, wait for it, kill it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit
from uuid import UUID, uuid4

from arq.connections import ArqRedis, create_pool

from core.queue import ArqQueue
from models.webhooks.outbox import Deliver, attempt_key
from models.webhooks.tables import WebhookDelivery

ROOT = Path(__file__).resolve().parents[2]
READY = "READY"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
# The webhook tests' own Redis database: the system Redis may serve other test runs on
# db 0, so FLUSHDB (a crash window under test) may only ever hit this one.
REDIS_DB = 5


async def _run(queue_name: str) -> None:
    from core.settings import load_settings
    from engine.runtime import new_worker, start_worker, stop_worker
    from workers.settings import startup

    async def startup_then_ready(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        print(READY, flush=True)

    worker = new_worker(load_settings(), queue_name=queue_name, on_startup=startup_then_ready)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    main = start_worker(worker)
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([main, waiter], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    failure = await stop_worker(worker)
    if failure is not None:
        raise RuntimeError("The worker failed") from failure


def main(argv: list[str]) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(_run(argv[1]))


# ---- the test side


def dedicated_redis_url(url: str, db: int = REDIS_DB) -> str:
    """`url` on its own database if it names one other than 0 (GAMIFY_TEST_REDIS_URL of a
    run given a database of its own), else on `db` (a `?db=N` query wins over the path,
    see redis_settings_from_url)."""
    parts = urlsplit(url)
    in_path = "" if parts.scheme == "unix" else parts.path.strip("/")
    named = parse_qs(parts.query).get("db", [in_path])[0]
    if named not in ("", "0"):
        return url
    return urlunsplit(parts._replace(query=f"db={db}"))


@dataclass
class Queue:
    """A test's own arq queue, on the webhook tests' Redis database."""

    url: str
    name: str
    pool: ArqRedis

    async def size(self) -> int:
        return int(await self.pool.zcard(self.name))


@contextlib.asynccontextmanager
async def open_queue(redis_url: str) -> AsyncIterator[Queue]:
    from workers.settings import redis_settings_from_url

    url = dedicated_redis_url(redis_url)
    name = f"test:webhooks:{uuid4().hex}"
    pool = await create_pool(redis_settings_from_url(url), default_queue_name=name)
    try:
        yield Queue(url, name, pool)
    finally:
        # Jobs left behind (a killed worker's) would stay in the sorted set for good.
        left = [job.decode() for job in await pool.zrange(name, 0, -1)]
        for prefix in ("arq:job:", "arq:in-progress:", "arq:retry:", "arq:result:"):
            if left:
                await pool.delete(*(prefix + job for job in left))
        await pool.delete(name)
        await pool.aclose()


async def enqueue_deliveries(queue: Queue, ids: list[UUID]) -> None:
    """Enqueue the deliveries' current attempts as the after-commit effect does."""
    rows = await WebhookDelivery.filter(id__in=ids)
    attempts = tuple(
        (r.id, attempt_key(r.attempt_count, r.next_attempt_at, r.leased_until)) for r in rows
    )
    await Deliver(attempts).run(ArqQueue(queue.pool), None)


def worker_environment(database_url: str, queue: Queue, **settings: str) -> dict[str, str]:
    """What a worker process needs: the test database, the queue's Redis, webhooks to
    127.0.0.1 allowed, and `settings` (GAMIFY_WEBHOOK_LEASE_SECONDS="2", ...)."""
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": queue.url,
        "GAMIFY_WEBHOOK_ALLOW_PRIVATE": "1",
        # The settings fixture put the test data dir and secret key in the environment.
        "GAMIFY_DATA_DIR": os.environ["GAMIFY_DATA_DIR"],
        **settings,
    }


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    log_path: Path
    log_file: IO[bytes]

    @classmethod
    async def start(cls, queue_name: str, env: dict[str, str], log_path: Path) -> WorkerProcess:
        """Start a worker and wait until it says READY (bounded)."""
        log_file = log_path.open("wb")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__)),
            queue_name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=log_file,
            cwd=ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
        )
        started = cls(process, log_path, log_file)
        try:
            assert process.stdout is not None
            async with asyncio.timeout(START_TIMEOUT):
                line = await process.stdout.readline()
        except BaseException:
            await started.kill()
            raise
        if line.decode().strip() != READY:
            await started.kill()
            raise AssertionError(f"worker did not start: {line!r}\n{started.log()}")
        return started

    @property
    def running(self) -> bool:
        return self.process.returncode is None

    def log(self) -> str:
        self.log_file.flush()
        return self.log_path.read_text(errors="replace")

    async def kill(self) -> None:
        """SIGKILL: the process dies wherever it is, with no clean-up of any kind."""
        if self.running:
            self.process.kill()
        await self.process.wait()
        self.log_file.close()

    async def stop(self) -> int:
        """SIGTERM and wait (bounded); SIGKILL if it does not end. Returns its exit code."""
        if self.running:
            self.process.terminate()
            try:
                async with asyncio.timeout(STOP_TIMEOUT):
                    await self.process.wait()
            except TimeoutError:
                self.process.kill()
        code = await self.process.wait()
        self.log_file.close()
        return code


if __name__ == "__main__":
    main(sys.argv)
