"""What the admin console's dashboard counts: redemptions by status, webhook health."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from tortoise.functions import Count

from models.redemptions.tables import Redemption, RedemptionStatus
from models.webhooks.tables import DeliveryStatus, WebhookDelivery, WebhookEndpoint


async def redemption_counts(tenant_id: UUID, since: datetime) -> dict[RedemptionStatus, int]:
    """How many of the redemptions made since `since` are in each status now (every
    status is present, 0 when none)."""
    rows = (
        await Redemption.filter(tenant_id=tenant_id, created_at__gte=since)
        .annotate(count=Count("id"))
        .group_by("status")
        .values("status", "count")
    )
    counts = dict.fromkeys(RedemptionStatus, 0)
    for row in rows:
        counts[RedemptionStatus(row["status"])] = row["count"]
    return counts


@dataclass(frozen=True)
class EndpointHealth:
    endpoint: WebhookEndpoint
    delivered: int
    retrying: int  # failed at least once, another attempt is due
    pending: int  # not attempted yet
    dead: int


async def webhook_health(tenant_id: UUID, since: datetime) -> list[EndpointHealth]:
    """Per endpoint of the tenant, its deliveries created since `since` by outcome."""
    endpoints = await WebhookEndpoint.filter(tenant_id=tenant_id).order_by("created_at", "id")
    rows = (
        await WebhookDelivery.filter(tenant_id=tenant_id, created_at__gte=since)
        .annotate(count=Count("id"))
        .group_by("endpoint_id", "status")
        .values("endpoint_id", "status", "count")
    )
    retried = (
        await WebhookDelivery.filter(
            tenant_id=tenant_id,
            created_at__gte=since,
            status=DeliveryStatus.PENDING,
            attempt_count__gt=0,
        )
        .annotate(count=Count("id"))
        .group_by("endpoint_id")
        .values("endpoint_id", "count")
    )
    by_status: dict[tuple[str, DeliveryStatus], int] = defaultdict(int)
    for row in rows:
        by_status[str(row["endpoint_id"]), DeliveryStatus(row["status"])] = row["count"]
    retrying = {str(row["endpoint_id"]): row["count"] for row in retried}
    health = []
    for endpoint in endpoints:
        key = str(endpoint.id)
        waiting = by_status[key, DeliveryStatus.PENDING]
        health.append(
            EndpointHealth(
                endpoint=endpoint,
                delivered=by_status[key, DeliveryStatus.DELIVERED],
                retrying=retrying.get(key, 0),
                # Two reads: a delivery retried between them must not count below zero.
                pending=max(0, waiting - retrying.get(key, 0)),
                dead=by_status[key, DeliveryStatus.DEAD],
            )
        )
    return health
