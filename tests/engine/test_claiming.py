"""ClaimingWorker: arq's job claim in one Redis script keeps arq's guarantees."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from arq.connections import ArqRedis, create_pool
from arq.constants import in_progress_key_prefix
from arq.worker import func

from workers.claiming import ClaimingWorker, claims_in_one_trip
from workers.settings import redis_settings_from_url

# arq 0.28's Worker.close() calls redis-py's close(), deprecated since redis 5.0.1 for aclose().
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated close:DeprecationWarning")


async def record_run(ctx: dict[str, Any], tag: str) -> None:
    redis: ArqRedis = ctx["redis"]
    await redis.incr(f"{tag}:runs")
    job_key = in_progress_key_prefix + ctx["job_id"]
    await redis.set(f"{tag}:pttl:{ctx['job_id']}", await redis.pttl(job_key))
    await asyncio.sleep(0.005)


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    queue = f"test:claim:{uuid.uuid4().hex}"
    redis = await create_pool(redis_settings_from_url(redis_url), default_queue_name=queue)
    yield redis
    await redis.aclose()


def _worker(pool: ArqRedis, redis_url: str, **options: Any) -> ClaimingWorker:
    return ClaimingWorker(
        functions=[func(record_run, name="record_run")],
        redis_settings=redis_settings_from_url(redis_url),
        queue_name=pool.default_queue_name,
        **{
            "burst": True,
            "handle_signals": False,
            "poll_delay": 0.01,
            "max_jobs": 20,
            "keep_result": 0,
            **options,
        },
    )


async def test_three_workers_racing_on_one_queue_run_each_job_once(
    pool: ArqRedis, redis_url: str
) -> None:
    # given 300 jobs on one queue, and the installed arq is the version the script mirrors
    assert claims_in_one_trip()
    tag = uuid.uuid4().hex
    for n in range(300):
        await pool.enqueue_job("record_run", tag, _job_id=f"{tag}-{n}")

    # when three workers drain the queue at the same time
    workers = [_worker(pool, redis_url, job_timeout=30) for _ in range(3)]
    await asyncio.gather(*(w.async_run() for w in workers))
    for w in workers:
        await w.close()

    # then every job ran exactly once, and all three workers took part
    assert int(await pool.get(f"{tag}:runs") or 0) == 300
    assert sum(w.jobs_complete for w in workers) == 300
    assert all(w.jobs_complete > 0 for w in workers)
    # and while a job ran, its in-progress key carried arq's timeout (job timeout + 10 s),
    # so a job of a killed worker becomes claimable again once it runs out
    pttl = int(await pool.get(f"{tag}:pttl:{tag}-0") or 0)
    assert 30_000 < pttl <= 40_000


async def _until_runs(pool: ArqRedis, tag: str, count: int) -> None:
    async with asyncio.timeout(30):  # a loaded machine; a hang fails the test
        while int(await pool.get(f"{tag}:runs") or 0) < count:  # noqa: ASYNC110 - Redis has no event here
            await asyncio.sleep(0.01)


async def test_a_job_running_elsewhere_or_not_yet_due_is_not_started(
    pool: ArqRedis, redis_url: str
) -> None:
    # given a job another worker holds, a job deferred by a minute and a free job
    tag = uuid.uuid4().hex
    await pool.enqueue_job("record_run", tag, _job_id=f"{tag}-held")
    await pool.set(in_progress_key_prefix + f"{tag}-held", b"1", px=60_000)
    await pool.enqueue_job("record_run", tag, _job_id=f"{tag}-later", _defer_by=60)
    await pool.enqueue_job("record_run", tag, _job_id=f"{tag}-free")

    # when a worker polls the queue until the free job ran, and then until a job enqueued
    # after it ran too (by then it has looked at the held and deferred ones again)
    worker = _worker(pool, redis_url, burst=False)
    running = asyncio.create_task(worker.main())
    await _until_runs(pool, tag, 1)
    await pool.enqueue_job("record_run", f"{tag}:sentinel", _job_id=f"{tag}-sentinel")
    await _until_runs(pool, f"{tag}:sentinel", 1)
    # (a job's run is counted before arq takes it off the queue: wait for that too, or
    # closing the worker may cut its finishing short and leave it queued)
    waiting = {f"{tag}-held", f"{tag}-later"}
    async with asyncio.timeout(30):
        while set(map(bytes.decode, await pool.zrange(pool.default_queue_name, 0, -1))) - waiting:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    await worker.close()
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)

    # then only the free job ran; the others wait in the queue
    assert int(await pool.get(f"{tag}:runs") or 0) == 1
    assert await pool.get(f"{tag}:pttl:{tag}-free") is not None
    queued = {job_id.decode() for job_id in await pool.zrange(pool.default_queue_name, 0, -1)}
    assert queued == waiting
