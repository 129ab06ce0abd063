"""The webhook outbox: rows written with the change they announce, then delivered.

A delivery is PENDING until a 2xx (DELIVERED) or until retries run out (DEAD). A worker
takes a time-limited lease before sending, so two workers never send the same attempt at
once, and a worker that dies mid-send loses its lease to the relay.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from core import clock
from core.errors import NotFound
from models.redemptions import RedemptionEvent, RedemptionEventKind
from models.webhooks import (
    DeliveryStatus,
    PayloadFormat,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.2
LEASE = timedelta(seconds=60)  # default; deployments set it above the HTTP timeout
RESPONSE_LIMIT = 2048


async def add_deliveries(
    conn: BaseDBAsyncClient,
    tenant_id: UUID,
    event: str,
    payload_for: Callable[[PayloadFormat], dict[str, Any] | Awaitable[dict[str, Any]]],
    *,
    redemption_id: UUID | None = None,
    now: datetime | None = None,
    only_endpoint: UUID | None = None,
) -> list[UUID]:
    """Outbox rows for every enabled endpoint of the tenant that wants `event`
    (or for `only_endpoint`, whatever its events: a ping).

    `payload_for` (plain or async) is called only when some endpoint wants the event, so
    a tenant without webhooks pays one query and no payload building."""
    now = now or clock.now()
    query = WebhookEndpoint.filter(tenant_id=tenant_id, enabled=True)
    if only_endpoint is not None:
        query = query.filter(id=only_endpoint)
    wanted = [
        endpoint
        for endpoint in await query.using_db(conn)
        if only_endpoint is not None or event in endpoint.events
    ]
    rows = []
    for endpoint in wanted:
        payload = payload_for(PayloadFormat(endpoint.payload_format))
        rows.append(
            WebhookDelivery(
                id=uuid4(),
                tenant_id=tenant_id,
                endpoint_id=endpoint.id,
                event=event,
                redemption_id=redemption_id,
                payload=await payload if inspect.isawaitable(payload) else payload,
                status=DeliveryStatus.PENDING,
                next_attempt_at=now,
                created_at=now,
            )
        )
    if rows:
        await WebhookDelivery.bulk_create(rows, using_db=conn)
    return [row.id for row in rows]


async def due_deliveries(now: datetime | None = None, limit: int = 1000) -> list[tuple[UUID, str]]:
    """(id, attempt key) of deliveries that are due and not leased: the relay's work.

    The attempt key names one attempt (count and due time), so a queue can dedupe jobs.
    """
    now = now or clock.now()
    rows = (
        await WebhookDelivery.filter(
            Q(status=DeliveryStatus.PENDING)
            & Q(next_attempt_at__lte=now)
            & (Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        )
        .order_by("next_attempt_at")
        .limit(limit)
        .values_list("id", "attempt_count", "next_attempt_at", "leased_until")
    )
    return [(UUID(str(i)), attempt_key(int(n), due, leased)) for i, n, due, leased in rows]


def _ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment else 0


def attempt_key(
    attempt_count: int, due: datetime | None, leased_until: datetime | None = None
) -> str:
    """Names one attempt. A lease that ran out (its worker died) makes a new name, so
    the relay's job for the retry is not refused as a duplicate of the dead one."""
    return f"{attempt_count}:{_ms(due)}:{_ms(leased_until)}"


async def lease(
    delivery_id: UUID, now: datetime | None = None, duration: timedelta = LEASE
) -> WebhookDelivery | None:
    """Take the delivery for one attempt; None if it is not due, done, or leased by another."""
    now = now or clock.now()
    taken = await WebhookDelivery.filter(
        Q(id=delivery_id)
        & Q(status=DeliveryStatus.PENDING)
        & Q(next_attempt_at__lte=now)
        & (Q(leased_until__isnull=True) | Q(leased_until__lt=now))
    ).update(leased_until=now + duration)
    if not taken:
        return None
    return await WebhookDelivery.get(id=delivery_id)


@dataclass(frozen=True)
class AttemptResult:
    status_code: int | None
    latency_ms: int
    response_body: str
    error: str | None
    retry_after: timedelta | None = None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def next_delay(attempts_made: int, rng: random.Random | None = None) -> timedelta | None:
    """Delay before the next attempt after `attempts_made` failures; None = give up."""
    if attempts_made > len(RETRY_SCHEDULE):
        return None
    base = RETRY_SCHEDULE[attempts_made - 1]
    factor = 1 + (rng or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base.total_seconds() * factor)


async def record_attempt(
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    result: AttemptResult,
    *,
    disable_after: timedelta,
    now: datetime | None = None,
) -> DeliveryStatus:
    """Store the attempt and decide what comes next. Returns the delivery's new status."""
    now = now or clock.now()
    attempts = delivery.attempt_count + 1
    changes: dict[str, Any] = {
        "attempt_count": attempts,
        "leased_until": None,
        "last_status_code": result.status_code,
        "last_error": result.error,
    }
    endpoint_changes: dict[str, Any] = {}
    if result.delivered:
        changes.update(status=DeliveryStatus.DELIVERED, delivered_at=now, next_attempt_at=None)
        if endpoint.failing_since is not None:
            endpoint_changes["failing_since"] = None
    elif result.status_code == 410:
        changes.update(status=DeliveryStatus.DEAD, next_attempt_at=None)
        endpoint_changes.update(enabled=False, disabled_reason="The endpoint answered 410 Gone")
    else:
        failing_since = endpoint.failing_since or now
        if endpoint.failing_since is None:
            endpoint_changes["failing_since"] = now
        delay = result.retry_after or next_delay(attempts)
        if now - failing_since >= disable_after:
            endpoint_changes.update(
                enabled=False,
                disabled_reason=f"Failing since {failing_since.isoformat()}",
            )
            delay = None
        if delay is None:
            changes.update(status=DeliveryStatus.DEAD, next_attempt_at=None)
        else:
            changes["next_attempt_at"] = now + delay
    async with in_transaction() as conn:
        await WebhookAttempt.create(
            tenant_id=delivery.tenant_id,
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            response_body=result.response_body[:RESPONSE_LIMIT],
            error=result.error,
            using_db=conn,
        )
        # Never overwrite a delivery another attempt already finished.
        await (
            WebhookDelivery.filter(id=delivery.id, status=DeliveryStatus.PENDING)
            .using_db(conn)
            .update(**changes)
        )
        if endpoint_changes:
            await WebhookEndpoint.filter(id=endpoint.id).using_db(conn).update(**endpoint_changes)
        if delivery.redemption_id is not None:
            await RedemptionEvent.create(
                tenant_id=delivery.tenant_id,
                redemption_id=delivery.redemption_id,
                kind=RedemptionEventKind.WEBHOOK_POSTED,
                message=_describe(result, endpoint.url),
                data={
                    "deliveryId": str(delivery.id),
                    "event": delivery.event,
                    "url": endpoint.url,
                    "attempt": attempts,
                    "payload": delivery.payload,
                    "statusCode": result.status_code,
                    "response": result.response_body[:RESPONSE_LIMIT],
                    "error": result.error,
                },
                actor="system:webhooks",
                created_at=now,
                using_db=conn,
            )
    return DeliveryStatus(changes.get("status", DeliveryStatus.PENDING))


def _describe(result: AttemptResult, url: str) -> str:
    if result.status_code is None:
        return f"Webhook to {url} failed: {result.error}"
    return f"Webhook posted to {url}: HTTP {result.status_code}"


async def replay(tenant_id: UUID, delivery_id: UUID) -> WebhookDelivery:
    """Send a delivery again now (a DEAD one, or a DELIVERED one the receiver lost)."""
    delivery = await WebhookDelivery.get_or_none(id=delivery_id, tenant_id=tenant_id)
    if delivery is None:
        raise NotFound("Delivery not found", field="id")
    # A replay gets the full retry schedule again; the attempt log keeps the history.
    await WebhookDelivery.filter(id=delivery.id).update(
        status=DeliveryStatus.PENDING,
        next_attempt_at=clock.now(),
        leased_until=None,
        attempt_count=0,
    )
    await delivery.refresh_from_db()
    return delivery


async def replay_dead_since(tenant_id: UUID, endpoint_id: UUID, since: datetime) -> list[UUID]:
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id, tenant_id=tenant_id)
    if endpoint is None:
        raise NotFound("Webhook endpoint not found", field="endpointId")
    ids = await WebhookDelivery.filter(
        endpoint_id=endpoint.id, status=DeliveryStatus.DEAD, created_at__gte=since
    ).values_list("id", flat=True)
    if ids:
        await WebhookDelivery.filter(id__in=list(ids)).update(
            status=DeliveryStatus.PENDING,
            next_attempt_at=clock.now(),
            leased_until=None,
            attempt_count=0,
        )
    return [UUID(str(i)) for i in ids]
