"""Taking deliveries for one attempt: the lease, and what the attempt needs, in one go.

A lease is the `leased_until` a worker wrote. It is the worker's token: its attempt is
recorded only while the row still holds that exact value, so a worker whose lease ran out
(and whose delivery another worker took) cannot overwrite the newer attempt's record.

On PostgreSQL, one statement leases a whole batch and returns each delivery joined with
its endpoint; SQLite runs the same steps as three statements in one transaction.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.expressions import Q

from core import clock
from models.db.transactions import atomic
from models.webhooks.outbox import due
from models.webhooks.tables import WebhookDelivery, WebhookEndpoint

LEASE = timedelta(seconds=60)  # default; deployments set it above the HTTP timeout


@dataclass(frozen=True, slots=True)
class Leased:
    """One delivery taken for one attempt, with its endpoint as it was when taken."""

    id: UUID
    tenant_id: UUID
    endpoint_id: UUID
    event: str
    redemption_id: UUID | None
    body: bytes  # the payload as stored: the bytes POSTed and signed
    attempt_count: int  # attempts made before this one
    token: datetime  # the leased_until written for this attempt
    url: str
    enabled: bool
    secrets: tuple[str, ...]  # the endpoint secrets that sign now (two during rotation)
    failing_since: datetime | None


def _secrets(row: dict[str, Any], now: datetime) -> tuple[str, ...]:
    until = row["previous_secret_until"]
    if row["previous_secret"] and until is not None and until > now:
        return (row["secret"], row["previous_secret"])
    return (row["secret"],)


def _leased(row: dict[str, Any], token: datetime, now: datetime) -> Leased:
    return Leased(
        id=row["id"],
        tenant_id=row["tenant_id"],
        endpoint_id=row["endpoint_id"],
        event=row["event"],
        redemption_id=row["redemption_id"],
        body=row["body"].encode(),
        attempt_count=row["attempt_count"],
        token=token,
        url=row["url"],
        enabled=bool(row["enabled"]),
        secrets=_secrets(row, now),
        failing_since=row["failing_since"],
    )


_PG_LEASE = f"""
WITH taken AS (
    UPDATE {WebhookDelivery._meta.db_table} SET leased_until = $1
    WHERE id = ANY($2::uuid[]) AND status = 'PENDING' AND next_attempt_at <= $3
      AND (leased_until IS NULL OR leased_until < $3)
    RETURNING id, tenant_id, endpoint_id, event, redemption_id, payload::text AS body,
              attempt_count
)
SELECT taken.*, e.url, e.enabled, e.secret, e.previous_secret, e.previous_secret_until,
       e.failing_since
FROM taken JOIN {WebhookEndpoint._meta.db_table} e ON e.id = taken.endpoint_id
"""


async def lease_many(
    delivery_ids: list[UUID], now: datetime | None = None, duration: timedelta = LEASE
) -> dict[UUID, Leased]:
    """Lease every delivery of `delivery_ids` that is due, PENDING and not leased by
    another worker; the others are left out of the answer."""
    now = now or clock.now()
    token = now + duration
    conn = connections.get("default")
    if conn.capabilities.dialect == "postgres":
        rows = await conn.execute_query_dict(_PG_LEASE, [token, delivery_ids, now])
    else:
        rows = await _lease_sqlite(delivery_ids, token, now)
    return {row["id"]: _leased(row, token, now) for row in rows}


async def _lease_sqlite(
    delivery_ids: list[UUID], token: datetime, now: datetime
) -> list[dict[str, Any]]:
    # One process writes an SQLite file (DESIGN.md), and its transactions are serialised:
    # the token then names exactly the rows this UPDATE took.
    async with atomic() as conn:
        taken = await (
            WebhookDelivery.filter(Q(id__in=delivery_ids) & due(now))
            .using_db(conn)
            .update(leased_until=token)
        )
        if not taken:
            return []
        rows = (
            await WebhookDelivery.filter(id__in=delivery_ids, leased_until=token)
            .using_db(conn)
            .values(
                "id",
                "tenant_id",
                "endpoint_id",
                "event",
                "redemption_id",
                "payload",
                "attempt_count",
            )
        )
        endpoints = {
            row["id"]: row
            for row in await WebhookEndpoint.filter(id__in={r["endpoint_id"] for r in rows})
            .using_db(conn)
            .values(
                "id",
                "url",
                "enabled",
                "secret",
                "previous_secret",
                "previous_secret_until",
                "failing_since",
            )
        }
    joined = []
    for row in rows:
        endpoint = endpoints.get(row["endpoint_id"])
        if endpoint is not None:
            # The stored text is compact JSON; Tortoise hands it back decoded.
            body = json.dumps(row.pop("payload"), separators=(",", ":"))
            joined.append({**endpoint, **row, "body": body})
    return joined
