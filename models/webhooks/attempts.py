"""Recording attempts: the attempt log, the delivery's next step, the redemption timeline.

`plan` decides what an attempt's answer means (pure, per attempt); `record_many` writes
the plans of several attempts at once. Every attempt is logged and shown in its
redemption's timeline (it was a real POST), but the delivery row changes only while the
attempt's lease is still on it: a worker whose lease ran out cannot overwrite the record
of the attempt that replaced it, nor clear that attempt's lease.

On PostgreSQL one statement writes a batch (unless an endpoint changes too: a failure
after a success, a 410, too long failing); SQLite writes it in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.queryset import QuerySet

from core import clock
from models.db.transactions import atomic
from models.redemptions.tables import RedemptionEvent, RedemptionEventKind
from models.webhooks.catalogue import endpoint_disabled
from models.webhooks.lease import Leased
from models.webhooks.outbox import (
    RESPONSE_LIMIT,
    AttemptResult,
    add_deliveries,
    endpoints_changed,
    next_delay,
)
from models.webhooks.tables import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

ACTOR = "system:webhooks"


@dataclass(frozen=True, slots=True)
class Plan:
    """What one attempt's answer does to its delivery (and maybe its endpoint)."""

    leased: Leased
    result: AttemptResult
    at: datetime
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    endpoint_changes: dict[str, Any] = field(default_factory=dict)

    @property
    def response(self) -> str:
        return self.result.response_body[:RESPONSE_LIMIT]

    @property
    def message(self) -> str:
        if self.result.status_code is None:
            return f"Webhook to {self.leased.url} failed: {self.result.error}"
        return f"Webhook posted to {self.leased.url}: HTTP {self.result.status_code}"


def plan(
    leased: Leased, result: AttemptResult, *, disable_after: timedelta, now: datetime | None = None
) -> Plan:
    now = now or clock.now()
    attempts = leased.attempt_count + 1
    endpoint_changes: dict[str, Any] = {}
    if result.delivered:
        if leased.failing_since is not None:
            endpoint_changes["failing_since"] = None
        return Plan(leased, result, now, DeliveryStatus.DELIVERED, attempts, None, endpoint_changes)
    if result.status_code == 410:
        endpoint_changes.update(enabled=False, disabled_reason="The endpoint answered 410 Gone")
        return Plan(leased, result, now, DeliveryStatus.DEAD, attempts, None, endpoint_changes)
    failing_since = leased.failing_since or now
    if leased.failing_since is None:
        endpoint_changes["failing_since"] = now
    delay = result.retry_after or next_delay(attempts)
    if now - failing_since >= disable_after:
        endpoint_changes.update(
            enabled=False, disabled_reason=f"Failing since {failing_since.isoformat()}"
        )
        delay = None
    if delay is None:
        return Plan(leased, result, now, DeliveryStatus.DEAD, attempts, None, endpoint_changes)
    return Plan(
        leased, result, now, DeliveryStatus.PENDING, attempts, now + delay, endpoint_changes
    )


async def record_many(plans: list[Plan]) -> list[bool]:
    """Write the attempts; for each, whether the delivery row took it (the lease was ours)."""
    if not plans:
        return []
    conn = connections.get("default")
    postgres = conn.capabilities.dialect == "postgres"
    if postgres and not any(p.endpoint_changes for p in plans):
        applied = await _record_pg(conn, plans)  # one statement: its own transaction
    else:
        async with atomic() as tx:
            applied = await (_record_pg if postgres else _record_orm)(tx, plans)
            await _change_endpoints(tx, plans)
    return [p.leased.id in applied for p in plans]


_PG_RECORD = f"""
WITH input AS (
    SELECT * FROM unnest(
        $1::uuid[], $2::uuid[], $3::timestamptz[], $4::text[], $5::int[], $6::timestamptz[],
        $7::int[], $8::text[], $9::int[], $10::text[], $11::timestamptz[], $12::uuid[],
        $13::text[], $14::text[]
    ) AS i(id, tenant_id, token, status, attempts, next_at,
           code, error, latency, response, at, redemption_id, message, url)
),
updated AS (
    UPDATE {WebhookDelivery._meta.db_table} AS d
    SET status = i.status, attempt_count = i.attempts, leased_until = NULL,
        next_attempt_at = i.next_at, last_status_code = i.code, last_error = i.error,
        delivered_at = CASE WHEN i.status = 'DELIVERED' THEN i.at ELSE d.delivered_at END
    FROM input AS i
    WHERE d.id = i.id AND d.status = 'PENDING' AND d.leased_until = i.token
    RETURNING d.id
),
logged AS (
    INSERT INTO {WebhookAttempt._meta.db_table}
        (tenant_id, delivery_id, attempted_at, status_code, latency_ms, response_body, error)
    SELECT tenant_id, id, at, code, latency, response, error FROM input
),
timeline AS (
    INSERT INTO {RedemptionEvent._meta.db_table}
        (tenant_id, redemption_id, kind, message, data, actor, created_at)
    SELECT i.tenant_id, i.redemption_id, 'WEBHOOK_POSTED', i.message,
           jsonb_build_object(
               'deliveryId', i.id::text, 'event', d.event, 'url', i.url,
               'attempt', i.attempts, 'payload', d.payload, 'statusCode', i.code,
               'response', i.response, 'error', i.error),
           $15, i.at
    FROM input AS i JOIN {WebhookDelivery._meta.db_table} AS d ON d.id = i.id
    WHERE i.redemption_id IS NOT NULL
)
SELECT id FROM updated
"""


async def _record_pg(conn: BaseDBAsyncClient, plans: list[Plan]) -> set[Any]:
    columns: list[list[Any]] = [[] for _ in range(14)]
    for p in plans:
        row = (
            p.leased.id,
            p.leased.tenant_id,
            p.leased.token,
            p.status.value,
            p.attempts,
            p.next_attempt_at,
            p.result.status_code,
            p.result.error,
            p.result.latency_ms,
            p.response,
            p.at,
            p.leased.redemption_id,
            p.message,
            p.leased.url,
        )
        for column, value in zip(columns, row, strict=True):
            column.append(value)
    rows = await conn.execute_query_dict(_PG_RECORD, [*columns, ACTOR])
    return {row["id"] for row in rows}


async def _record_orm(conn: BaseDBAsyncClient, plans: list[Plan]) -> set[Any]:
    await WebhookAttempt.bulk_create(
        [
            WebhookAttempt(
                tenant_id=p.leased.tenant_id,
                delivery_id=p.leased.id,
                attempted_at=p.at,
                status_code=p.result.status_code,
                latency_ms=p.result.latency_ms,
                response_body=p.response,
                error=p.result.error,
            )
            for p in plans
        ],
        using_db=conn,
    )
    applied = set()
    for p in plans:
        changes: dict[str, Any] = {
            "status": p.status,
            "attempt_count": p.attempts,
            "leased_until": None,
            "next_attempt_at": p.next_attempt_at,
            "last_status_code": p.result.status_code,
            "last_error": p.result.error,
        }
        if p.status == DeliveryStatus.DELIVERED:
            changes["delivered_at"] = p.at
        if await mine(p.leased).using_db(conn).update(**changes):
            applied.add(p.leased.id)
    events = [_event(p) for p in plans if p.leased.redemption_id is not None]
    if events:
        await RedemptionEvent.bulk_create(events, using_db=conn)
    return applied


def _event(p: Plan) -> RedemptionEvent:
    return RedemptionEvent(
        tenant_id=p.leased.tenant_id,
        redemption_id=p.leased.redemption_id,
        kind=RedemptionEventKind.WEBHOOK_POSTED,
        message=p.message,
        data={
            "deliveryId": str(p.leased.id),
            "event": p.leased.event,
            "url": p.leased.url,
            "attempt": p.attempts,
            "payload": json.loads(p.leased.body),
            "statusCode": p.result.status_code,
            "response": p.response,
            "error": p.result.error,
        },
        actor=ACTOR,
        created_at=p.at,
    )


async def _change_endpoints(conn: BaseDBAsyncClient, plans: list[Plan]) -> None:
    # One UPDATE per endpoint, the batch's changes merged in order (the later win, as
    # they would one statement after another): a batch failing on one endpoint that just
    # started failing would otherwise write its failing_since once per attempt.
    merged: dict[UUID, dict[str, Any]] = {}
    leased: dict[UUID, Leased] = {}
    for p in plans:
        if p.endpoint_changes:
            merged.setdefault(p.leased.endpoint_id, {}).update(p.endpoint_changes)
            leased[p.leased.endpoint_id] = p.leased
    for endpoint_id, changes in merged.items():
        query = WebhookEndpoint.filter(id=endpoint_id)
        if changes.get("enabled") is False:
            # Disabled once (by this batch, not by an admin or another worker meanwhile):
            # the tenant's other endpoints are told once.
            if await query.filter(enabled=True).using_db(conn).update(**changes):
                endpoints_changed(leased[endpoint_id].tenant_id)
                await _announce_disabled(conn, leased[endpoint_id], changes["disabled_reason"])
            continue
        await query.using_db(conn).update(**changes)


async def _announce_disabled(conn: BaseDBAsyncClient, endpoint: Leased, reason: str) -> None:
    """`endpoint.disabled` to the tenant's other enabled endpoints that want it (this one
    is disabled already, in this transaction)."""
    now = clock.now()
    body = endpoint_disabled(endpoint.endpoint_id, endpoint.url, reason, now)
    await add_deliveries(
        conn,
        endpoint.tenant_id,
        WebhookEvent.ENDPOINT_DISABLED.value,
        lambda _fmt: body,
        now=now,
    )


def mine(leased: Leased) -> QuerySet[WebhookDelivery]:
    """The delivery row while it is PENDING under this attempt's lease (a queryset)."""
    return WebhookDelivery.filter(
        id=leased.id, status=DeliveryStatus.PENDING, leased_until=leased.token
    )


async def give_up(leased: Leased, reason: str) -> bool:
    """DEAD without an attempt (its endpoint was disabled or deleted meanwhile)."""
    return bool(
        await mine(leased).update(status=DeliveryStatus.DEAD, leased_until=None, last_error=reason)
    )
