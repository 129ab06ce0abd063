"""Point-master sync for the API layers: the point mode, and accepted batches to the workers."""

from __future__ import annotations

from uuid import UUID

import strawberry

from core.queue import JobQueue
from models.point_modes import point_mode_changes, set_point_mode
from models.tenants import PointMode as ModelPointMode
from resolvers.auth import ADMIN, require
from schema.pointmaster import PointMode, PointModeChange, PointModePayload

APPLY_SYNC_JOB = "apply_sync_batch"


async def enqueue_sync_batch(queue: JobQueue, batch_id: UUID) -> None:
    """After commit. A lost job is picked up by the `relay_sync_batches` cron."""
    await queue.enqueue(APPLY_SYNC_JOB, str(batch_id), job_id=f"sync:{batch_id}")


async def set_point_mode_(
    info: strawberry.Info, mode: PointMode, reason: str = ""
) -> PointModePayload:
    """Switch who owns the tenant's points (admin). Recorded with the admin and the reason."""
    principal = require(info, ADMIN)
    tenant, change = await set_point_mode(
        principal.tenant_id, ModelPointMode(mode.value), principal.actor, reason
    )
    return PointModePayload(
        mode=PointMode(str(tenant.point_mode)),
        change=PointModeChange.from_model(change) if change else None,
    )


async def point_mode_changes_(info: strawberry.Info) -> list[PointModeChange]:
    """The tenant's point-mode switches, newest first (admin)."""
    principal = require(info, ADMIN)
    return [PointModeChange.from_model(c) for c in await point_mode_changes(principal.tenant_id)]
