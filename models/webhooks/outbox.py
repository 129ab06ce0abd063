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

from core import clock
from core.after_commit import after_commit
from core.cache import TenantCache, invalidate
from core.errors import NotFound
from core.jobs import DELIVER_WEBHOOK, delivery_job_id
from core.queue import JobQueue
from models.db.transactions import atomic
from models.webhooks.tables import (
    DeliveryStatus,
    PayloadFormat,
    SystemEvent,
    WebhookDelivery,
    WebhookEndpoint,
    event_name,
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
RESPONSE_LIMIT = 2048


@dataclass(frozen=True)
class Deliver:
    """After commit: one job per (delivery id, attempt key). A lost one is re-enqueued by
    the relay (`due_deliveries`), the outbox row being the truth."""

    attempts: tuple[tuple[UUID, str], ...]
    key = "deliver"

    def merge(self, later: Deliver) -> Deliver:
        return Deliver(self.attempts + later.attempts)

    async def run(self, queue: JobQueue, broker: Any | None) -> None:
        for delivery_id, key in self.attempts:
            await queue.enqueue(
                DELIVER_WEBHOOK, str(delivery_id), job_id=delivery_job_id(delivery_id, key)
            )


def deliver_now(ids: list[UUID], now: datetime) -> None:
    """After commit, send the deliveries made due `now` (first attempt, or a replay)."""
    if ids:
        after_commit(Deliver(tuple((i, attempt_key(0, now)) for i in ids)))


PayloadFor = Callable[[PayloadFormat], dict[str, Any] | Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Announcement:
    """One event to write to the outbox: its name, its body per format (built only for
    endpoints that want it), the redemption it is about."""

    event: str
    payload_for: PayloadFor
    redemption_id: UUID | None = None


async def add_deliveries(
    conn: BaseDBAsyncClient,
    tenant_id: UUID,
    event: str,
    payload_for: PayloadFor,
    *,
    redemption_id: UUID | None = None,
    now: datetime | None = None,
    only_endpoint: UUID | None = None,
) -> list[UUID]:
    """Outbox rows for every enabled endpoint of the tenant that wants `event`
    (or for `only_endpoint`, whatever its events: a ping).

    `payload_for` (plain or async) is called only when some endpoint wants the event, so
    a tenant without webhooks pays one query and no payload building."""
    return await announce(
        conn,
        tenant_id,
        [Announcement(event, payload_for, redemption_id)],
        now=now,
        only_endpoint=only_endpoint,
    )


@dataclass(frozen=True)
class Subscriber:
    """What the outbox needs of an enabled endpoint."""

    id: UUID
    events: tuple[str, ...]
    payload_format: str


# Every posting and redemption asks; endpoints change seldom (core.cache: on an API
# process a saved endpoint gets events within milliseconds everywhere).
SUBSCRIBERS: TenantCache[tuple[Subscriber, ...]] = TenantCache("webhook-subscribers")


def endpoints_changed(tenant_id: UUID) -> None:
    """After commit, every API process reads the tenant's enabled endpoints anew."""
    invalidate(SUBSCRIBERS, tenant_id)


async def subscribers(
    conn: BaseDBAsyncClient, tenant_id: UUID, events: set[str] | None = None
) -> list[Subscriber]:
    """The tenant's enabled endpoints (that want one of `events`, when given)."""

    async def load() -> tuple[Subscriber, ...]:
        rows = await WebhookEndpoint.filter(tenant_id=tenant_id, enabled=True).using_db(conn)
        return tuple(Subscriber(e.id, tuple(e.events), str(e.payload_format)) for e in rows)

    endpoints = await SUBSCRIBERS.get(tenant_id, load)
    if events is None:
        return list(endpoints)
    return [e for e in endpoints if events.intersection(e.events)]


async def announce(
    conn: BaseDBAsyncClient,
    tenant_id: UUID,
    announcements: list[Announcement],
    *,
    now: datetime | None = None,
    only_endpoint: UUID | None = None,
    endpoints: list[Subscriber] | None = None,
) -> list[UUID]:
    """Outbox rows for many events of one tenant, its endpoints read once (or given as
    `endpoints`, read by `subscribers`), in the caller's transaction."""
    if not announcements:
        return []
    now = now or clock.now()
    if endpoints is None:
        endpoints = await subscribers(conn, tenant_id)
        if only_endpoint is not None:
            endpoints = [e for e in endpoints if e.id == only_endpoint]
    rows = []
    for item in announcements:
        event = event_name(item.event)
        for endpoint in endpoints:
            if only_endpoint is None and event not in endpoint.events:
                continue
            payload = item.payload_for(PayloadFormat(endpoint.payload_format))
            rows.append(
                WebhookDelivery(
                    id=uuid4(),
                    tenant_id=tenant_id,
                    endpoint_id=endpoint.id,
                    event=event,
                    redemption_id=item.redemption_id,
                    payload=await payload if inspect.isawaitable(payload) else payload,
                    status=DeliveryStatus.PENDING,
                    next_attempt_at=now,
                    created_at=now,
                )
            )
    if rows:
        await WebhookDelivery.bulk_create(rows, using_db=conn)
    ids = [row.id for row in rows]
    deliver_now(ids, now)
    return ids


async def ping(endpoint: WebhookEndpoint) -> list[UUID]:
    """A test event for this endpoint alone, sent now."""
    now = clock.now()
    payload = {
        "event": SystemEvent.PING.value,
        "endpoint_id": str(endpoint.id),
        "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    async with atomic() as conn:
        return await add_deliveries(
            conn,
            endpoint.tenant_id,
            SystemEvent.PING.value,
            lambda _fmt: payload,
            now=now,
            only_endpoint=endpoint.id,
        )


async def due_deliveries(now: datetime | None = None, limit: int = 1000) -> list[tuple[UUID, str]]:
    """(id, attempt key) of deliveries that are due and not leased: the relay's work.

    The attempt key names one attempt (count and due time), so a queue can dedupe jobs.
    """
    now = now or clock.now()
    rows = (
        await WebhookDelivery.filter(due(now))
        .order_by("next_attempt_at")
        .limit(limit)
        .values_list("id", "attempt_count", "next_attempt_at", "leased_until")
    )
    return [(UUID(str(i)), attempt_key(int(n), at, leased)) for i, n, at, leased in rows]


def due(now: datetime) -> Q:
    """Deliveries due for an attempt: PENDING, their time come, and no live lease on them."""
    return Q(status=DeliveryStatus.PENDING) & Q(next_attempt_at__lte=now) & _not_in_flight(now)


def _ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment else 0


def attempt_key(
    attempt_count: int, due: datetime | None, leased_until: datetime | None = None
) -> str:
    """Names one attempt. A lease that ran out (its worker died) makes a new name, so
    the relay's job for the retry is not refused as a duplicate of the dead one."""
    return f"{attempt_count}:{_ms(due)}:{_ms(leased_until)}"


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


async def replay(tenant_id: UUID, delivery_id: UUID) -> WebhookDelivery:
    """Send a delivery again now (a DEAD one, or a DELIVERED one the receiver lost)."""
    delivery = await WebhookDelivery.get_or_none(id=delivery_id, tenant_id=tenant_id)
    if delivery is None:
        raise NotFound("Delivery not found", field="id")
    # A replay gets the full retry schedule again; the attempt log keeps the history.
    # A delivery in flight (a live lease) is left to its attempt: clearing the lease
    # would let a second worker send it alongside, and that attempt is the replay.
    now = clock.now()
    replayed = await WebhookDelivery.filter(Q(id=delivery.id) & _not_in_flight(now)).update(
        status=DeliveryStatus.PENDING, next_attempt_at=now, leased_until=None, attempt_count=0
    )
    if replayed:
        deliver_now([delivery.id], now)
    await delivery.refresh_from_db()
    return delivery


def _not_in_flight(now: datetime) -> Q:
    return Q(leased_until__isnull=True) | Q(leased_until__lt=now)


async def replay_dead_since(tenant_id: UUID, endpoint_id: UUID, since: datetime) -> list[UUID]:
    endpoint = await WebhookEndpoint.get_or_none(id=endpoint_id, tenant_id=tenant_id)
    if endpoint is None:
        raise NotFound("Webhook endpoint not found", field="endpointId")
    ids = await WebhookDelivery.filter(
        endpoint_id=endpoint.id, status=DeliveryStatus.DEAD, created_at__gte=since
    ).values_list("id", flat=True)
    replayed = [UUID(str(i)) for i in ids]
    if replayed:
        now = clock.now()
        await WebhookDelivery.filter(Q(id__in=replayed) & _not_in_flight(now)).update(
            status=DeliveryStatus.PENDING, next_attempt_at=now, leased_until=None, attempt_count=0
        )
        deliver_now(replayed, now)
    return replayed
