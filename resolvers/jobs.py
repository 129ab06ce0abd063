"""Jobs a committed change hands to the workers (by name, through core's queue)."""

from __future__ import annotations

from uuid import UUID

from core.queue import JobQueue
from models.webhooks.outbox import attempt_key
from models.webhooks.tables import WebhookDelivery

DELIVER_JOB = "deliver_webhook"


async def enqueue_deliveries(queue: JobQueue, ids: list[UUID]) -> None:
    """After commit: one job per delivery. A lost one is re-enqueued by the relay."""
    if not ids:
        return
    for delivery in await WebhookDelivery.filter(id__in=ids):
        key = attempt_key(delivery.attempt_count, delivery.next_attempt_at, delivery.leased_until)
        await queue.enqueue(DELIVER_JOB, str(delivery.id), job_id=f"deliver:{delivery.id}:{key}")
