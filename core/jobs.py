"""The workers' jobs by name, and their job ids: the one place both enqueuers and workers read.

A job id makes arq keep one job per id at a time: a second enqueue of the same id while the
first is queued is a no-op. Ids therefore say what a job is about and, for deliveries, which
attempt (so a retry is a new job, a duplicate of the same attempt is not).
"""

from __future__ import annotations

from uuid import UUID

DELIVER_WEBHOOK = "deliver_webhook"
APPLY_SYNC_BATCH = "apply_sync_batch"
FETCH_POINTS_LOG = "fetch_points_log"


def delivery_job_id(delivery_id: UUID | str, attempt_key: str) -> str:
    """One job per delivery attempt (`attempt_key` names the attempt, models.webhooks.outbox)."""
    return f"deliver:{delivery_id}:{attempt_key}"


def sync_batch_job_id(batch_id: UUID | str) -> str:
    """One apply job per uploaded batch at a time."""
    return f"sync:{batch_id}"


def points_log_job_id(member_id: UUID | str) -> str:
    """One fetch per member at a time: concurrent reads wait for the same job."""
    return f"points-log:{member_id}"
