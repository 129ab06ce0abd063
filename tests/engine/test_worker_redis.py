"""The worker of `gamify worker` and `gamify serve` outlives Redis going away and coming
back: a real redis-server is stopped and started again, twice, under a running worker (in
this process, and as the `gamify worker` command)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from arq.connections import ArqRedis, create_pool
from arq.jobs import Job

from core.settings import Settings
from engine.embedded import EmbeddedRedis
from engine.runtime import new_worker, start_worker, stop_worker
from workers.settings import redis_settings_from_url

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")

WAIT = 30.0  # seconds any one step may take on a loaded machine


async def _until(condition: Callable[[], bool]) -> None:
    """Wait for what the worker logs or does; neither offers an event to wait on."""
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def _enqueue(pool: ArqRedis, name: str) -> Job:
    """Enqueue once Redis answers again (the pool's first command may meet a dead socket)."""
    async with asyncio.timeout(WAIT):
        while True:
            try:
                job = await pool.enqueue_job(name)
            except (ConnectionError, OSError) as exc:
                logging.getLogger(__name__).info("enqueue retried: %s", exc)
                await asyncio.sleep(0.05)
                continue
            assert job is not None
            return job


async def test_the_worker_reconnects_after_every_redis_outage(
    db: str, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given a worker on a redis-server of its own, that has run a job
    caplog.set_level(logging.WARNING, logger="workers.claiming")
    server = EmbeddedRedis(tmp_path)
    url = await asyncio.to_thread(server.start)
    queue = f"test:{uuid.uuid4().hex}"
    worker = new_worker(replace(settings, redis_url=url), queue_name=queue, cron_jobs=[])
    main = start_worker(worker)
    pool = await create_pool(redis_settings_from_url(url), default_queue_name=queue)
    try:
        first = await _enqueue(pool, "settle_points")
        assert await first.result(timeout=WAIT) == 0

        for outage in (1, 2):
            # when Redis goes away, long enough for the worker to notice, and comes back
            noticed = len([r for r in caplog.records if "Redis is unavailable" in r.message])
            await asyncio.to_thread(server.stop)
            await _until(
                lambda n=noticed: (
                    main.done()
                    or len([r for r in caplog.records if "Redis is unavailable" in r.message]) > n
                )
            )
            await asyncio.to_thread(server.start)

            # then the worker is still running, and runs the next job
            assert not main.done(), f"the worker stopped at outage {outage}: {main.exception()}"
            job = await _enqueue(pool, "settle_points")
            assert await job.result(timeout=WAIT) == 0
    finally:
        failure = await stop_worker(worker)
        await pool.aclose()
        await asyncio.to_thread(server.stop)

    # and it stopped cleanly when asked
    assert failure is None


async def test_a_worker_started_before_redis_waits_for_it(
    db: str, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given a worker started while its Redis is not running yet
    caplog.set_level(logging.WARNING, logger="workers.claiming")
    server = EmbeddedRedis(tmp_path)
    url = f"unix://{server.socket_path}?db=0"
    queue = f"test:{uuid.uuid4().hex}"
    worker = new_worker(replace(settings, redis_url=url), queue_name=queue, cron_jobs=[])
    main = start_worker(worker)
    pool: ArqRedis | None = None
    try:
        await _until(lambda: main.done() or "Redis is unavailable" in caplog.text)
        assert not main.done(), f"the worker stopped: {main.exception()}"

        # when Redis starts
        await asyncio.to_thread(server.start)
        pool = await create_pool(redis_settings_from_url(url), default_queue_name=queue)

        # then the worker runs the jobs enqueued there
        job = await _enqueue(pool, "settle_points")
        assert await job.result(timeout=WAIT) == 0
    finally:
        failure = await stop_worker(worker)
        if pool is not None:
            await pool.aclose()
        await asyncio.to_thread(server.stop)
    assert failure is None


async def test_gamify_worker_keeps_running_across_redis_outages(db: str, tmp_path: Path) -> None:
    # given `gamify worker`, an OS process of its own, on a redis-server of the test's own
    server = EmbeddedRedis(tmp_path / "redis")
    url = await asyncio.to_thread(server.start)
    env = {
        **os.environ,
        "DATABASE_URL": db,
        "REDIS_URL": url,
        "GAMIFY_DATA_DIR": str(tmp_path / "data"),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "engine.cli", "worker",
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    logged: list[str] = []

    async def read_log() -> None:
        assert process.stderr is not None
        async for line in process.stderr:
            logged.append(line.decode(errors="replace"))

    reader = asyncio.create_task(read_log())
    pool = await create_pool(redis_settings_from_url(url))
    try:
        first = await _enqueue(pool, "settle_points")
        assert await first.result(timeout=WAIT) == 0

        for _ in (1, 2):
            # when Redis goes away until the worker notices, and comes back
            noticed = sum("Redis is unavailable" in line for line in logged)
            await asyncio.to_thread(server.stop)
            await _until(
                lambda n=noticed: (
                    process.returncode is not None
                    or sum("Redis is unavailable" in line for line in logged) > n
                )
            )
            await asyncio.to_thread(server.start)

            # then the process still runs, and runs the next job
            assert process.returncode is None, "".join(logged[-20:])
            job = await _enqueue(pool, "settle_points")
            assert await job.result(timeout=WAIT) == 0
    finally:
        if process.returncode is None:
            process.terminate()
        async with asyncio.timeout(WAIT):
            code = await process.wait()
        await reader
        await pool.aclose()
        await asyncio.to_thread(server.stop)

    # and it stops cleanly on SIGTERM
    assert code == 0, "".join(logged[-20:])
