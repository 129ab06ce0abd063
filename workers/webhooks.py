"""Webhook jobs: deliver one delivery, and the relay that re-enqueues what is due.

Jobs are idempotent: a delivery is sent only under a lease, and recorded only while it
is still PENDING, so arq running a job twice sends at most one extra attempt, which
receivers dedupe on `webhook-id`.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any
from uuid import UUID

from arq.worker import func

from core import clock
from core.errors import DomainError
from core.settings import Settings
from core.signing import signature_headers
from models.lifecycle import Via, transition
from models.live import announce_redemption
from models.outbox import AttemptResult, due_deliveries, lease, record_attempt
from models.redemptions import RedemptionStatus
from models.webhook_endpoints import signing_secrets
from models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent
from workers.webhook_http import new_client, post

log = logging.getLogger(__name__)
DELIVER_JOB = "deliver_webhook"


def job_id(delivery_id: UUID | str, attempt_key: str) -> str:
    return f"deliver:{delivery_id}:{attempt_key}"


async def deliver(
    delivery_id: UUID, settings: Settings, client: Any, broker: Any = None
) -> tuple[DeliveryStatus | None, AttemptResult | None]:
    """One attempt for a due delivery. (None, None) when it is not ours to send now.

    With a broker, subscribers hear of the attempt and of any change the answer made."""
    started = clock.now()
    delivery = await lease(delivery_id, duration=timedelta(seconds=settings.webhook_lease_seconds))
    if delivery is None:
        return None, None
    endpoint = await WebhookEndpoint.get_or_none(id=delivery.endpoint_id)
    if endpoint is None or not endpoint.enabled:
        result = AttemptResult(None, 0, "", "The endpoint is disabled")
        await WebhookDelivery.filter(id=delivery.id, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.DEAD, leased_until=None, last_error=result.error
        )
        return DeliveryStatus.DEAD, result
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    headers = signature_headers(
        signing_secrets(endpoint), str(delivery.id), int(clock.now().timestamp()), body
    )
    result = await post(
        client, endpoint.url, body, headers, allow_private=settings.webhook_allow_private
    )
    status = await record_attempt(
        delivery,
        endpoint,
        result,
        disable_after=timedelta(hours=settings.webhook_disable_after_hours),
    )
    if result.delivered and delivery.event == WebhookEvent.REWARD_REDEEMED:
        await apply_provider_answer(delivery, result.response_body)
    if broker is not None and delivery.redemption_id is not None:
        await announce_redemption(broker, delivery.tenant_id, delivery.redemption_id, started)
    return status, result


async def apply_provider_answer(delivery: WebhookDelivery, body: str) -> None:
    """`{"status": "postponed"}` postpones; `{"status": "fulfilled", "data": {...}}` fulfils."""
    try:
        answer = json.loads(body)
    except ValueError:
        return
    if not isinstance(answer, dict) or delivery.redemption_id is None:
        return
    status = str(answer.get("status", "")).lower()
    target = {"postponed": RedemptionStatus.POSTPONED, "fulfilled": RedemptionStatus.FULFILLED}
    if status not in target:
        return
    data = answer.get("data") if isinstance(answer.get("data"), dict) else None
    try:
        await transition(
            delivery.tenant_id,
            delivery.redemption_id,
            target[status],
            Via.PROVIDER,
            actor="system:webhook-response",
            data=data,
        )
    except DomainError as exc:
        # E.g. the callback already completed it: the answer is stale, not an error.
        log.info("provider answer for %s ignored: %s", delivery.redemption_id, exc.message)


async def relay_due(enqueue: Any, now: Any = None, limit: int = 1000) -> int:
    """Enqueue a job for every due, unleased delivery. The outbox row is the truth:
    this recovers jobs lost to a crash between commit and enqueue, or to a flushed Redis."""
    due = await due_deliveries(now, limit)
    for delivery_id, attempt_key in due:
        await enqueue(DELIVER_JOB, str(delivery_id), _job_id=job_id(delivery_id, attempt_key))
    return len(due)


async def _deliver_webhook(ctx: dict[str, Any], delivery_id: str) -> str:
    """arq job: one attempt of one delivery (see `deliver`)."""
    client = ctx.get("http")  # the worker's shared client, when its startup made one
    if client is not None:
        status, _ = await deliver(UUID(delivery_id), ctx["settings"], client, ctx.get("broker"))
    else:
        # arq gives each job a copy of the worker's ctx: a client stored in it here would
        # be lost after this job and its connections never closed, one per delivery.
        async with new_client(ctx["settings"].webhook_timeout) as client:
            status, _ = await deliver(UUID(delivery_id), ctx["settings"], client, ctx.get("broker"))
    return status.value if status else "skipped"


# No result is kept: arq refuses a job id while its result is kept (an hour by default),
# and the relay names a job by the attempt it makes. A job that failed before taking its
# lease (the database refused a connection) or was skipped would otherwise keep that
# attempt from being relayed for an hour. The lease, not arq, keeps attempts single.
deliver_webhook = func(_deliver_webhook, name=DELIVER_JOB, keep_result=0)


async def relay_webhooks(ctx: dict[str, Any]) -> int:
    """arq cron: re-enqueue due deliveries (retries, lost jobs, replays)."""
    return await relay_due(ctx["redis"].enqueue_job)
