"""Point-master sync for the API layers: hand accepted batches to the workers."""

from __future__ import annotations

from uuid import UUID

from core.queue import JobQueue

APPLY_SYNC_JOB = "apply_sync_batch"


async def enqueue_sync_batch(queue: JobQueue, batch_id: UUID) -> None:
    """After commit. A lost job is picked up by the `relay_sync_batches` cron."""
    await queue.enqueue(APPLY_SYNC_JOB, str(batch_id), job_id=f"sync:{batch_id}")
