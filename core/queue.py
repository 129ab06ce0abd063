"""The job queue handle: enqueue a job by name (resolvers never import workers/)."""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None: ...


class ArqQueue:
    """Enqueues on arq's Redis. A failure is logged, not raised: the outbox row is the
    truth and the relay re-enqueues whatever was not enqueued here."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        try:
            await self.pool.enqueue_job(function, *args, _job_id=job_id)
        except Exception:
            log.warning("could not enqueue %s %s; the relay will pick it up", function, args)


class NoQueue:
    """For processes without Redis (tests of the API alone): the relay does the work."""

    async def enqueue(self, function: str, *args: Any, job_id: str | None = None) -> None:
        return None
