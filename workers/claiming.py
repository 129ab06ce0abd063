"""An arq worker that claims each job with one Redis round trip instead of four, and that
outlives Redis going away.

arq 0.28's `Worker.start_jobs` claims a job with WATCH on the in-progress key, EXISTS,
ZSCORE, then MULTI / PSETEX / EXEC: four round trips per job, about 0.3 ms of the worker's
CPU per webhook delivery. `ClaimingWorker` makes the same checks and the same write in one
Lua script, atomically in Redis, so a job still starts at most once at a time across all
workers (the in-progress key is the lock, with arq's own timeout).

Stock arq ends its main task on the first Redis error (connection refused, reset, a
server loading its snapshot): webhooks and sync would stop until someone restarted the
worker. `ClaimingWorker` waits with backoff and carries on, on every blip; its jobs'
state is in Redis and the database, and the relays re-enqueue what a blip lost.

Everything else is arq's. The claim override is tied to the arq version it was checked
against: on another version the stock `start_jobs` runs (see `claims_in_one_trip`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import arq
import redis.exceptions
from arq.constants import in_progress_key_prefix
from arq.utils import timestamp_ms
from arq.worker import Worker

logger = logging.getLogger(__name__)

CHECKED_ARQ_VERSION = "0.28.0"

# KEYS[1] in-progress key, KEYS[2] queue; ARGV job id, now (ms), in-progress timeout (ms).
# The same refusals as arq: running elsewhere, finished (not in the queue), or not yet due.
CLAIM_SCRIPT = """
if redis.call('exists', KEYS[1]) == 1 then return false end
local score = redis.call('zscore', KEYS[2], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return false end
redis.call('psetex', KEYS[1], ARGV[3], '1')
return score
"""


# What Redis being away looks like to redis-py (BusyLoadingError, a server still loading its
# snapshot, is a ConnectionError).
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class Backoff:
    """Delays between reconnection attempts: doubling from `first` up to `most`, with jitter
    so that many workers do not come back at the same instant."""

    def __init__(self, first: float = 0.2, most: float = 10.0) -> None:
        self.first, self.most = first, most
        self.failures = 0

    def next(self) -> float:
        delay = min(self.most, self.first * 2**self.failures)
        self.failures += 1
        return delay * random.uniform(0.8, 1.2)

    def reset(self) -> None:
        self.failures = 0


def claims_in_one_trip() -> bool:
    return str(getattr(arq, "VERSION", "")) == CHECKED_ARQ_VERSION


class ClaimingWorker(Worker):
    _claim: Any = None
    _backoff: Backoff | None = None

    @property
    def backoff(self) -> Backoff:
        if self._backoff is None:
            self._backoff = Backoff()
        return self._backoff

    async def main(self) -> None:
        """arq's main loop, started again (with backoff) while Redis cannot be reached at
        start-up; after that, `_poll_iteration` rides out each blip itself."""
        while True:
            try:
                await super().main()
                return
            except REDIS_DOWN as exc:
                await self._wait_for_redis(exc)

    async def _poll_iteration(self) -> None:
        try:
            await super()._poll_iteration()
        except REDIS_DOWN as exc:
            await self._wait_for_redis(exc)
        else:
            if self.backoff.failures:
                logger.warning("Redis is back; the worker takes jobs again")
            self.backoff.reset()

    async def _wait_for_redis(self, exc: BaseException) -> None:
        delay = self.backoff.next()
        logger.warning("Redis is unavailable (%s); the worker retries in %.1f s", exc, delay)
        await asyncio.sleep(delay)

    async def close(self) -> None:
        try:
            await super().close()
        except REDIS_DOWN:
            # arq closes the job context (HTTP client, database) only after a Redis call:
            # with Redis away, close what needs no Redis all the same.
            logger.warning("Redis is unavailable while the worker stops")
            if self.on_shutdown is not None:
                await self.on_shutdown(self.ctx)
            if self._pool is not None:
                await self._pool.aclose(close_connection_pool=True)
                self._pool = None

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        if not claims_in_one_trip():
            await super().start_jobs(job_ids)
            return
        if self._claim is None:
            self._claim = self.pool.register_script(CLAIM_SCRIPT)
        timeout_ms = int(self.in_progress_timeout_s * 1000)
        for job_id_b in job_ids:
            await self.sem.acquire()
            if self.job_counter >= self.max_jobs:
                self.sem.release()
                return
            self.job_counter += 1
            job_id = job_id_b.decode()
            score = None
            try:
                score = await self._claim(
                    keys=[in_progress_key_prefix + job_id, self.queue_name],
                    args=[job_id, timestamp_ms(), timeout_ms],
                )
            finally:
                # Not claimed, or Redis went away mid-claim (each blip would cost a slot).
                if not score:
                    self.job_counter -= 1
                    self.sem.release()
            if not score:
                logger.debug("job %s already running elsewhere, done or not due", job_id)
                continue
            task = self.loop.create_task(self.run_job(job_id, int(float(score))))
            task.add_done_callback(lambda _: self._release_sem_dec_counter_on_complete())
            self.tasks[job_id] = task
