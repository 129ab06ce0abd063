"""Point-master sync jobs: apply a stored upload, and the relay for lost jobs.

The batch row is the truth; the queue is only a transport. Applying is idempotent
(see models.pointmaster.uploads), so a job that runs twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from models.pointmaster.uploads import apply_batch, due_batches

log = logging.getLogger(__name__)


async def apply_sync_batch(ctx: dict[str, Any], batch_id: str) -> str | None:
    """Apply one batch; returns its final status, None if it was not ours to apply."""
    batch = await apply_batch(UUID(batch_id))
    if batch is None:
        return None
    log.info("sync batch %s: %s, %s applied", batch.id, batch.status, batch.applied_count)
    return str(batch.status)


async def relay_sync_batches(ctx: dict[str, Any]) -> int:
    """Apply batches whose job was lost (Redis down at accept time, a worker killed)."""
    applied = 0
    for batch_id in await due_batches():
        try:
            batch = await apply_batch(batch_id)
        except Exception:
            # Its claim counted an attempt: it is retried (a bounded number of times) on a
            # later run, and must not hold up the batches behind it.
            log.exception("sync batch %s could not be applied", batch_id)
            continue
        if batch is not None:
            applied += 1
    return applied
